//! Refusing credential commands that are stale, replayed, or meant for another device.

use hotline_protocol::credentials::{
    CredentialRequest, MAX_REQUEST_LIFETIME_MS as MAX_LIFETIME_MS, RequestId,
};

use crate::replay::Rules;

/// The credential requests' replay guard: ids remembered until their request expires.
pub(crate) type ReplayGuard = crate::replay::ReplayGuard<RequestId>;

/// The rules credential requests are admitted by.
pub(crate) const RULES: Rules = Rules {
    what: "credential request",
    max_lifetime_ms: MAX_LIFETIME_MS,
    max_remembered: 4096,
};

/// Admits `request` once, at `now_ms`, or says why not.
pub(crate) fn admit(
    guard: &mut ReplayGuard,
    request: &CredentialRequest,
    now_ms: i64,
) -> Result<(), String> {
    guard.admit(request.id, &request.device, request.expires_at_ms, now_ms)
}

#[cfg(test)]
mod tests {
    use hotline_protocol::DeviceId;
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
        let mut guard = ReplayGuard::new(device.clone(), RULES);
        let now = 1_000_000;
        assert_eq!(
            admit(&mut guard, &request(1, device.clone(), now + 1000), now),
            Ok(())
        );
        let replay = admit(&mut guard, &request(1, device.clone(), now + 1000), now);
        assert!(replay.unwrap_err().contains("replay"));
        let stale = admit(&mut guard, &request(2, device.clone(), now), now);
        assert!(stale.unwrap_err().contains("expired"));
        let far = admit(
            &mut guard,
            &request(3, device, now + MAX_LIFETIME_MS + 1),
            now,
        );
        assert!(far.unwrap_err().contains("too far"));
        let other = admit(
            &mut guard,
            &request(4, DeviceId::from_random(2), now + 1000),
            now,
        );
        assert!(other.unwrap_err().contains("for device"));
    }
}
