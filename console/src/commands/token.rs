//! `hotline-console enroll-token`: a one-time enrollment string.

use anyhow::Result;
use hotline_protocol::enroll::{EnrollmentString, EnrollmentToken};

use crate::ca::pem_to_der;
use crate::cli::TokenArgs;
use crate::commands::serve::ServeState;
use crate::config::Config;
use crate::datadir::{DataDir, read_text};
use crate::output;
use crate::store::{Store, unix_now};

/// The longest a token may live: a leaked token must not stay useful for long.
const MAX_LIFETIME_SECS: u64 = 30 * 24 * 3600;

pub async fn run(dir: &DataDir, args: &TokenArgs) -> Result<()> {
    dir.require_initialised()?;
    let lifetime = args.expires.as_secs();
    if lifetime == 0 || lifetime > MAX_LIFETIME_SECS {
        anyhow::bail!("--expires must be between 1 s and 30 days");
    }
    let config = Config::load(&dir.config())?;
    let bound = ServeState::read(dir).map(|state| state.quic);
    let ca = crate::ca::fingerprint(&pem_to_der(&read_text(&dir.ca_cert())?)?);

    let token = EnrollmentToken::from_random(rand::random());
    let now = unix_now();
    let store = Store::open(&dir.database(), false).await?;
    store
        .create_token(
            token.expose(),
            now,
            now + i64::try_from(lifetime)?,
            args.uses,
        )
        .await?;
    store.close().await;

    let enrollment = EnrollmentString {
        address: config.advertised_address(bound),
        ca,
        token,
    };
    output::line(&enrollment.to_string());
    Ok(())
}
