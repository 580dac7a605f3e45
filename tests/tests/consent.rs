//! End-to-end tests of the caller's side of a remote session (issue 4) on a real Xvfb with
//! openbox, clicked and typed on with xdotool: the consent prompt's answers and its defences
//! against forged and early clicks, the session bar's End and View only, and input injection
//! reaching real X applications.

#[path = "consent/authority.rs"]
mod authority;
#[path = "consent/bar.rs"]
mod bar;
#[path = "consent/common.rs"]
mod common;
#[path = "consent/input.rs"]
mod input;
#[path = "consent/prompt.rs"]
mod prompt;
