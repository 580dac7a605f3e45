//! The input thread of a control session: it owns the platform's [`InputSink`] and applies
//! what the driver forwards, in order. The driver forwards input only while the phase allows
//! it; the thread releases everything held when control stops and when it ends.

use std::sync::mpsc;
use std::thread::JoinHandle;

use hotline_protocol::input::InputEvent;
use tracing::{debug, warn};

use crate::screen::input::{InputSink, Monitor};

/// What the driver tells the input thread.
#[derive(Debug)]
pub(super) enum InputCommand {
    Events(Vec<InputEvent>),
    /// Control stopped (view only): let go of every key and button.
    ReleaseAll,
    SetMonitor(Monitor),
}

/// The running input thread. Dropping the handle without [`InputThread::stop`] still stops
/// the thread (its channel closes) and it still releases what it holds.
#[derive(Debug)]
pub(super) struct InputThread {
    commands: Option<mpsc::Sender<InputCommand>>,
    thread: Option<JoinHandle<()>>,
}

impl InputThread {
    pub(super) fn start(mut sink: Box<dyn InputSink>) -> std::io::Result<InputThread> {
        let (commands, received) = mpsc::channel::<InputCommand>();
        let thread = std::thread::Builder::new()
            .name("session-input".into())
            .spawn(move || {
                for command in received {
                    apply(sink.as_mut(), command);
                }
                release(sink.as_mut());
            })?;
        Ok(InputThread {
            commands: Some(commands),
            thread: Some(thread),
        })
    }

    pub(super) fn send(&self, command: InputCommand) {
        if let Some(commands) = &self.commands
            && commands.send(command).is_err()
        {
            warn!("the input thread is gone; input dropped");
        }
    }

    /// Stops the thread after what was already sent, releasing what it holds, and waits for
    /// it. Blocks: call it from a blocking context.
    pub(super) fn stop(mut self) {
        self.commands = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the session's input thread panicked");
        }
    }
}

fn apply(sink: &mut dyn InputSink, command: InputCommand) {
    match command {
        InputCommand::Events(events) => {
            for event in &events {
                // One bad event (a key this desktop has no keycode for) is dropped; the rest
                // of the batch still applies, as it would from a local keyboard.
                if let Err(error) = sink.apply(event) {
                    debug!(%error, "input event not applied");
                }
            }
        }
        InputCommand::ReleaseAll => release(sink),
        InputCommand::SetMonitor(monitor) => sink.set_monitor(monitor),
    }
}

fn release(sink: &mut dyn InputSink) {
    if let Err(error) = sink.release_all() {
        warn!(%error, "releasing held keys and buttons");
    }
}
