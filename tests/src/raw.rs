//! A hand-driven client: a real QUIC connection with a real device certificate that sends
//! whatever bytes a test asks for, to play a misbehaving or hostile agent.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use hotline_agent::state::{AgentState, StateDir};
use hotline_agent::tls::{CONSOLE_SERVER_NAME, Timing, device_client};
use hotline_protocol::codec::{CONTROL_FRAME_LIMIT, FrameDecoder, encode_frame};
use hotline_protocol::inventory::{Inventory, OsInfo};
use hotline_protocol::messages::{AgentMessage, Capabilities, Hello};
use hotline_protocol::{DeviceId, PROTOCOL_VERSION};

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// The console closed it with an application code and reason.
    ByConsole { code: u32, reason: String },
    /// Anything else: a TLS alert, a timeout, a reset.
    Other(String),
}

#[allow(
    missing_debug_implementations,
    reason = "test helper holding runtime handles"
)]
pub struct RawClient {
    runtime: tokio::runtime::Runtime,
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    send: Option<quinn::SendStream>,
    /// Kept open: dropping it would ask the console to stop sending.
    recv: Option<quinn::RecvStream>,
    decoder: FrameDecoder,
    /// Bytes read from `recv` that the decoder has not consumed yet.
    unread: Vec<u8>,
}

/// Loads the state an enrolled agent saved.
pub fn load_state(dir: &Path) -> AgentState {
    StateDir::new(dir).load().expect("agent state loads")
}

/// A hello frame claiming to be `device`.
pub fn hello_frame(device: &DeviceId) -> Vec<u8> {
    hello_frame_with_hostname(device, "raw")
}

/// A hello frame claiming to be `device`, reporting `hostname` (which a rogue device chooses).
pub fn hello_frame_with_hostname(device: &DeviceId, hostname: &str) -> Vec<u8> {
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        device: device.clone(),
        agent_version: "raw-test".into(),
        capabilities: Capabilities::INVENTORY,
        inventory: Inventory {
            hostname: hostname.into(),
            os: OsInfo {
                family: "linux".into(),
                name: "test".into(),
                version: "0".into(),
            },
            arch: "x86_64".into(),
            sessions: Vec::new(),
            displays: Vec::new(),
            time_zone: "UTC".into(),
        },
    };
    encode_frame(&AgentMessage::Hello(Box::new(hello))).expect("hello encodes")
}

impl RawClient {
    /// Connects to `console` with `state`'s certificate and opens the control stream.
    /// Returns how the connection ended when the handshake itself fails.
    pub fn connect(state: &AgentState, console: SocketAddr) -> Result<RawClient, Closed> {
        // A worker thread keeps driving the connection between the test's calls.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let config = device_client(state, Timing::default()).expect("client config");
        let (endpoint, connection) = runtime.block_on(async {
            let endpoint =
                quinn::Endpoint::client("127.0.0.1:0".parse().expect("address")).expect("socket");
            let connecting = endpoint
                .connect_with(config, console, CONSOLE_SERVER_NAME)
                .expect("connect starts");
            let connection = connecting
                .await
                .map_err(|error| Closed::Other(error.to_string()))?;
            Ok::<_, Closed>((endpoint, connection))
        })?;
        Ok(RawClient {
            runtime,
            endpoint,
            connection,
            send: None,
            recv: None,
            decoder: FrameDecoder::new(CONTROL_FRAME_LIMIT),
            unread: Vec::new(),
        })
    }

    /// Writes raw bytes on the control stream (opened on first use).
    pub fn send(&mut self, bytes: &[u8]) {
        let connection = self.connection.clone();
        if self.send.is_none() {
            // Opening fails once the console has closed the connection; the test then learns
            // why from the close reason.
            if let Ok((send, recv)) = self.runtime.block_on(connection.open_bi()) {
                self.send = Some(send);
                self.recv = Some(recv);
            }
        }
        if let Some(send) = self.send.as_mut() {
            self.runtime.block_on(send.write_all(bytes)).ok();
        }
    }

    /// The next frame payload the console sent on the control stream, or `None` when none
    /// arrives within `timeout` or the stream ends.
    pub fn read_frame(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(payload) = self.decoder.take_frame() {
                return Some(payload);
            }
            if !self.unread.is_empty() {
                let used = self.decoder.feed(&self.unread).ok()?;
                self.unread.drain(..used);
                continue;
            }
            let recv = self.recv.as_mut()?;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let chunk = self
                .runtime
                .block_on(async {
                    tokio::time::timeout(left, recv.read_chunk(16 * 1024, true)).await
                })
                .ok()?
                .ok()??;
            self.unread.extend_from_slice(&chunk.bytes);
        }
    }

    /// Ends the control stream, as a peer does when it has nothing more to say.
    pub fn finish(&mut self) {
        if let Some(send) = self.send.as_mut() {
            send.finish().ok();
        }
    }

    /// Waits up to `timeout` for the connection to end, and says how it ended.
    pub fn closed(&self, timeout: Duration) -> Option<Closed> {
        let connection = self.connection.clone();
        self.runtime.block_on(async move {
            let error = tokio::time::timeout(timeout, connection.closed())
                .await
                .ok()?;
            Some(match error {
                quinn::ConnectionError::ApplicationClosed(close) => Closed::ByConsole {
                    code: u32::try_from(close.error_code.into_inner()).unwrap_or(u32::MAX),
                    reason: String::from_utf8_lossy(&close.reason).into_owned(),
                },
                other => Closed::Other(other.to_string()),
            })
        })
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.connection.close(0u32.into(), b"test done");
        let endpoint = self.endpoint.clone();
        self.runtime
            .block_on(async move {
                tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await
            })
            .ok();
    }
}
