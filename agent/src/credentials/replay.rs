//! Refusing credential commands that are stale, replayed, or meant for another device.

use std::collections::HashMap;

use hotline_protocol::DeviceId;
use hotline_protocol::credentials::{
    CredentialRequest, MAX_REQUEST_LIFETIME_MS as MAX_LIFETIME_MS, RequestId,
};

/// Most ids remembered at once; past it new requests are refused until old ones expire.
const MAX_REMEMBERED: usize = 4096;

/// The ids of requests accepted and not yet expired.
// FIXME: kept in memory only, so a request captured before an agent restart could be
// replayed after it until its expiry (at most five minutes); persisting the ids needs a
// durable store with its own crash rules.
#[derive(Debug)]
pub(crate) struct ReplayGuard {
    device: DeviceId,
    seen: HashMap<RequestId, i64>,
}

impl ReplayGuard {
    pub(crate) fn new(device: DeviceId) -> ReplayGuard {
        ReplayGuard {
            device,
            seen: HashMap::new(),
        }
    }

    /// Accepts `request` once, at `now_ms`, or says why not.
    pub(crate) fn admit(&mut self, request: &CredentialRequest, now_ms: i64) -> Result<(), String> {
        if request.device != self.device {
            return Err(format!(
                "request is for device {}, this is {}",
                request.device, self.device
            ));
        }
        if request.expires_at_ms <= now_ms {
            return Err("request expired before it reached the device".to_owned());
        }
        if request.expires_at_ms > now_ms + MAX_LIFETIME_MS {
            return Err("request expires too far in the future (clock skew?)".to_owned());
        }
        self.seen.retain(|_, expires| *expires > now_ms);
        if self.seen.contains_key(&request.id) {
            return Err(format!(
                "request {} was already received (replay)",
                request.id
            ));
        }
        if self.seen.len() >= MAX_REMEMBERED {
            return Err("too many credential requests at once".to_owned());
        }
        self.seen.insert(request.id, request.expires_at_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use hotline_protocol::credentials::CredentialOperation;

    use super::*;

    fn request(id: u8, device: DeviceId, expires_at_ms: i64) -> CredentialRequest {
        CredentialRequest {
            id: RequestId([id; 16]),
            device,
            expires_at_ms,
            ticket: 1,
            analyst: "sam".into(),
            operation: CredentialOperation::ListAccounts,
        }
    }

    #[test]
    fn replays_stale_and_foreign_requests_are_refused() {
        let device = DeviceId::from_random(1);
        let mut guard = ReplayGuard::new(device.clone());
        let now = 1_000_000;
        assert_eq!(
            guard.admit(&request(1, device.clone(), now + 1000), now),
            Ok(())
        );
        let replay = guard.admit(&request(1, device.clone(), now + 1000), now);
        assert!(replay.unwrap_err().contains("replay"));
        let stale = guard.admit(&request(2, device.clone(), now), now);
        assert!(stale.unwrap_err().contains("expired"));
        let far = guard.admit(&request(3, device, now + MAX_LIFETIME_MS + 1), now);
        assert!(far.unwrap_err().contains("too far"));
        let other = guard.admit(&request(4, DeviceId::from_random(2), now + 1000), now);
        assert!(other.unwrap_err().contains("for device"));
    }
}
