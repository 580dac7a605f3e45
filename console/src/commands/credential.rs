//! `hotline-console credential accounts|reset`: an analyst's credential resets from a shell.
//! Only the running `serve` holds the device connections, so these commands call its JSON
//! API over HTTPS, as the analyst whose API token is in `HOTLINE_TOKEN` (or in the file
//! `--token-file` names), trusting only the console's own CA. The token never goes on the
//! command line, where other local users could read it. The temporary password is printed
//! once, to standard output, and nowhere else.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::serve::ServeState;
use crate::datadir::{DataDir, read_text};
use crate::output;

/// How long a call may take; a reset that waits for the caller's consent takes longest.
const CALL_TIMEOUT: Duration = Duration::from_secs(150);
/// Largest answer read.
const MAX_ANSWER: usize = 1 << 20;

#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// The console's HTTPS address; by default the one the running `serve` wrote.
    #[arg(long, global = true, value_name = "ADDR")]
    pub console: Option<SocketAddr>,
    /// A file holding the API token, instead of `HOTLINE_TOKEN`.
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    #[command(subcommand)]
    pub action: CredentialAction,
}

#[derive(Debug, Subcommand)]
pub enum CredentialAction {
    /// List a device's local human accounts, asked of the device now.
    Accounts {
        /// The device id, as `devices` lists it.
        device: String,
        /// The open ticket, naming the device, this is done for.
        #[arg(long)]
        ticket: i64,
        /// Print the API's JSON answer instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Reset a local account: a temporary password, printed once, to change at next login.
    Reset {
        /// The device id, as `devices` lists it.
        device: String,
        /// The local account's login name.
        account: String,
        /// The open ticket, naming the device, this is done for.
        #[arg(long)]
        ticket: i64,
        /// Also clear failed-login lockouts and an administrator's lock.
        #[arg(long)]
        unlock: bool,
        /// Keep the current password (for an unlock alone).
        #[arg(long)]
        keep_password: bool,
        /// Do not require a change at the next login.
        #[arg(long)]
        no_change_required: bool,
        /// Length of the temporary password (at least 15).
        #[arg(long, default_value_t = 16)]
        length: u8,
        /// Print the API's JSON answer instead of lines.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(dir: &DataDir, args: &CredentialArgs) -> Result<()> {
    dir.require_initialised()?;
    let client = Client::new(dir, args)?;
    match &args.action {
        CredentialAction::Accounts {
            device,
            ticket,
            json,
        } => {
            let path = format!("/api/devices/{}/accounts?ticket={ticket}", segment(device)?);
            let answer = client.call("GET", &path, None).await?;
            if *json {
                output::line(&answer.to_string());
                return Ok(());
            }
            output::line("NAME                             UID    LOCKED FAILED CHANGE SIGNED-IN");
            for account in answer["accounts"].as_array().into_iter().flatten() {
                output::line(&format!(
                    "{:<32} {:<6} {:<6} {:<6} {:<6} {}",
                    account["name"].as_str().unwrap_or_default(),
                    account["uid"],
                    yes_no(&account["locked"]),
                    account["failed_logins"],
                    yes_no(&account["must_change"]),
                    yes_no(&account["signed_in"]),
                ));
            }
            Ok(())
        }
        CredentialAction::Reset {
            device,
            account,
            ticket,
            unlock,
            keep_password,
            no_change_required,
            length,
            json,
        } => {
            let body = json!({
                "ticket": ticket,
                "account": account,
                "new_password": !keep_password,
                "unlock": unlock,
                "require_change": !no_change_required,
                "length": length,
            });
            let path = format!("/api/devices/{}/reset", segment(device)?);
            let answer = client.call("POST", &path, Some(&body)).await?;
            if *json {
                output::line(&answer.to_string());
                return Ok(());
            }
            if let Some(password) = answer["temporary_password"].as_str() {
                output::line(&format!("temporary password: {password}"));
            }
            output::line(&format!(
                "must change at next login: {}",
                yes_no(&answer["must_change"])
            ));
            output::line(&format!("locked: {}", yes_no(&answer["locked"])));
            output::line(&format!(
                "failed logins cleared: {}",
                answer["cleared_failures"]
            ));
            Ok(())
        }
    }
}

fn yes_no(value: &Value) -> &'static str {
    if value.as_bool() == Some(true) {
        "yes"
    } else {
        "no"
    }
}

/// A device id as a path segment: the API checks it, this only keeps it one segment.
fn segment(text: &str) -> Result<&str> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        bail!(
            "invalid device id {:?}",
            text.chars().take(32).collect::<String>()
        );
    }
    Ok(text)
}

/// An HTTPS client of this data directory's console.
struct Client {
    address: SocketAddr,
    token: String,
    tls: TlsConnector,
}

impl Client {
    fn new(dir: &DataDir, args: &CredentialArgs) -> Result<Client> {
        let address = match args.console {
            Some(address) => address,
            None => {
                let state = ServeState::read(dir).with_context(|| {
                    format!(
                        "no running console in {} (start `serve`, or give --console)",
                        dir.root().display()
                    )
                })?;
                let mut address = state.https;
                if address.ip().is_unspecified() {
                    address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                address
            }
        };
        let token = match &args.token_file {
            Some(path) => read_text(path)?.trim().to_owned(),
            None => std::env::var("HOTLINE_TOKEN")
                .context("set HOTLINE_TOKEN to an API token, or give --token-file")?,
        };
        let pem = read_text(&dir.ca_cert())?;
        let ca = CertificateDer::from_pem_slice(pem.as_bytes()).context("reading the CA")?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).context("trusting the console's CA")?;
        let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .context("configuring TLS")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client {
            address,
            token,
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    /// One call; an answer other than 2xx is an error carrying the API's message.
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        tokio::time::timeout(CALL_TIMEOUT, self.exchange(method, path, body))
            .await
            .with_context(|| format!("no answer from {} within {CALL_TIMEOUT:?}", self.address))?
    }

    async fn exchange(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let bytes = body.map(Value::to_string).unwrap_or_default();
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.address.to_string())
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .context("building the request")?;
        let tcp = TcpStream::connect(self.address)
            .await
            .with_context(|| format!("connecting to {}", self.address))?;
        // The console's certificate always names localhost; other names are those given to
        // `init --name`, which a loopback address cannot carry.
        let name = if self.address.ip().is_loopback() {
            ServerName::try_from("localhost").context("server name")?
        } else {
            ServerName::IpAddress(self.address.ip().into())
        };
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {}", self.address))?;
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
