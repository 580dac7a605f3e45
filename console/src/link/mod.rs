//! The agent link: the QUIC endpoint that agents connect to, enrollment of new agents, and
//! one control session per connected device.

mod device;
mod enroll;
mod frames;
mod registry;
pub(crate) mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hotline_protocol::session::console::ConsolePolicy;
use hotline_protocol::{CloseCode, DeviceId};
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::ca::Ca;
use crate::sessions::Sessions;
use crate::store::{LinkEvent, Store, unix_now};

pub use registry::Registry;

/// How long a TLS handshake may take before the console gives up on it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often heartbeats are written to the database.
const FLUSH_INTERVAL: Duration = Duration::from_secs(5);
/// How often the database is polled for revocations made by another process.
const REVOCATION_POLL: Duration = Duration::from_millis(500);

/// Receive buffer asked for on the agent socket. When a whole fleet reconnects at once, a
/// burst of 1200-byte Initial packets overflows the kernel's default buffer (about 200 KiB),
/// and every dropped Initial costs that agent a retransmission timeout. The kernel caps the
/// request at `net.core.rmem_max`.
const RECEIVE_BUFFER: usize = 8 << 20;

/// Binds the UDP socket for agents, with a receive buffer sized for reconnect storms.
pub fn agent_socket(address: SocketAddr) -> Result<std::net::UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .context("creating the UDP socket")?;
    if let Err(error) = socket.set_recv_buffer_size(RECEIVE_BUFFER) {
        warn!(%error, "could not enlarge the UDP receive buffer");
    }
    socket
        .bind(&address.into())
        .with_context(|| format!("binding QUIC to {address}"))?;
    Ok(socket.into())
}

/// What every connection handler shares.
#[derive(Debug)]
pub struct Link {
    pub store: Store,
    pub ca: Ca,
    pub policy: ConsolePolicy,
    pub registry: Registry,
    /// Remote screen sessions running over the devices' connections.
    pub sessions: Sessions,
    pub max_agents: usize,
    enroll_limiter: enroll::FailureLimiter,
}

impl Link {
    pub fn new(store: Store, ca: Ca, policy: ConsolePolicy, max_agents: usize) -> Link {
        Link {
            sessions: Sessions::new(store.clone()),
            store,
            ca,
            policy,
            registry: Registry::default(),
            max_agents,
            enroll_limiter: enroll::FailureLimiter::default(),
        }
    }

    /// Records a refusal or anomaly, with its reason, in the database and the log.
    async fn record(&self, kind: &str, device: Option<&DeviceId>, peer: SocketAddr, detail: &str) {
        debug!(kind, device = device.map(DeviceId::as_str), %peer, detail, "link event");
        let event = LinkEvent {
            at: unix_now(),
            device: device.map(|id| id.to_string()),
            peer: Some(peer.to_string()),
            kind: kind.to_owned(),
            detail: detail.to_owned(),
        };
        if let Err(error) = self.store.record_event(&event).await {
            warn!(
                error = format!("{error:#}"),
                "could not record a link event"
            );
        }
    }
}

/// Accepts connections until `shutdown` fires.
pub async fn accept_loop(
    link: Arc<Link>,
    endpoint: quinn::Endpoint,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => incoming,
            _ = shutdown.changed() => break,
        };
        let Some(incoming) = incoming else { break };
        if link.registry.len() >= link.max_agents {
            // Refuse before the handshake costs anything.
            warn!(peer = %incoming.remote_address(), "agent limit reached; refusing a connection");
            incoming.refuse();
            continue;
        }
        let link = link.clone();
        tokio::spawn(async move {
            let peer = incoming.remote_address();
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, async { incoming.accept()?.await }).await
            {
                Ok(Ok(connection)) => serve_connection(link, connection).await,
                Ok(Err(error)) => debug!(%peer, %error, "handshake failed"),
                Err(_) => debug!(%peer, "handshake timed out"),
            }
        });
    }
}

async fn serve_connection(link: Arc<Link>, connection: quinn::Connection) {
    let peer = connection.remote_address();
    let certificate = connection
        .peer_identity()
        .and_then(|identity| identity.downcast::<Vec<CertificateDer<'static>>>().ok())
        .and_then(|chain| chain.into_iter().next());
    match certificate {
        Some(certificate) => {
            let span = info_span!("device", %peer, device = tracing::field::Empty);
            device::serve(link, connection, certificate)
                .instrument(span)
                .await;
        }
        None => {
            let span = info_span!("enroll", %peer);
            enroll::serve(link, connection).instrument(span).await;
        }
    }
}

/// Writes heartbeats to the database in batches and says the console is alive.
pub async fn flush_loop(link: Arc<Link>, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(FLUSH_INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => break,
        }
        let seen = link.registry.take_seen();
        let result = async {
            link.store.touch_devices(&seen).await?;
            link.store.mark_console_alive(unix_now()).await
        };
        if let Err(error) = result.await {
            warn!(error = format!("{error:#}"), "could not flush heartbeats");
        }
    }
}

/// Disconnects devices revoked by any process, the CLI included, within a poll interval.
pub async fn revocation_loop(link: Arc<Link>, mut shutdown: watch::Receiver<bool>) -> Result<()> {
    // Revocations made before this console started need no action: such devices are
    // refused when they connect.
    let (_, mut last) = link
        .store
        .revocations_since(0)
        .await
        .context("reading revocations")?;
    let mut ticker = tokio::time::interval(REVOCATION_POLL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return Ok(()),
        }
        let (revoked, newest) = match link.store.revocations_since(last).await {
            Ok(found) => found,
            Err(error) => {
                warn!(error = format!("{error:#}"), "could not poll revocations");
                continue;
            }
        };
        last = newest;
        for device in revoked {
            if link.registry.disconnect(
                &device,
                CloseCode::Revoked,
                "device revoked by an administrator",
            ) {
                info!(%device, "disconnected a revoked device");
            }
        }
    }
}
