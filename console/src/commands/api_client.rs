//! An HTTPS client of a running console's JSON API, for the commands that act through it
//! (`credential`, and `package publish --console`): one connection per call, trusting only
//! the console's own CA, authenticated with an API token that never goes on the command line.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::datadir::read_text;

/// Largest answer read.
const MAX_ANSWER: usize = 1 << 20;

/// Reads the API token from `file`, or from `HOTLINE_TOKEN` without one.
pub fn read_token(file: Option<&Path>) -> Result<String> {
    match file {
        Some(path) => Ok(read_text(path)?.trim().to_owned()),
        None => std::env::var("HOTLINE_TOKEN")
            .context("set HOTLINE_TOKEN to an API token, or give --token-file"),
    }
}

/// An HTTPS client of one console.
pub struct ApiClient {
    /// `host:port`, dialled and sent as `Host`.
    authority: String,
    name: ServerName<'static>,
    token: String,
    tls: TlsConnector,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never printed.
        f.debug_struct("ApiClient")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client of the console at `address`.
    pub fn at_address(address: SocketAddr, token: String, ca_cert: &Path) -> Result<ApiClient> {
        ApiClient::new(&address.ip().to_string(), address.port(), token, ca_cert)
    }

    /// A client of the console at `url` (`https://HOST:PORT`).
    pub fn at_url(url: &str, token: String, ca_cert: &Path) -> Result<ApiClient> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("{url:?} is not a URL like https://console.example:8443"))?;
        if uri.scheme_str() != Some("https") {
            bail!("the console's URL must start with https:// (got {url:?})");
        }
        if uri.path() != "/" && !uri.path().is_empty() {
            bail!("the console's URL must be only https://HOST:PORT (got {url:?})");
        }
        let host = uri.host().context("the console's URL has no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        ApiClient::new(host, uri.port_u16().unwrap_or(443), token, ca_cert)
    }

    fn new(host: &str, port: u16, token: String, ca_cert: &Path) -> Result<ApiClient> {
        let name = match host.parse::<IpAddr>() {
            // The console's certificate always names localhost; other names are those given
            // to `init --name`, which a loopback address cannot carry.
            Ok(ip) if ip.is_loopback() => ServerName::try_from("localhost")?,
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(host.to_owned())
                .with_context(|| format!("{host:?} is not a host name"))?,
        };
        let authority = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        let pem = read_text(ca_cert)?;
        let ca = CertificateDer::from_pem_slice(pem.as_bytes())
            .with_context(|| format!("reading the CA certificate {}", ca_cert.display()))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).context("trusting the console's CA")?;
        let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .context("configuring TLS")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ApiClient {
            authority,
            name,
            token,
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    /// One JSON call; an answer other than 2xx is an error carrying the API's message.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value> {
        let bytes = body.map(Value::to_string).unwrap_or_default();
        self.send(
            method,
            path,
            "application/json",
            Bytes::from(bytes),
            timeout,
        )
        .await
    }

    /// One call with a body of `content_type`.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Value> {
        tokio::time::timeout(timeout, self.exchange(method, path, content_type, body))
            .await
            .with_context(|| format!("no answer from {} within {timeout:?}", self.authority))?
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<Value> {
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.authority.as_str())
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .context("building the request")?;
        let tcp = TcpStream::connect(self.authority.as_str())
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        let tls = self
            .tls
            .connect(self.name.clone(), tcp)
            .await
            .with_context(|| format!("TLS handshake with {}", self.authority))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .context("sending the request")?;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|error| anyhow::anyhow!("reading the answer: {error}"))?
            .to_bytes();
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = answer["error"].as_str().unwrap_or("no message");
            bail!("console answered {status}: {message}");
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_https_urls_name_a_console() {
        let missing = Path::new("/nonexistent/ca.pem");
        for bad in ["http://localhost:8443", "localhost:8443", "https://h:1/api"] {
            let error = ApiClient::at_url(bad, String::new(), missing).expect_err(bad);
            assert!(error.to_string().contains("https://"), "{bad}: {error:#}");
        }
        // A good URL gets as far as reading the CA certificate.
        let error = ApiClient::at_url("https://console.example:8443", String::new(), missing)
            .expect_err("no CA file");
        assert!(format!("{error:#}").contains("ca.pem"), "{error:#}");
    }
}
