//! TLS settings for both listeners. Agents connect over QUIC with mutual TLS; people connect
//! over HTTPS with the same certificate chain.

use std::sync::Arc;

use anyhow::{Context, Result};
use quinn::crypto::rustls::QuicServerConfig;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::Config;
use crate::datadir::{DataDir, read_text};

/// ALPN protocol id on the agent link. The protocol version is negotiated in the hello, not
/// here, so that a mismatch gets a message rather than a failed handshake.
pub const ALPN: &[u8] = b"hotline";

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The console's certificate chain (server certificate, then CA) and key.
#[derive(Debug)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    pub ca: CertificateDer<'static>,
}

impl Identity {
    pub fn load(dir: &DataDir) -> Result<Identity> {
        let server = crate::ca::pem_to_der(&read_text(&dir.server_cert())?)?;
        let ca = crate::ca::pem_to_der(&read_text(&dir.ca_cert())?)?;
        let key_path = dir.server_key();
        let key = PrivateKeyDer::from_pem_slice(read_text(&key_path)?.as_bytes())
            .with_context(|| format!("parsing {}", key_path.display()))?;
        Ok(Identity {
            chain: vec![server, ca.clone()],
            key,
            ca,
        })
    }
}

/// The QUIC server configuration: client certificates from our CA are verified when present;
/// a connection without one may only enroll, which the link enforces.
pub fn quic_server(identity: &Identity, config: &Config) -> Result<quinn::ServerConfig> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    roots
        .add(identity.ca.clone())
        .context("adding the CA to the trust store")?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .context("building the client certificate verifier")?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("selecting TLS 1.3")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .context("loading the server certificate")?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // Privileged commands must never ride in replayable early data.
    tls.max_early_data_size = 0;

    let crypto = QuicServerConfig::try_from(tls).context("QUIC needs TLS 1.3 with AES-128-GCM")?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(Arc::new(transport(config)?));
    Ok(server)
}

/// Transport limits per agent connection: small windows and few streams, since an agent
/// connection carries a few small messages most of its life and the console holds thousands.
fn transport(config: &Config) -> Result<quinn::TransportConfig> {
    let mut transport = quinn::TransportConfig::default();
    let idle =
        quinn::IdleTimeout::try_from(config.idle_timeout()).context("idle timeout out of range")?;
    transport
        .max_idle_timeout(Some(idle))
        .max_concurrent_bidi_streams(4u32.into())
        // A running screen session streams its frames on one unidirectional stream; one
        // more lets the next session open while the last one's stream drains.
        .max_concurrent_uni_streams(2u32.into())
        .stream_receive_window((256u32 * 1024).into())
        .receive_window((1024u32 * 1024).into())
        .send_window(1024 * 1024)
        .datagram_receive_buffer_size(None);
    Ok(transport)
}

/// The HTTPS server configuration for the web console.
pub fn https_server(identity: &Identity) -> Result<rustls::ServerConfig> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("selecting TLS versions")?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .context("loading the server certificate")?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}
