//! Enrollment: make a key pair, trade the one-time token and a certificate request for a
//! device certificate, pin the console's CA, and store it all.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use hotline_protocol::codec::{ENROLL_FRAME_LIMIT, Wire, encode_frame};
use hotline_protocol::enroll::{EnrollReply, EnrollRequest, EnrollmentString};
use hotline_protocol::{DeviceId, PROTOCOL_VERSION};
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use tracing::info;

use crate::state::{AgentState, StateDir};
use crate::tls::{CONSOLE_SERVER_NAME, enrollment_client};
use crate::wire::FrameReader;

/// Enrolls with the console named in `enrollment` and saves the result in `dir`.
pub async fn enroll(
    dir: &StateDir,
    enrollment: &EnrollmentString,
    hostname: &str,
) -> Result<DeviceId> {
    if dir.is_enrolled() {
        bail!("this state directory is already enrolled; use a new one to enroll again");
    }
    let state = request(enrollment, hostname).await?;
    dir.save(&state)?;
    info!(device = %state.device, console = %state.console, "enrolled");
    Ok(state.device)
}

/// Enrolls with the console named in `enrollment` and returns the new state, unsaved.
pub async fn request(enrollment: &EnrollmentString, hostname: &str) -> Result<AgentState> {
    let key = KeyPair::generate().context("generating the device key")?;
    let csr = CertificateParams::default()
        .serialize_request(&key)
        .context("making the certificate request")?;
    let request = EnrollRequest {
        protocol: PROTOCOL_VERSION,
        token: enrollment.token.clone(),
        csr_der: csr.der().to_vec(),
        hostname: hostname.to_owned(),
    };

    let address = resolve(&enrollment.address).await?;
    let endpoint = client_endpoint(address)?;
    let reply = exchange(&endpoint, address, enrollment, &request).await;
    endpoint.wait_idle().await;
    let accepted = match reply? {
        EnrollReply::Accepted(accepted) => accepted,
        EnrollReply::Refused(refusal) => bail!("console refused enrollment: {}", refusal.reason),
    };

    // The handshake already proved the console holds a certificate from the pinned CA; this
    // check makes sure the CA we store is that same one.
    if Sha256::digest(&accepted.ca_der).as_slice() != enrollment.ca.0 {
        bail!("console sent a CA certificate that does not match the pinned fingerprint");
    }
    Ok(AgentState {
        device: accepted.device,
        console: enrollment.address.clone(),
        certificate: CertificateDer::from(accepted.certificate_der),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        ca: CertificateDer::from(accepted.ca_der),
    })
}

async fn exchange(
    endpoint: &quinn::Endpoint,
    address: SocketAddr,
    enrollment: &EnrollmentString,
    request: &EnrollRequest,
) -> Result<EnrollReply> {
    let config = enrollment_client(enrollment.ca)?;
    let connection = endpoint
        .connect_with(config, address, CONSOLE_SERVER_NAME)
        .context("starting the connection")?
        .await
        .with_context(|| format!("connecting to the console at {address}"))?;
    let (mut send, recv) = connection
        .open_bi()
        .await
        .context("opening the enrollment stream")?;
    send.write_all(&encode_frame(request)?)
        .await
        .context("sending the enrollment request")?;
    send.finish().ok();

    let mut reader = FrameReader::new(recv, ENROLL_FRAME_LIMIT);
    let reply = match reader.next_frame().await {
        Ok(Some(payload)) => {
            EnrollReply::decode_payload(&payload).context("reading the console's reply")?
        }
        Ok(None) => bail!("the console closed the stream without replying"),
        Err(error) => match connection.close_reason() {
            Some(quinn::ConnectionError::ApplicationClosed(close)) => {
                bail!(
                    "console refused enrollment: {}",
                    String::from_utf8_lossy(&close.reason)
                )
            }
            _ => return Err(error).context("reading the console's reply"),
        },
    };
    connection.close(0u32.into(), b"done");
    Ok(reply)
}

/// Resolves `host:port` to the first address it names.
pub async fn resolve(address: &str) -> Result<SocketAddr> {
    tokio::net::lookup_host(address)
        .await
        .with_context(|| format!("resolving console address {address}"))?
        .next()
        .with_context(|| format!("console address {address} resolves to nothing"))
}

/// A client endpoint on an ephemeral port of the address family of `peer`.
pub fn client_endpoint(peer: SocketAddr) -> Result<quinn::Endpoint> {
    let local: SocketAddr = if peer.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    quinn::Endpoint::client(local).context("opening a UDP socket")
}
