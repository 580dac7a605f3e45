//! The input thread of a control session: it owns the platform's [`InputSink`] and applies
//! what the driver forwards, in order. The driver forwards input only while the phase allows
//! it; the thread releases everything held when control stops and when it ends.
//!
//! Input already queued when control stops is dropped, not applied: an analyst who sent a
//! long text, or a flood of batches, must not go on typing on the caller's desktop after End
//! or View only. Text is typed in short runs so a stop lands between two of them, and the
//! queue is bounded, so a flood costs dropped input rather than the agent's memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use hotline_protocol::input::InputEvent;
use tracing::{debug, warn};

use super::frames::Pace;
use crate::screen::input::{InputSink, Monitor};

/// Batches the queue holds; more are dropped until the thread catches up.
const QUEUE: usize = 256;
/// Characters typed between two checks for a stop.
const TEXT_RUN: usize = 8;

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
    commands: Option<mpsc::SyncSender<InputCommand>>,
    /// Set when control stops: queued input is skipped until the release that follows it.
    discarding: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl InputThread {
    /// Starts the thread; after each batch of input it tells `pace`, so the capture that
    /// shows the input's effect comes soon.
    pub(super) fn start(
        mut sink: Box<dyn InputSink>,
        pace: Arc<Pace>,
    ) -> std::io::Result<InputThread> {
        let (commands, received) = mpsc::sync_channel::<InputCommand>(QUEUE);
        let discarding = Arc::new(AtomicBool::new(false));
        let skip = discarding.clone();
        let thread = std::thread::Builder::new()
            .name("session-input".into())
            .spawn(move || {
                for command in received {
                    match command {
                        InputCommand::Events(events) => {
                            apply_events(sink.as_mut(), &events, &skip);
                            pace.input_applied();
                        }
                        InputCommand::ReleaseAll => {
                            release(sink.as_mut());
                            skip.store(false, Ordering::SeqCst);
                        }
                        InputCommand::SetMonitor(monitor) => sink.set_monitor(monitor),
                    }
                }
                release(sink.as_mut());
            })?;
        Ok(InputThread {
            commands: Some(commands),
            discarding,
            thread: Some(thread),
        })
    }

    pub(super) fn send(&self, command: InputCommand) {
        let Some(commands) = &self.commands else {
            return;
        };
        match commands.try_send(command) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => {
                warn!("input arrives faster than the desktop takes it; a batch was dropped");
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {
                warn!("the input thread is gone; input dropped");
            }
        }
    }

    /// Control stopped: input still queued is dropped, and everything held is released.
    pub(super) fn release_all(&self) {
        self.discarding.store(true, Ordering::SeqCst);
        if let Some(commands) = &self.commands
            && commands.send(InputCommand::ReleaseAll).is_err()
        {
            warn!("the input thread is gone; nothing to release");
        }
    }

    /// Stops the thread, dropping input still queued and releasing what it holds, and waits
    /// for it. Blocks: call it from a blocking context.
    pub(super) fn stop(mut self) {
        self.discarding.store(true, Ordering::SeqCst);
        self.commands = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the session's input thread panicked");
        }
    }
}

/// Applies `events` in order until `skip` is set; text goes in runs of [`TEXT_RUN`]
/// characters, each run only if no stop came before it.
fn apply_events(sink: &mut dyn InputSink, events: &[InputEvent], skip: &AtomicBool) {
    for event in events {
        if skip.load(Ordering::SeqCst) {
            return;
        }
        let result = match event {
            InputEvent::TypeText { text } => type_in_runs(sink, text, skip),
            event => sink.apply(event),
        };
        // One bad event (a key this desktop has no keycode for) is dropped; the rest of the
        // batch still applies, as it would from a local keyboard.
        if let Err(error) = result {
            debug!(%error, "input event not applied");
        }
    }
}

fn type_in_runs(
    sink: &mut dyn InputSink,
    text: &str,
    skip: &AtomicBool,
) -> Result<(), crate::screen::input::InputError> {
    let chars: Vec<char> = text.chars().collect();
    for run in chars.chunks(TEXT_RUN) {
        if skip.load(Ordering::SeqCst) {
            return Ok(());
        }
        let text = run.iter().collect();
        sink.apply(&InputEvent::TypeText { text })?;
    }
    Ok(())
}

fn release(sink: &mut dyn InputSink) {
    if let Err(error) = sink.release_all() {
        warn!(%error, "releasing held keys and buttons");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::input::{Held, InputError};

    /// Records what it is given, and raises the stop after `stop_after` events, as an End
    /// arriving mid-text would.
    struct Recorder {
        typed: Vec<InputEvent>,
        stop_after: usize,
        skip: Arc<AtomicBool>,
        held: Held,
    }

    impl InputSink for Recorder {
        fn apply(&mut self, event: &InputEvent) -> Result<(), InputError> {
            self.typed.push(event.clone());
            if self.typed.len() == self.stop_after {
                self.skip.store(true, Ordering::SeqCst);
            }
            Ok(())
        }
        fn release_all(&mut self) -> Result<(), InputError> {
            Ok(())
        }
        fn held(&self) -> &Held {
            &self.held
        }
        fn set_monitor(&mut self, _: Monitor) {}
    }

    #[test]
    fn a_stop_lands_between_two_runs_of_text_and_drops_the_rest() {
        let skip = Arc::new(AtomicBool::new(false));
        let mut sink = Recorder {
            typed: Vec::new(),
            stop_after: 2,
            skip: skip.clone(),
            held: Held::default(),
        };
        let text = "a".repeat(TEXT_RUN * 10);
        let events = [
            InputEvent::TypeText { text },
            InputEvent::TypeText { text: "b".into() },
        ];
        apply_events(&mut sink, &events, &skip);

        let typed: String = sink
            .typed
            .iter()
            .map(|event| match event {
                InputEvent::TypeText { text } => text.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(typed, "a".repeat(TEXT_RUN * 2));
    }
}
