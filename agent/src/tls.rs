//! TLS for the agent: mutual TLS against the pinned console CA once enrolled, and during
//! enrollment a verifier that accepts only a console whose chain carries the CA with the
//! fingerprint from the enrollment string.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hotline_protocol::enroll::CaFingerprint;
use quinn::crypto::rustls::QuicClientConfig;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::state::AgentState;

/// ALPN protocol id on the agent link.
pub const ALPN: &[u8] = b"hotline";
/// The name the console's certificate carries for agents.
pub const CONSOLE_SERVER_NAME: &str = "hotline-console";

/// QUIC timing on the agent side. The keep-alive stays below half the idle timeout, so that
/// one lost keep-alive does not end a healthy connection.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub idle_timeout: Duration,
    pub keep_alive: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(10),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn quic_client(tls: rustls::ClientConfig, timing: Timing) -> Result<quinn::ClientConfig> {
    let crypto = QuicClientConfig::try_from(tls).context("QUIC needs TLS 1.3")?;
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    let idle =
        quinn::IdleTimeout::try_from(timing.idle_timeout).context("idle timeout out of range")?;
    transport
        .max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(timing.keep_alive.min(timing.idle_timeout / 3)))
        .max_concurrent_uni_streams(0u32.into())
        .datagram_receive_buffer_size(None);
    client.transport_config(Arc::new(transport));
    Ok(client)
}

/// The client configuration of an enrolled device: its certificate, and the pinned CA as the
/// only trust anchor.
pub fn device_client(state: &AgentState, timing: Timing) -> Result<quinn::ClientConfig> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    roots
        .add(state.ca.clone())
        .context("loading the pinned console CA")?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("selecting TLS 1.3")?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![state.certificate.clone()], state.private_key())
        .context("loading the device certificate and key")?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.enable_early_data = false;
    quic_client(tls, timing)
}

/// The client configuration for enrollment: no client certificate, and a console accepted
/// only if it chains to the CA with fingerprint `pin`.
pub fn enrollment_client(pin: CaFingerprint) -> Result<quinn::ClientConfig> {
    let provider = provider();
    let verifier = PinnedCa {
        pin,
        provider: provider.clone(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("selecting TLS 1.3")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    quic_client(tls, Timing::default())
}

/// Trusts the CA certificate in the server's chain whose SHA-256 equals the pin, and then
/// verifies the server certificate against it as usual (name, validity, usage, signature).
#[derive(Debug)]
struct PinnedCa {
    pin: CaFingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pinned = intermediates
            .iter()
            .find(|cert| Sha256::digest(cert.as_ref()).as_slice() == self.pin.0)
            .ok_or_else(|| {
                rustls::Error::General(format!(
                    "the console's certificate chain does not contain the CA with fingerprint {}",
                    self.pin
                ))
            })?;
        let mut roots = RootCertStore::empty();
        roots
            .add(pinned.clone().into_owned())
            .map_err(|error| rustls::Error::General(format!("pinned CA is unusable: {error}")))?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|error| rustls::Error::General(error.to_string()))?;
        verifier.verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
