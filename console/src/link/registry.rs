//! The devices connected right now, and the heartbeats not yet written to the database.

use std::collections::HashMap;
use std::sync::Mutex;

use hotline_protocol::credentials::{CredentialReply, CredentialRequest};
use hotline_protocol::messages::ConsoleMessage;
use hotline_protocol::{CloseCode, DeviceId};
use tokio::sync::{mpsc, oneshot};

/// What the console hands a device's connection to send.
#[derive(Debug)]
pub(crate) enum Command {
    /// A credential request, and where its reply goes.
    Credential(CredentialRequest, oneshot::Sender<CredentialReply>),
    /// A message that needs no reply on this path (remote session control).
    Message(ConsoleMessage),
}

/// Most commands queued for one connection before more are refused as busy. A control
/// session's input arrives in batches the browser coalesces, so a queue this deep only fills
/// when the device stopped reading.
pub(crate) const COMMAND_QUEUE: usize = 64;

struct Entry {
    connection: quinn::Connection,
    /// Requests for the connection's session loop to send.
    commands: mpsc::Sender<Command>,
    /// Time of the last heartbeat not yet flushed to the database.
    unflushed_seen: Option<i64>,
}

/// Connected devices by id. One lock around a map is enough here: every operation is a
/// short map access and none awaits while holding it.
#[derive(Default)]
pub struct Registry {
    devices: Mutex<HashMap<DeviceId, Entry>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("connected", &self.len())
            .finish()
    }
}

fn close(connection: &quinn::Connection, code: CloseCode, reason: &str) {
    connection.close(code.to_u32().into(), reason.as_bytes());
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceId, Entry>> {
        // A panic while holding the lock leaves a map that is still consistent: every
        // operation on it is a single insert, remove or field write.
        self.devices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new connection for `device`. Returns `true` when it replaced a live one:
    /// the older connection is closed, since either the device reconnected before its old
    /// connection timed out, or its certificate is in use on a second machine.
    pub(crate) fn register(
        &self,
        device: DeviceId,
        connection: quinn::Connection,
        commands: mpsc::Sender<Command>,
    ) -> bool {
        let entry = Entry {
            connection,
            commands,
            unflushed_seen: None,
        };
        match self.lock().insert(device, entry) {
            Some(old) => {
                close(
                    &old.connection,
                    CloseCode::Replaced,
                    "a newer connection with this device's certificate replaced this one",
                );
                true
            }
            None => false,
        }
    }

    /// Removes `device` if `connection_id` is still its connection. Returns whether it was.
    pub fn unregister(&self, device: &DeviceId, connection_id: usize) -> bool {
        let mut devices = self.lock();
        match devices.get(device) {
            Some(entry) if entry.connection.stable_id() == connection_id => {
                devices.remove(device);
                true
            }
            _ => false,
        }
    }

    pub fn seen(&self, device: &DeviceId, at: i64) {
        if let Some(entry) = self.lock().get_mut(device) {
            entry.unflushed_seen = Some(at);
        }
    }

    /// Takes the heartbeats seen since the last call, for one batched database write.
    pub fn take_seen(&self) -> Vec<(DeviceId, i64)> {
        self.lock()
            .iter_mut()
            .filter_map(|(device, entry)| {
                entry.unflushed_seen.take().map(|at| (device.clone(), at))
            })
            .collect()
    }

    /// Closes `device`'s connection, if it has one.
    pub fn disconnect(&self, device: &DeviceId, code: CloseCode, reason: &str) -> bool {
        match self.lock().get(device) {
            Some(entry) => {
                close(&entry.connection, code, reason);
                true
            }
            None => false,
        }
    }

    /// Queues `request` on `device`'s connection. Returns where the reply will arrive, or
    /// `None` when the device is not connected or its queue is full.
    pub fn send_credential(
        &self,
        device: &DeviceId,
        request: CredentialRequest,
    ) -> Option<oneshot::Receiver<CredentialReply>> {
        let (reply_to, reply) = oneshot::channel();
        let devices = self.lock();
        let entry = devices.get(device)?;
        entry
            .commands
            .try_send(Command::Credential(request, reply_to))
            .ok()?;
        Some(reply)
    }

    /// Queues `message` on `device`'s connection. Returns `false` when the device is not
    /// connected or its queue is full.
    pub fn send(&self, device: &DeviceId, message: ConsoleMessage) -> bool {
        let devices = self.lock();
        devices
            .get(device)
            .is_some_and(|entry| entry.commands.try_send(Command::Message(message)).is_ok())
    }

    /// The device's live connection, for opening a deployment stream on it.
    pub fn connection(&self, device: &DeviceId) -> Option<quinn::Connection> {
        self.lock()
            .get(device)
            .map(|entry| entry.connection.clone())
    }

    pub fn is_connected(&self, device: &DeviceId) -> bool {
        self.lock().contains_key(device)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}
