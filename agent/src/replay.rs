//! Refusing privileged commands that are stale, replayed or meant for another device: the
//! checks every command kind (credential requests, screen session requests) runs before it
//! acts, over ids the console chose at random.

use std::collections::HashMap;
use std::hash::Hash;

use hotline_protocol::DeviceId;

/// What a guard checks and how it names its commands in refusals.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// "credential request", "session request".
    pub(crate) what: &'static str,
    /// Furthest in the future a command may expire, in milliseconds.
    pub(crate) max_lifetime_ms: i64,
    /// Most ids remembered at once; past it new commands are refused until old ones expire,
    /// so a flood cannot grow the agent's memory.
    pub(crate) max_remembered: usize,
}

/// The ids of commands admitted and not yet expired.
// FIXME: kept in memory only, so a command captured before an agent restart could be
// replayed after it until its expiry; persisting the ids needs a durable store with its own
// crash rules.
#[derive(Debug)]
pub(crate) struct ReplayGuard<Id> {
    device: DeviceId,
    rules: Rules,
    seen: HashMap<Id, i64>,
}

impl<Id: Eq + Hash + Copy + std::fmt::Display> ReplayGuard<Id> {
    pub(crate) fn new(device: DeviceId, rules: Rules) -> ReplayGuard<Id> {
        ReplayGuard {
            device,
            rules,
            seen: HashMap::new(),
        }
    }

    /// Admits command `id`, for `device` and expiring at `expires_at_ms`, once, at `now_ms`;
    /// or says why not. An admitted id is remembered until it expires, even when the command
    /// is then refused for another reason, so it can never be used afterwards.
    pub(crate) fn admit(
        &mut self,
        id: Id,
        device: &DeviceId,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), String> {
        if *device != self.device {
            return Err(format!(
                "request is for device {device}, this is {}",
                self.device
            ));
        }
        if expires_at_ms <= now_ms {
            return Err("request expired before it reached the device".to_owned());
        }
        if expires_at_ms > now_ms + self.rules.max_lifetime_ms {
            return Err("request expires too far in the future (clock skew?)".to_owned());
        }
        self.seen.retain(|_, expires| *expires > now_ms);
        if self.seen.contains_key(&id) {
            return Err(format!(
                "{} {id} was already received (replay)",
                self.rules.what
            ));
        }
        if self.seen.len() >= self.rules.max_remembered {
            return Err(format!("too many {}s at once", self.rules.what));
        }
        self.seen.insert(id, expires_at_ms);
        Ok(())
    }
}
