//! End-to-end tests of tickets, analysts and the audit trail (issue 3): real console
//! processes, real SQLite, the JSON API over HTTPS, the CLI, a local webhook receiver
//! and a headless Chromium.

#[path = "tickets/agent_queue.rs"]
mod agent_queue;
#[path = "tickets/browser.rs"]
mod browser;
#[path = "tickets/chain.rs"]
mod chain;
#[path = "tickets/cli.rs"]
mod cli;
#[path = "tickets/roles.rs"]
mod roles;
#[path = "tickets/webhook.rs"]
mod webhook;
