//! Refusing session requests that are stale, replayed or meant for another device, before
//! anything is shown to the caller.

use crate::replay::Rules;
use hotline_protocol::remote::{MAX_REQUEST_LIFETIME_MS, SessionId, SessionRequest};

/// The session requests' replay guard: ids remembered until their request expires.
pub(crate) type RequestGuard = crate::replay::ReplayGuard<SessionId>;

/// The rules session requests are admitted by.
pub(crate) const RULES: Rules = Rules {
    what: "session request",
    max_lifetime_ms: MAX_REQUEST_LIFETIME_MS,
    max_remembered: 1024,
};

/// Admits `request` once, at `now_ms`, or says why not. A request is remembered even when
/// it is later refused for another reason (a session already running), so its id can never
/// start a session afterwards.
pub(crate) fn admit(
    guard: &mut RequestGuard,
    request: &SessionRequest,
    now_ms: i64,
) -> Result<(), String> {
    guard.admit(request.id, &request.device, request.expires_at_ms, now_ms)
}

#[cfg(test)]
mod tests {
    use hotline_protocol::DeviceId;
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
        let mut guard = RequestGuard::new(device.clone(), RULES);
        let now = 1_000_000;
        assert_eq!(
            admit(&mut guard, &request(1, device.clone(), now + 1000), now),
            Ok(())
        );
        let replay = admit(&mut guard, &request(1, device, now + 1000), now + 10);
        assert!(replay.unwrap_err().contains("replay"));
    }

    #[test]
    fn expired_and_far_future_requests_are_refused() {
        let device = DeviceId::from_random(1);
        let mut guard = RequestGuard::new(device.clone(), RULES);
        let now = 1_000_000;
        let stale = admit(&mut guard, &request(2, device.clone(), now), now);
        assert!(stale.unwrap_err().contains("expired"));
        let far = request(3, device, now + MAX_REQUEST_LIFETIME_MS + 1);
        assert!(
            admit(&mut guard, &far, now)
                .unwrap_err()
                .contains("too far")
        );
    }

    #[test]
    fn a_request_for_another_device_is_refused() {
        let mut guard = RequestGuard::new(DeviceId::from_random(1), RULES);
        let now = 1_000_000;
        let other = admit(
            &mut guard,
            &request(4, DeviceId::from_random(2), now + 1000),
            now,
        );
        assert!(other.unwrap_err().contains("for device"));
    }

    #[test]
    fn an_id_is_forgotten_only_once_its_request_expired() {
        let device = DeviceId::from_random(1);
        let mut guard = RequestGuard::new(device.clone(), RULES);
        let now = 1_000_000;
        admit(&mut guard, &request(5, device.clone(), now + 1000), now).expect("admitted");
        // Past its expiry the same id is refused as expired, never admitted again.
        let later = admit(&mut guard, &request(5, device, now + 1000), now + 2000);
        assert!(later.unwrap_err().contains("expired"));
    }
}
