//! Enrollment: a connection without a client certificate may send one enrollment request;
//! a valid one-time token turns it into a registered device with a fresh certificate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline_protocol::codec::{ENROLL_FRAME_LIMIT, Wire, encode_frame, peek_version};
use hotline_protocol::enroll::{EnrollAccepted, EnrollReply, EnrollRequest, MAX_CSR};
use hotline_protocol::inventory::MAX_HOSTNAME;
use hotline_protocol::messages::{Refusal, truncate};
use hotline_protocol::{CloseCode, DeviceId, PROTOCOL_VERSION};
use sha2::{Digest, Sha256};
use tracing::{debug, info};

use super::Link;
use super::wire::FrameReader;
use crate::store::{DeviceRecord, TokenCheck, unix_now};

/// Failed attempts one address may make in a window before it is refused outright.
const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How long an enrollment connection may take from handshake to request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Counts failed enrollments per source address, so that guessing tokens is slow.
#[derive(Debug, Default)]
pub(super) struct FailureLimiter {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (Instant, u32)>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Seconds until `ip` may try again, when it is blocked now.
    fn blocked_for(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let failures = self.lock();
        let (start, count) = failures.get(&ip)?;
        let ends = *start + FAILURE_WINDOW;
        (*count >= MAX_FAILURES && now < ends).then(|| (ends - now).as_secs().max(1))
    }

    fn fail(&self, ip: IpAddr, now: Instant) {
        let mut failures = self.lock();
        // Forget windows that ended, so the map cannot grow without bound.
        failures.retain(|_, (start, _)| now < *start + FAILURE_WINDOW);
        let entry = failures.entry(ip).or_insert((now, 0));
        entry.1 += 1;
    }
}

/// Serves one enrollment connection.
pub(super) async fn serve(link: Arc<Link>, connection: quinn::Connection) {
    let peer = connection.remote_address();
    if let Some(wait) = link.enroll_limiter.blocked_for(peer.ip(), Instant::now()) {
        let reason =
            format!("too many failed enrollment attempts from this address; retry in {wait} s");
        refuse_connection(&link, &connection, &reason).await;
        return;
    }

    let reply = match tokio::time::timeout(REQUEST_TIMEOUT, exchange(&link, &connection)).await {
        Ok(Ok(())) => return,
        Ok(Err(reason)) => reason,
        Err(_) => "no enrollment request in time".to_owned(),
    };
    link.enroll_limiter.fail(peer.ip(), Instant::now());
    refuse_connection(&link, &connection, &reply).await;
}

async fn refuse_connection(link: &Link, connection: &quinn::Connection, reason: &str) {
    link.record("enroll-refused", None, connection.remote_address(), reason)
        .await;
    connection.close(
        CloseCode::EnrollmentRefused.to_u32().into(),
        reason.as_bytes(),
    );
}

/// Reads the request and answers it. A refusal is sent as a reply (so that the agent can show
/// it) and also returned, so that the caller counts and records it.
async fn exchange(link: &Link, connection: &quinn::Connection) -> Result<(), String> {
    let (mut send, recv) = connection
        .accept_bi()
        .await
        .map_err(|error| format!("no enrollment stream: {error}"))?;
    let mut reader = FrameReader::new(recv, ENROLL_FRAME_LIMIT);
    let payload = match reader.next_frame().await {
        Ok(Some(payload)) => payload,
        Ok(None) => return Err("stream ended without a request".to_owned()),
        Err(error) => return Err(error.to_string()),
    };

    let outcome = decide(link, &payload).await;
    let reply = match &outcome {
        Ok(accepted) => EnrollReply::Accepted(accepted.clone()),
        Err(reason) => EnrollReply::Refused(Refusal::new(CloseCode::EnrollmentRefused, reason)),
    };
    let frame = encode_frame(&reply).map_err(|error| error.to_string())?;
    send.write_all(&frame)
        .await
        .map_err(|error| format!("sending the reply: {error}"))?;
    send.finish().ok();
    let accepted = outcome?;

    info!(device = %accepted.device, "device enrolled");
    // Leave the agent time to read the reply; it closes the connection when it has.
    tokio::time::timeout(REQUEST_TIMEOUT, connection.closed())
        .await
        .ok();
    Ok(())
}

/// Checks the request and, when it is good, issues the certificate and registers the device.
async fn decide(link: &Link, payload: &[u8]) -> Result<EnrollAccepted, String> {
    if let Some(theirs) = peek_version(payload, false)
        && !PROTOCOL_VERSION.is_compatible_with(theirs)
    {
        return Err(format!(
            "agent speaks protocol {theirs}, this console speaks {PROTOCOL_VERSION}"
        ));
    }
    let request = EnrollRequest::decode_payload(payload).map_err(|error| error.to_string())?;
    if request.csr_der.len() > MAX_CSR {
        return Err(format!(
            "certificate request too large: {} > {MAX_CSR} bytes",
            request.csr_der.len()
        ));
    }

    // Check the token before signing anything, so that a guesser costs us no signatures.
    let token = request.token.expose();
    let now = unix_now();
    let check = link
        .store
        .check_token(token, now)
        .await
        .map_err(|error| internal(&error))?;
    if check != TokenCheck::Valid {
        return Err(check.refusal().to_owned());
    }

    let device = DeviceId::from_random(rand::random());
    let certificate = link
        .ca
        .issue_device(&device, &request.csr_der)
        .map_err(|error| format!("{error:#}"))?;
    let hostname = truncate(request.hostname.trim(), MAX_HOSTNAME);
    let record = DeviceRecord {
        id: device.to_string(),
        cert_sha256: hex::encode(Sha256::digest(&certificate)),
        hostname: if hostname.is_empty() {
            "unnamed".to_owned()
        } else {
            hostname.to_owned()
        },
        enrolled_at: now,
        revoked_at: None,
        online: false,
        last_seen: None,
        last_address: None,
        agent_version: None,
        inventory: None,
    };
    match link
        .store
        .enroll_device(token, now, &record)
        .await
        .map_err(|error| internal(&error))?
    {
        TokenCheck::Valid => {}
        other => return Err(other.refusal().to_owned()),
    }
    debug!(%device, "certificate issued");
    Ok(EnrollAccepted {
        device,
        certificate_der: certificate.to_vec(),
        ca_der: link.ca.cert_der().to_vec(),
    })
}

fn internal(error: &anyhow::Error) -> String {
    tracing::warn!(
        error = format!("{error:#}"),
        "enrollment failed on the console"
    );
    "the console could not complete enrollment".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_repeated_failures_and_released_later() {
        let limiter = FailureLimiter::default();
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        let start = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(limiter.blocked_for(ip, start), None);
            limiter.fail(ip, start);
        }
        assert_eq!(limiter.blocked_for(ip, start), Some(60));
        assert_eq!(limiter.blocked_for(ip, start + FAILURE_WINDOW), None);
        let other: IpAddr = "192.0.2.8".parse().expect("ip");
        assert_eq!(limiter.blocked_for(other, start), None);
    }
}
