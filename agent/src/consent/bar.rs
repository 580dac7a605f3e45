//! The session bar: while a session runs, a small window on the caller's screen says who is
//! watching for which ticket, and lets the caller end the session or take control back.
//!
//! Each platform shows it through a [`SessionIndicator`]; what it returns is a platform-free
//! [`SessionBar`] handle, two channels and a thread. The caller's choices arrive as
//! [`BarEvent`]s; the session's owner updates the bar when control is dropped and closes it
//! when the session ends (dropping the handle closes it too).

use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::mpsc::UnboundedReceiver;

use super::PromptTarget;

/// What the bar shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarSession {
    pub analyst: String,
    pub ticket_number: u64,
    pub ticket_title: String,
    /// Whether the analyst controls the desktop (the bar then offers "View only").
    pub control: bool,
}

/// What the caller did on the bar, or what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BarEvent {
    /// The caller pressed End: stop the session now.
    End,
    /// The caller pressed View only: stop input and release what is held; frames go on.
    ViewOnly,
    /// The bar is gone from the screen without the owner closing it (the display closed, the
    /// user signed out). A session must not go on unseen, so the owner ends it.
    Lost(String),
}

/// What the owner tells the bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarCommand {
    /// Control was granted (`true`) or dropped (`false`).
    SetControl(bool),
    Close,
}

/// Shows session bars on one kind of desktop.
pub trait SessionIndicator: Send + Sync {
    /// Shows the bar on `target`'s desktop, or says why it cannot.
    fn show(&self, target: &PromptTarget, session: &BarSession) -> Result<SessionBar, BarError>;
}

/// The bar could not be shown; the reason goes to the analyst.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot show the session bar: {0}")]
pub struct BarError(pub String);

/// A bar on screen. Its events arrive on [`SessionBar::events`]; it closes on
/// [`SessionBar::close`] or drop.
#[derive(Debug)]
pub struct SessionBar {
    commands: mpsc::Sender<BarCommand>,
    /// The caller's choices, in order; ends when the bar has closed.
    pub events: UnboundedReceiver<BarEvent>,
    thread: Option<JoinHandle<()>>,
}

impl SessionBar {
    /// Wraps the channels and the thread a platform's bar runs on. The thread must stop soon
    /// after it receives [`BarCommand::Close`] or sees the command channel closed.
    pub fn new(
        commands: mpsc::Sender<BarCommand>,
        events: UnboundedReceiver<BarEvent>,
        thread: JoinHandle<()>,
    ) -> SessionBar {
        SessionBar {
            commands,
            events,
            thread: Some(thread),
        }
    }

    /// Shows whether the analyst has control; `false` hides "View only".
    pub fn set_control(&self, control: bool) {
        // A bar that already closed has sent `Lost` or was closed by us; nothing to update.
        self.commands.send(BarCommand::SetControl(control)).ok();
    }

    /// Takes the bar off the screen and waits until it is gone.
    pub fn close(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.commands.send(BarCommand::Close).ok();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the session bar's thread panicked");
        }
    }
}

impl Drop for SessionBar {
    fn drop(&mut self) {
        self.shut();
    }
}
