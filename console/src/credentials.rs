//! Credential requests to a device: list its local accounts, or reset one. The caller has
//! already been authorised (`authz`); this module builds the request (random id, expiry,
//! bound to the device and ticket), sends it over the device's connection and waits for the
//! answer. The temporary password passes through here in memory only: it is never logged,
//! stored or put in an audit entry.

use std::time::Duration;

use hotline_protocol::DeviceId;
use hotline_protocol::credentials::{
    CredentialOperation, CredentialOutcome, CredentialRequest, REQUEST_ID_LEN, RequestId,
};

use crate::audit::now_ms;
use crate::link::Link;
use crate::tickets::TicketNumber;

/// How long a request stays valid on the device. It covers a consent prompt's wait, with
/// room for the round trip; the agent refuses it after that.
pub const REQUEST_LIFETIME: Duration = Duration::from_secs(120);

/// Why a request got no answer from the device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unanswered {
    #[error("device {0} is not connected")]
    Offline(DeviceId),
    #[error("device {0} did not answer within {1} s")]
    Timeout(DeviceId, u64),
    #[error("the connection to device {0} ended before it answered")]
    Lost(DeviceId),
}

/// Sends `operation` to `device` for `ticket` on behalf of `analyst` and waits for the
/// outcome, at most [`REQUEST_LIFETIME`].
pub async fn ask(
    link: &Link,
    device: &DeviceId,
    ticket: TicketNumber,
    analyst: &str,
    operation: CredentialOperation,
) -> Result<(RequestId, CredentialOutcome), Unanswered> {
    let id = RequestId(rand::random::<[u8; REQUEST_ID_LEN]>());
    let lifetime_ms = i64::try_from(REQUEST_LIFETIME.as_millis()).unwrap_or(i64::MAX);
    let request = CredentialRequest {
        id,
        device: device.clone(),
        expires_at_ms: now_ms().saturating_add(lifetime_ms),
        ticket: u64::try_from(ticket.0).unwrap_or(0),
        analyst: analyst.to_owned(),
        operation,
    };
    let reply = link
        .registry
        .send_credential(device, request)
        .ok_or_else(|| Unanswered::Offline(device.clone()))?;
    match tokio::time::timeout(REQUEST_LIFETIME, reply).await {
        Ok(Ok(reply)) => Ok((id, reply.outcome)),
        Ok(Err(_)) => Err(Unanswered::Lost(device.clone())),
        Err(_) => Err(Unanswered::Timeout(
            device.clone(),
            REQUEST_LIFETIME.as_secs(),
        )),
    }
}
