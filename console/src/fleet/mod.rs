//! Device tags and groups. Tags are free labels an admin puts on devices; a group holds each
//! of its devices alone (a device is in at most one) and may carry a maintenance window in
//! UTC, in a named zone or in each device's own zone. Deployments name their devices by tag
//! or group, and a deployment held to group windows installs on each device only inside its
//! group's window.

pub mod changes;
mod names;
pub mod targets;
pub mod window;

pub use names::{GroupName, Tag};
pub use window::{Days, GroupWindow, WindowZone};
