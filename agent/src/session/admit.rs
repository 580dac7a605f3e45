//! Refusing session requests that are stale, replayed or meant for another device, before
//! anything is shown to the caller.

use std::collections::HashMap;

use hotline_protocol::DeviceId;
use hotline_protocol::remote::{MAX_REQUEST_LIFETIME_MS, SessionId, SessionRequest};

/// Most request ids remembered at once; past it new requests are refused until old ones
/// expire, so a flood of requests cannot grow the agent's memory.
const MAX_REMEMBERED: usize = 1024;

/// The ids of session requests received and not yet expired.
// FIXME: kept in memory only, so a request captured before an agent restart could be
// replayed after it until its expiry (at most ten minutes); it would still need the caller's
// Allow, but persisting the ids needs a durable store with its own crash rules.
#[derive(Debug)]
pub(crate) struct RequestGuard {
    device: DeviceId,
    seen: HashMap<SessionId, i64>,
}

impl RequestGuard {
    pub(crate) fn new(device: DeviceId) -> RequestGuard {
        RequestGuard {
            device,
            seen: HashMap::new(),
        }
    }

    /// Accepts `request` once, at `now_ms`, or says why not. A request is remembered even
    /// when it is later refused for another reason (a session already running), so its id
    /// can never start a session afterwards.
    pub(crate) fn admit(&mut self, request: &SessionRequest, now_ms: i64) -> Result<(), String> {
        if request.device != self.device {
            return Err(format!(
                "request is for device {}, this is {}",
                request.device, self.device
            ));
        }
        if request.expires_at_ms <= now_ms {
            return Err("request expired before it reached the device".to_owned());
        }
        if request.expires_at_ms > now_ms + MAX_REQUEST_LIFETIME_MS {
            return Err("request expires too far in the future (clock skew?)".to_owned());
        }
        self.seen.retain(|_, expires| *expires > now_ms);
        if self.seen.contains_key(&request.id) {
            return Err(format!(
                "session request {} was already received (replay)",
                request.id
            ));
        }
        if self.seen.len() >= MAX_REMEMBERED {
            return Err("too many session requests at once".to_owned());
        }
        self.seen.insert(request.id, request.expires_at_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use hotline_protocol::remote::{MonitorChoice, SESSION_ID_LEN, SessionMode};

    use super::*;

    fn request(id: u8, device: DeviceId, expires_at_ms: i64) -> SessionRequest {
        SessionRequest {
            id: SessionId([id; SESSION_ID_LEN]),
            device,
            ticket: 7,
            ticket_title: "Printer jams".into(),
            analyst: "Sam".into(),
            mode: SessionMode::View,
            monitor: MonitorChoice::All,
            unattended_allowed: false,
            consent_timeout_ms: 30_000,
            expires_at_ms,
        }
    }

    #[test]
    fn a_fresh_request_for_this_device_is_admitted_once() {
        let device = DeviceId::from_random(1);
        let mut guard = RequestGuard::new(device.clone());
        let now = 1_000_000;
        assert_eq!(
            guard.admit(&request(1, device.clone(), now + 1000), now),
            Ok(())
        );
        let replay = guard.admit(&request(1, device, now + 1000), now + 10);
        assert!(replay.unwrap_err().contains("replay"));
    }

    #[test]
    fn expired_and_far_future_requests_are_refused() {
        let device = DeviceId::from_random(1);
        let mut guard = RequestGuard::new(device.clone());
        let now = 1_000_000;
        let stale = guard.admit(&request(2, device.clone(), now), now);
        assert!(stale.unwrap_err().contains("expired"));
        let far = request(3, device, now + MAX_REQUEST_LIFETIME_MS + 1);
        assert!(guard.admit(&far, now).unwrap_err().contains("too far"));
    }

    #[test]
    fn a_request_for_another_device_is_refused() {
        let mut guard = RequestGuard::new(DeviceId::from_random(1));
        let now = 1_000_000;
        let other = guard.admit(&request(4, DeviceId::from_random(2), now + 1000), now);
        assert!(other.unwrap_err().contains("for device"));
    }

    #[test]
    fn an_id_is_forgotten_only_once_its_request_expired() {
        let device = DeviceId::from_random(1);
        let mut guard = RequestGuard::new(device.clone());
        let now = 1_000_000;
        guard
            .admit(&request(5, device.clone(), now + 1000), now)
            .expect("admitted");
        // Past its expiry the same id is refused as expired, never admitted again.
        let later = guard.admit(&request(5, device, now + 1000), now + 2000);
        assert!(later.unwrap_err().contains("expired"));
    }
}
