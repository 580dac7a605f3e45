//! One enrolled device's connection: identify it by its certificate, then run the protocol's
//! device session over the control stream until either side ends it, storing the audit
//! entries the device forwards.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use hotline_protocol::audit::AgentAuditEntry;
use hotline_protocol::codec::{CONTROL_FRAME_LIMIT, encode_frame};
use hotline_protocol::credentials::{CredentialReply, RequestId};
use hotline_protocol::messages::{ConsoleMessage, Hello};
use hotline_protocol::session::console::{ConsoleOutput, DeviceSession};
use hotline_protocol::{CloseCode, DeviceId};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::Link;
use super::registry::{COMMAND_QUEUE, Command};
use super::wire::FrameReader;
use crate::store::{Ingested, Presence, unix_now};

fn close(connection: &quinn::Connection, code: CloseCode, reason: &str) {
    connection.close(code.to_u32().into(), reason.as_bytes());
}

/// Serves one device connection to its end.
pub(super) async fn serve(
    link: Arc<Link>,
    connection: quinn::Connection,
    certificate: CertificateDer<'static>,
) {
    let peer = connection.remote_address();
    let Some(device) = identify(&link, &connection, &certificate).await else {
        return;
    };
    tracing::Span::current().record("device", device.as_str());

    let (commands, queued) = mpsc::channel(COMMAND_QUEUE);
    if link
        .registry
        .register(device.clone(), connection.clone(), commands)
    {
        warn!("second connection with one certificate: the older one was closed (possible clone)");
        link.record(
            "possible-clone",
            Some(&device),
            peer,
            "a second connection used this device's certificate",
        )
        .await;
    }
    let frames = tokio::spawn(super::frames::accept(
        link.clone(),
        connection.clone(),
        device.clone(),
    ));
    let end = run_session(&link, &connection, &device, queued).await;
    frames.abort();
    if let Some((code, reason)) = &end {
        close(&connection, *code, reason);
        if *code != CloseCode::Normal {
            link.record("closed", Some(&device), peer, &format!("{code}: {reason}"))
                .await;
        }
    }

    // Only the connection that still owns the registry slot may mark the device offline; a
    // replaced one must not undo its successor's online state.
    if link.registry.unregister(&device, connection.stable_id()) {
        if let Err(error) = link.store.set_offline(&device, unix_now()).await {
            warn!(
                error = format!("{error:#}"),
                "could not mark the device offline"
            );
        }
        info!(reason = ?end.map(|(_, reason)| reason), "device offline");
    }
}

/// Maps the certificate to an enrolled, unrevoked device, or closes the connection saying why.
async fn identify(
    link: &Link,
    connection: &quinn::Connection,
    certificate: &[u8],
) -> Option<DeviceId> {
    let peer = connection.remote_address();
    let fingerprint = hex::encode(Sha256::digest(certificate));
    let mut known = None;
    let (code, reason) = match link.store.device_by_certificate(&fingerprint).await {
        Ok(Some(record)) if record.revoked_at.is_none() => match record.id.parse::<DeviceId>() {
            Ok(device) => return Some(device),
            Err(error) => (
                CloseCode::Internal,
                format!("stored device id is invalid: {error}"),
            ),
        },
        Ok(Some(record)) => {
            known = record.id.parse::<DeviceId>().ok();
            (
                CloseCode::Revoked,
                format!("device {} is revoked", record.id),
            )
        }
        Ok(None) => (
            CloseCode::UnknownDevice,
            "certificate does not belong to an enrolled device".to_owned(),
        ),
        Err(error) => {
            warn!(error = format!("{error:#}"), "device lookup failed");
            (
                CloseCode::Internal,
                "console could not look up the device".to_owned(),
            )
        }
    };
    close(connection, code, &reason);
    link.record(
        "refused",
        known.as_ref(),
        peer,
        &format!("{code}: {reason}"),
    )
    .await;
    None
}

/// Runs the control stream. Returns the close code and reason when the console should close
/// the connection, or `None` when the peer already did.
async fn run_session(
    link: &Link,
    connection: &quinn::Connection,
    device: &DeviceId,
    mut queued: mpsc::Receiver<Command>,
) -> Option<(CloseCode, String)> {
    let accepted = tokio::time::timeout(link.policy.hello_timeout, connection.accept_bi()).await;
    let (mut send, recv) = match accepted {
        Ok(Ok(streams)) => streams,
        Ok(Err(error)) => {
            debug!(%error, "connection ended before its control stream opened");
            return None;
        }
        Err(_) => return Some((CloseCode::Timeout, "no control stream opened".to_owned())),
    };
    let mut reader = FrameReader::new(recv, CONTROL_FRAME_LIMIT);
    let mut session = DeviceSession::new(device.clone(), link.policy.clone(), Instant::now());
    // Credential requests sent and not yet answered, by id. A request whose waiter gave up
    // stays until its reply arrives or the connection ends; the waiter's timeout bounds it.
    let mut pending: HashMap<RequestId, oneshot::Sender<CredentialReply>> = HashMap::new();

    loop {
        let deadline = session.next_deadline().unwrap_or_else(Instant::now);
        let outputs = tokio::select! {
            frame = reader.next_frame() => match frame {
                Ok(Some(payload)) => session.on_frame(&payload, Instant::now()),
                Ok(None) => return Some((CloseCode::Normal, "agent finished its control stream".to_owned())),
                Err(super::wire::ReadFrameError::Frame(error)) => {
                    return Some((CloseCode::ProtocolViolation, error.to_string()));
                }
                Err(super::wire::ReadFrameError::Stream(error)) => {
                    debug!(%error, "control stream ended");
                    return None;
                }
            },
            () = tokio::time::sleep_until(deadline.into()) => session.poll(Instant::now()),
            Some(command) = queued.recv(), if session.is_established() => match command {
                Command::Credential(request, reply_to) => {
                    pending.retain(|_, waiter| !waiter.is_closed());
                    pending.insert(request.id, reply_to);
                    vec![ConsoleOutput::Send(ConsoleMessage::Credential(Box::new(request)))]
                }
                Command::Message(message) => vec![ConsoleOutput::Send(message)],
            },
        };

        for output in outputs {
            match output {
                ConsoleOutput::Send(message) => {
                    let written = match encode_frame(&message) {
                        Ok(frame) => send
                            .write_all(&frame)
                            .await
                            .map_err(|error| error.to_string()),
                        Err(error) => Err(error.to_string()),
                    };
                    if let Err(error) = written {
                        debug!(error, "could not send to the device");
                        return None;
                    }
                }
                ConsoleOutput::Established(hello) => {
                    on_hello(link, connection, device, &hello).await
                }
                ConsoleOutput::Seen => link.registry.seen(device, unix_now()),
                ConsoleOutput::Audit(entry) => {
                    let ack = match ingest(link, connection, device, &entry).await {
                        Ok(ack) => ack,
                        Err(end) => return Some(end),
                    };
                    let frame = encode_frame(&ack).map_err(|error| error.to_string());
                    let written = match frame {
                        Ok(frame) => send.write_all(&frame).await.map_err(|e| e.to_string()),
                        Err(error) => Err(error),
                    };
                    if let Err(error) = written {
                        debug!(error, "could not acknowledge an audit entry");
                        return None;
                    }
                }
                ConsoleOutput::Credential(reply) => match pending.remove(&reply.id) {
                    Some(waiter) => {
                        waiter.send(*reply).ok();
                    }
                    None => debug!(id = %reply.id, "credential reply nobody waits for; dropped"),
                },
                ConsoleOutput::Session(report) => link.sessions.on_report(device, *report).await,
                ConsoleOutput::Close { code, reason } => return Some((code, reason)),
            }
        }
    }
}

/// Stores one forwarded audit entry and returns the ack to send once it is committed, or the
/// close: a refused entry is a protocol violation, recorded as a link event; a failed store
/// closes without an ack, so the device keeps the entry and sends it again.
async fn ingest(
    link: &Link,
    connection: &quinn::Connection,
    device: &DeviceId,
    entry: &AgentAuditEntry,
) -> Result<ConsoleMessage, (CloseCode, String)> {
    match link.store.ingest_agent_audit(device, entry).await {
        Ok(Ingested::Stored { console_seq }) => {
            debug!(seq = entry.seq, console_seq, action = %entry.action, "stored an audit entry");
            Ok(ConsoleMessage::AuditAck { up_to: entry.seq })
        }
        Ok(Ingested::Duplicate) => {
            debug!(
                seq = entry.seq,
                "audit entry already stored; acknowledging again"
            );
            Ok(ConsoleMessage::AuditAck { up_to: entry.seq })
        }
        Ok(Ingested::Refused(reason)) => {
            let peer = connection.remote_address();
            link.record("audit-refused", Some(device), peer, &reason)
                .await;
            Err((CloseCode::ProtocolViolation, reason))
        }
        Err(error) => {
            warn!(
                error = format!("{error:#}"),
                "could not store an audit entry"
            );
            Err((
                CloseCode::Internal,
                "console could not store an audit entry".to_owned(),
            ))
        }
    }
}

async fn on_hello(link: &Link, connection: &quinn::Connection, device: &DeviceId, hello: &Hello) {
    let inventory_json = serde_json::to_string(&hello.inventory).unwrap_or_default();
    let address = connection.remote_address().to_string();
    let presence = Presence {
        device,
        hostname: &hello.inventory.hostname,
        address: &address,
        agent_version: &hello.agent_version,
        inventory_json: &inventory_json,
        now: unix_now(),
    };
    match link.store.set_online(&presence).await {
        Ok(()) => info!(agent_version = %hello.agent_version, "device online"),
        Err(error) => warn!(
            error = format!("{error:#}"),
            "could not record the device online"
        ),
    }
}
