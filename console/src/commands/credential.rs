//! `hotline-console credential accounts|reset`: an analyst's credential resets from a shell.
//! Only the running `serve` holds the device connections, so these commands call its JSON
//! API over HTTPS, as the analyst whose API token is in `HOTLINE_TOKEN` (or in the file
//! `--token-file` names), trusting only the console's own CA. The token never goes on the
//! command line, where other local users could read it. The temporary password is printed
//! once, to standard output, and nowhere else.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::api_client::{ApiClient, read_token};
use super::serve::ServeState;
use crate::datadir::DataDir;
use crate::output;

/// How long a call may take; a reset that waits for the caller's consent takes longest.
const CALL_TIMEOUT: Duration = Duration::from_secs(150);

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

/// An HTTPS client of this data directory's console: the address `serve` wrote, or
/// `--console`.
struct Client {
    api: ApiClient,
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
        let token = read_token(args.token_file.as_deref())?;
        Ok(Client {
            api: ApiClient::at_address(address, token, &dir.ca_cert())?,
        })
    }

    /// One call; an answer other than 2xx is an error carrying the API's message.
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        self.api.call(method, path, body, CALL_TIMEOUT).await
    }
}
