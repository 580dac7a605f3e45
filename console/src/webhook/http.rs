//! A minimal HTTP/1.1 POST client for the webhook: one connection per delivery (entries are
//! few and ordered, so pooling buys nothing), HTTPS with the system's trusted roots, and a
//! timeout on the whole exchange.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2000;
/// How long one delivery attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a failing receiver's answer is kept for `webhook status`.
const MAX_ERROR_BODY: usize = 200;

/// Checks a webhook URL: `http` or `https`, with a host, no user info.
pub fn parse_url(text: &str) -> Result<Uri> {
    if text.len() > MAX_URL_LEN {
        bail!("webhook URL longer than {MAX_URL_LEN} characters");
    }
    let uri: Uri = text.parse().context("webhook URL is not a valid URL")?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => bail!("webhook URL must start with http:// or https://"),
    }
    let authority = uri.authority().context("webhook URL has no host")?;
    if authority.as_str().contains('@') {
        bail!("webhook URL must not carry a user name or password");
    }
    Ok(uri)
}

/// Sends one POST; any answer other than 2xx is an error naming the status.
#[derive(Clone)]
pub(super) struct Client {
    tls: TlsConnector,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// A client that trusts the system's root certificates.
    pub(super) fn new() -> Result<Client> {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            // A certificate the store cannot parse is skipped; the others still work.
            roots.add(cert).ok();
        }
        let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .context("configuring TLS for the webhook")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client {
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    pub(super) async fn post(
        &self,
        uri: &Uri,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<()> {
        tokio::time::timeout(ATTEMPT_TIMEOUT, self.exchange(uri, headers, body))
            .await
            .map_err(|_| anyhow!("no answer within {ATTEMPT_TIMEOUT:?}"))?
    }

    async fn exchange(&self, uri: &Uri, headers: &[(&str, String)], body: Vec<u8>) -> Result<()> {
        let https = uri.scheme_str() == Some("https");
        let host = uri.host().context("webhook URL has no host")?;
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri.authority().map_or(host, |a| a.as_str());
        let path = uri.path_and_query().map_or("/", |p| p.as_str());

        let mut request = Request::post(path).header(hyper::header::HOST, authority);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .context("building the webhook request")?;

        // Brackets around an IPv6 literal belong to the URL, not to the address.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = TcpStream::connect((bare, port))
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        if https {
            let name = ServerName::try_from(bare.to_owned()).context("webhook host name")?;
            let stream = self
                .tls
                .connect(name, tcp)
                .await
                .with_context(|| format!("TLS handshake with {authority}"))?;
            send(stream, request).await
        } else {
            send(tcp, request).await
        }
    }
}

async fn send<S>(stream: S, request: Request<Full<Bytes>>) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("starting HTTP")?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .context("sending the webhook request")?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_ERROR_BODY)
        .collect();
    Err(anyhow!("receiver answered {}: {text}", status.as_u16()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(parse_url("https://glpi.example/hook?x=1").is_ok());
        assert!(parse_url("http://127.0.0.1:9000/").is_ok());
        assert!(parse_url("ftp://example/").is_err());
        assert!(parse_url("https://user:pw@example/").is_err());
        assert!(parse_url("not a url").is_err());
    }
}
