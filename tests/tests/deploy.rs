//! End-to-end tests of deployments with a real console and real agent processes on
//! loopback: results on the ticket, resuming a cut transfer, maintenance windows, the canary
//! gate, a console restarted mid-deployment, targets named by tag or group with each
//! group's window in its zone, the web console's deployment pages, and publishing over the
//! HTTPS API.

#[path = "deploy/api.rs"]
mod api;
#[path = "deploy/delta.rs"]
mod delta;
#[path = "deploy/fixture.rs"]
mod fixture;
#[path = "deploy/fleet.rs"]
mod fleet;
#[path = "deploy/printer.rs"]
mod printer;
#[path = "deploy/publish.rs"]
mod publish;
#[path = "deploy/replay.rs"]
mod replay;
#[path = "deploy/rollout.rs"]
mod rollout;
#[path = "deploy/web.rs"]
mod web;
