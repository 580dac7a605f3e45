//! `hotline-console init`: a new data directory with CA, server certificate, database and
//! configuration.

use anyhow::{Context, Result};

use crate::accounts::{AccountName, Role};
use crate::ca::{Ca, create_ca};
use crate::cli::InitArgs;
use crate::config::Config;
use crate::datadir::{DataDir, write_private, write_public};
use crate::output;
use crate::store::Store;

pub async fn run(dir: &DataDir, args: &InitArgs) -> Result<()> {
    dir.create()?;

    let new = create_ca(&args.organisation)?;
    write_private(&dir.ca_key(), new.key_pem.as_bytes())?;
    write_public(&dir.ca_cert(), new.cert_pem.as_bytes())?;
    let ca = Ca::load(&new.cert_pem, &new.key_pem)?;

    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = host_name() {
        names.push(host);
    }
    names.extend(args.names.iter().cloned());
    let (cert_pem, key_pem) = ca.issue_server(&names)?;
    write_private(&dir.server_key(), key_pem.as_bytes())?;
    write_public(&dir.server_cert(), cert_pem.as_bytes())?;

    write_private(&dir.reset_key(), &rand::random::<[u8; 32]>())?;
    if !dir.config().exists() {
        let text =
            toml::to_string(&Config::default()).context("formatting the default configuration")?;
        write_public(&dir.config(), text.as_bytes())?;
    }
    let store = Store::open(&dir.database(), true).await?;
    let admin = first_admin(&store).await;
    store.close().await;
    let password = admin?;

    output::line(&format!("initialised {}", dir.root().display()));
    output::line(&format!("CA fingerprint (SHA-256): {}", ca.fingerprint()));
    output::line(&format!("first admin: {FIRST_ADMIN}"));
    output::line(&format!("one-time password: {password}"));
    output::line("it must be changed at first login");
    output::line(&format!(
        "next: hotline-console serve --data {0}, then hotline-console enroll-token --data {0}",
        dir.root().display()
    ));
    Ok(())
}

/// The first account's name. It holds only the admin role: admins create analysts.
pub const FIRST_ADMIN: &str = "admin";

/// Creates the first admin with a one-time password and returns the password. Data
/// directories made before accounts existed get their first admin with
/// `hotline-console analyst add NAME --name N --role admin` instead.
async fn first_admin(store: &Store) -> Result<String> {
    let name: AccountName = FIRST_ADMIN.parse().map_err(anyhow::Error::msg)?;
    let roles = [Role::Admin].into_iter().collect();
    super::analyst::create(
        store,
        &name,
        "Administrator",
        &roles,
        super::analyst::cli_actor(),
    )
    .await
}

/// This machine's host name, when it is a valid DNS name for a certificate.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then(|| name.to_owned())
}
