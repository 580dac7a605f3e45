//! The connection to the console: connect with mutual TLS, run the protocol's agent session
//! over the control stream, forward the audit log, and reconnect after any loss with jittered
//! exponential backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hotline_protocol::codec::{CONTROL_FRAME_LIMIT, encode_frame};
use hotline_protocol::credentials::{CredentialOutcome, CredentialReply, CredentialRequest};
use hotline_protocol::messages::{AgentMessage, Capabilities, Hello};
use hotline_protocol::remote::{ConsentOutcome, SessionControl, SessionId, SessionReport};
use hotline_protocol::session::agent::{AgentOutput, AgentSession};
use hotline_protocol::session::backoff::Backoff;
use hotline_protocol::{CloseCode, PROTOCOL_VERSION};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::audit::Audit;
use crate::audit::forward::{Forwarder, RefusalRecorder};
use crate::credentials::Credentials;
use crate::enroll::{client_endpoint, resolve};
use crate::inventory::InventorySource;
use crate::session::{FrameStream, SessionLink, Sessions};
use crate::state::AgentState;
use crate::tls::{CONSOLE_SERVER_NAME, Timing, device_client};
use crate::wire::{FrameReader, ReadFrameError};

/// Reconnect timing.
#[derive(Debug, Clone, Copy)]
pub struct LinkOptions {
    pub timing: Timing,
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// How long the console may take to welcome a hello.
    pub welcome_timeout: Duration,
}

impl Default for LinkOptions {
    fn default() -> LinkOptions {
        LinkOptions {
            timing: Timing::default(),
            first_retry: Duration::from_millis(500),
            max_retry: Duration::from_secs(30),
            welcome_timeout: Duration::from_secs(10),
        }
    }
}

/// How one connection ended.
#[derive(Debug)]
enum Ended {
    /// We were asked to stop.
    Shutdown,
    /// The connection was lost or refused; `established` says whether the console had
    /// welcomed us first.
    Lost {
        established: bool,
        code: Option<CloseCode>,
        reason: String,
    },
}

/// What the link reports to, and shares with, its host process.
#[derive(Default)]
pub struct LinkHooks {
    /// A UDP endpoint to share with other links (a benchmark holding thousands of simulated
    /// devices); by default each link opens its own.
    pub endpoint: Option<quinn::Endpoint>,
    /// Told `true` when the console welcomes the device and `false` when the connection ends.
    pub connected: Option<watch::Sender<bool>>,
    /// The audit log to forward to the console, and to record link refusals in.
    pub audit: Option<Arc<Audit>>,
    /// Answers credential requests; without it every one is refused.
    pub credentials: Option<Arc<Credentials>>,
    /// Runs screen sessions; without it every request is refused.
    pub sessions: Option<Arc<Sessions>>,
    /// Where deployments install; without it, deployment streams are not accepted.
    pub deploy: Option<Arc<crate::deploy::DeployOptions>>,
    /// Receives deployment streams as the console opens them instead of installing from
    /// them, for a benchmark of the console's transfers that plays the device's part; when
    /// set, `deploy` is not used.
    pub deploy_streams: Option<tokio::sync::mpsc::UnboundedSender<DeployStream>>,
}

/// A deployment stream as the console opened it.
pub type DeployStream = (quinn::SendStream, quinn::RecvStream);

/// What a connection does with the deployment streams the console opens.
#[derive(Clone)]
enum Deployments {
    Install(Arc<crate::deploy::DeployOptions>, Option<Arc<Audit>>),
    HandOver(tokio::sync::mpsc::UnboundedSender<DeployStream>),
}

impl std::fmt::Debug for LinkHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkHooks").finish_non_exhaustive()
    }
}

/// Keeps the device connected until `shutdown` turns true.
pub async fn run(
    state: &AgentState,
    inventory: &dyn InventorySource,
    options: LinkOptions,
    hooks: LinkHooks,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let config = device_client(state, options.timing)?;
    let mut backoff = Backoff::new(options.first_retry, options.max_retry);
    let shared = hooks.endpoint.is_some();
    let deploy = deployments(&hooks);
    let mut endpoint = hooks.endpoint;
    let audit = hooks.audit.as_deref();
    let mut refusals = RefusalRecorder::default();
    let report = |connected: bool| {
        if let Some(sender) = &hooks.connected {
            sender.send_replace(connected);
        }
    };

    loop {
        let attempt = connect_once(
            state,
            &config,
            &mut endpoint,
            (inventory, options),
            (
                &report,
                audit,
                hooks.credentials.as_ref(),
                hooks.sessions.as_ref(),
            ),
            deploy.clone(),
            &mut shutdown,
        );
        let ended = match attempt.await {
            Ok(ended) => ended,
            Err(error) => {
                let reason = format!("{error:#}");
                // A console whose certificate does not chain to the pinned CA may be an
                // impostor: that is worth a line in the audit log, not only in the log file.
                if reason.contains("certificate") {
                    refusals.record(audit, &state.console, &reason);
                }
                Ended::Lost {
                    established: false,
                    code: None,
                    reason,
                }
            }
        };
        match ended {
            Ended::Shutdown => break,
            Ended::Lost {
                established,
                code,
                reason,
            } => {
                // After a working connection, or a console that said it is restarting, start
                // the backoff over so that the device is back as soon as the console is.
                if established || code == Some(CloseCode::ConsoleShutdown) {
                    backoff.reset();
                }
                if established {
                    refusals.clear();
                }
                match code {
                    Some(code) if code.is_fatal_for_agent() => {
                        refusals.record(audit, &state.console, &format!("{code}: {reason}"));
                        error!(%code, reason, "console refused this device")
                    }
                    _ => warn!(reason, "connection to the console lost"),
                }
            }
        }
        report(false);
        let delay = backoff.next_delay(rand::random());
        info!(delay_ms = delay.as_millis(), "reconnecting");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => break,
        }
    }

    report(false);
    if let Some(endpoint) = endpoint.filter(|_| !shared) {
        endpoint.close(CloseCode::Normal.to_u32().into(), b"agent stopping");
        tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle())
            .await
            .ok();
    }
    Ok(())
}

fn deployments(hooks: &LinkHooks) -> Option<Deployments> {
    if let Some(streams) = &hooks.deploy_streams {
        return Some(Deployments::HandOver(streams.clone()));
    }
    let options = hooks.deploy.clone()?;
    Some(Deployments::Install(options, hooks.audit.clone()))
}

/// What one connection shares with the link: the connected reporter, the audit log, the
/// credential service and the screen sessions.
type Shared<'a> = (
    &'a (dyn Fn(bool) + Sync),
    Option<&'a Audit>,
    Option<&'a Arc<Credentials>>,
    Option<&'a Arc<Sessions>>,
);

/// One connection from dial to end.
async fn connect_once(
    state: &AgentState,
    config: &quinn::ClientConfig,
    endpoint: &mut Option<quinn::Endpoint>,
    (inventory, options): (&dyn InventorySource, LinkOptions),
    (report, audit, credentials, sessions): Shared<'_>,
    deploy: Option<Deployments>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Ended> {
    // Resolve on every attempt: the console may have moved.
    let address = resolve(&state.console).await?;
    let endpoint = match endpoint {
        Some(endpoint) => endpoint,
        None => endpoint.insert(client_endpoint(address)?),
    };
    let connecting = endpoint
        .connect_with(config.clone(), address, CONSOLE_SERVER_NAME)
        .context("starting the connection")?;
    let connection = tokio::select! {
        connection = connecting => connection.with_context(|| format!("connecting to {address}"))?,
        _ = shutdown.changed() => return Ok(Ended::Shutdown),
    };
    debug!(%address, "connected");

    let (mut send, recv) = connection
        .open_bi()
        .await
        .context("opening the control stream")?;
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        device: state.device.clone(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        capabilities: capabilities(credentials.is_some(), sessions.is_some()),
        inventory: inventory.collect(),
    };
    let (mut session, first) = AgentSession::start(hello, Instant::now(), options.welcome_timeout);
    send.write_all(&encode_frame(&first)?)
        .await
        .context("sending the hello")?;
    let mut reader = FrameReader::new(recv, CONTROL_FRAME_LIMIT);
    let mut established = false;
    let mut forwarder = audit.map(Forwarder::new);
    // Credential requests run on blocking threads (system tools, a consent prompt that
    // waits for a person); their replies come back here to be sent in order with the rest.
    let (replies, mut replied) = tokio::sync::mpsc::channel::<CredentialReply>(16);
    // A screen session's driver reports the same way; its control messages go to it through
    // `active`, whose sender dropping with this connection ends the session.
    let (session_reports, mut reported) = tokio::sync::mpsc::channel::<SessionReport>(16);
    let mut active: Option<ActiveSession> = None;

    loop {
        let deadline = session.next_deadline().unwrap_or_else(Instant::now);
        let appended = async {
            match forwarder.as_mut() {
                Some(forwarder) if established => forwarder.appended.changed().await.ok(),
                _ => std::future::pending().await,
            }
        };
        let mut outputs = tokio::select! {
            frame = reader.next_frame() => match frame {
                Ok(Some(payload)) => session.on_frame(&payload, Instant::now()),
                Ok(None) => vec![AgentOutput::Close {
                    code: CloseCode::ProtocolViolation,
                    reason: "console finished the control stream".to_owned(),
                }],
                Err(ReadFrameError::Frame(error)) => vec![AgentOutput::Close {
                    code: CloseCode::ProtocolViolation,
                    reason: error.to_string(),
                }],
                Err(ReadFrameError::Stream(_)) => return Ok(lost(&connection, established)),
            },
            () = tokio::time::sleep_until(deadline.into()) => session.poll(Instant::now()),
            Some(()) = appended => Vec::new(),
            Some(reply) = replied.recv() => {
                vec![AgentOutput::Send(AgentMessage::Credential(Box::new(reply)))]
            }
            Some(report) = reported.recv() => {
                vec![AgentOutput::Send(AgentMessage::Session(Box::new(report)))]
            }
            // Deployment streams the console opens, each served on its own task so a
            // transfer never holds up the control stream.
            Ok(streams) = connection.accept_bi(), if established && deploy.is_some() => {
                match deploy.clone() {
                    Some(Deployments::Install(options, audit)) => {
                        let device = state.device.clone();
                        tokio::spawn(crate::deploy::serve(options, device, audit, streams));
                    }
                    Some(Deployments::HandOver(to)) => {
                        // A receiver that went away takes no more; the console then sees the
                        // stream reset when it is dropped here.
                        to.send(streams).ok();
                    }
                    None => {}
                }
                Vec::new()
            }
            _ = shutdown.changed() => {
                connection.close(CloseCode::Normal.to_u32().into(), b"agent stopping");
                return Ok(Ended::Shutdown);
            }
        };
        // Whatever woke the loop, entries may be ready to go: all unacknowledged ones after
        // a welcome, new ones, or more once an ack makes room. A closed session sends none.
        if let Some(forwarder) = forwarder.as_mut().filter(|_| session.is_established()) {
            for output in &outputs {
                match output {
                    AgentOutput::Established(_) => forwarder.restart(),
                    AgentOutput::AuditAcked(up_to) => forwarder.acknowledge(*up_to)?,
                    _ => {}
                }
            }
            outputs.extend(forwarder.next_batch(&mut session)?);
        }

        for output in outputs {
            match output {
                AgentOutput::Send(message) => {
                    if send.write_all(&encode_frame(&message)?).await.is_err() {
                        return Ok(lost(&connection, established));
                    }
                }
                AgentOutput::Established(welcome) => {
                    established = true;
                    report(true);
                    info!(
                        device = %welcome.device,
                        console_version = %welcome.console_version,
                        heartbeat_ms = welcome.heartbeat_interval_ms,
                        "connected to the console"
                    );
                }
                // Handled with the batch above, before anything was sent.
                AgentOutput::AuditAcked(_) => {}
                AgentOutput::Credential(request) => {
                    start_credential(credentials, *request, replies.clone());
                }
                AgentOutput::Session(control) => {
                    let link = || SessionLink {
                        reports: session_reports.clone(),
                        open_stream: open_stream(&connection),
                    };
                    route_session(sessions, *control, link, &mut active);
                }
                AgentOutput::Close { code, reason } => {
                    connection.close(code.to_u32().into(), reason.as_bytes());
                    return Ok(Ended::Lost {
                        established,
                        code: Some(code),
                        reason,
                    });
                }
            }
        }
    }
}

/// The capabilities this agent announces.
fn capabilities(credentials: bool, sessions: bool) -> Capabilities {
    let mut capabilities = Capabilities::INVENTORY;
    if credentials {
        capabilities = capabilities.union(Capabilities::CREDENTIALS);
    }
    if sessions {
        capabilities = capabilities
            .union(Capabilities::SCREEN)
            .union(Capabilities::INPUT);
    }
    capabilities
}

/// The screen session this connection started, and where its control messages go.
struct ActiveSession {
    id: SessionId,
    controls: tokio::sync::mpsc::UnboundedSender<SessionControl>,
}

/// Hands a session message to its driver: a request starts one (or is refused by
/// [`Sessions::start`]), anything else goes to the running session it names.
fn route_session(
    sessions: Option<&Arc<Sessions>>,
    control: SessionControl,
    link: impl FnOnce() -> SessionLink,
    active: &mut Option<ActiveSession>,
) {
    match control {
        SessionControl::Request(request) => {
            let link = link();
            let Some(sessions) = sessions else {
                let refusal = SessionReport::Answered {
                    id: request.id,
                    outcome: ConsentOutcome::Refused(
                        "this agent does not offer screen sessions".into(),
                    ),
                    monitors: Vec::new(),
                };
                link.reports.try_send(refusal).ok();
                return;
            };
            let id = request.id;
            if let Some(controls) = sessions.start(*request, link, crate::audit::now_ms()) {
                *active = Some(ActiveSession { id, controls });
            }
        }
        other => {
            let id = other.id();
            match active.as_ref().filter(|session| session.id == id) {
                Some(session) => {
                    if session.controls.send(other).is_err() {
                        *active = None;
                    }
                }
                None => debug!(session = %id, "message for no running screen session ignored"),
            }
        }
    }
}

/// Opens a session's frame stream on `connection` when the session starts.
fn open_stream(connection: &quinn::Connection) -> crate::session::OpenStream {
    let connection = connection.clone();
    Box::new(move || {
        Box::pin(async move {
            let stream = connection.open_uni().await.map_err(std::io::Error::other)?;
            Ok(Box::pin(stream) as FrameStream)
        })
    })
}

/// Answers a credential request off the link's task; the reply goes to `replies`, or is
/// dropped with the connection it was meant for.
fn start_credential(
    credentials: Option<&Arc<Credentials>>,
    request: CredentialRequest,
    replies: tokio::sync::mpsc::Sender<CredentialReply>,
) {
    let Some(credentials) = credentials.cloned() else {
        let reply = CredentialReply {
            id: request.id,
            outcome: CredentialOutcome::Refused(
                "this agent does not offer credential resets".to_owned(),
            ),
        };
        replies.try_send(reply).ok();
        return;
    };
    tokio::spawn(async move {
        let handled = tokio::task::spawn_blocking(move || {
            credentials.handle(&request, crate::audit::now_ms())
        });
        match handled.await {
            Ok(reply) => {
                if replies.send(reply).await.is_err() {
                    warn!("connection ended before a credential reply could be sent");
                }
            }
            Err(error) => error!(%error, "credential request handler failed"),
        }
    });
}

/// Describes a connection the console (or the network) ended.
fn lost(connection: &quinn::Connection, established: bool) -> Ended {
    let (code, reason) = match connection.close_reason() {
        Some(quinn::ConnectionError::ApplicationClosed(close)) => {
            let code = u32::try_from(close.error_code.into_inner())
                .ok()
                .and_then(CloseCode::from_u32);
            let reason = String::from_utf8_lossy(&close.reason).into_owned();
            (code, format!("console closed the connection: {reason}"))
        }
        Some(other) => (None, other.to_string()),
        None => (None, "control stream ended".to_owned()),
    };
    Ended::Lost {
        established,
        code,
        reason,
    }
}
