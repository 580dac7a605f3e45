//! `hotline-console serve`: the agent link over QUIC and the web console over HTTPS, until
//! SIGINT or SIGTERM.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hotline_protocol::CloseCode;
use hotline_protocol::session::console::ConsolePolicy;
use serde::{Deserialize, Serialize};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::ca::Ca;
use crate::cli::ServeArgs;
use crate::config::Config;
use crate::datadir::{DataDir, read_text};
use crate::link::{self, Link};
use crate::store::Store;
use crate::{api, output, tls, web};

/// What a running `serve` tells other commands (and tests) about itself.
#[derive(Debug, Serialize, Deserialize)]
pub struct ServeState {
    pub pid: u32,
    pub quic: SocketAddr,
    pub https: SocketAddr,
}

impl ServeState {
    /// The state of a running console in `dir`, if one has written it.
    pub fn read(dir: &DataDir) -> Option<ServeState> {
        let text = std::fs::read_to_string(dir.serve_state()).ok()?;
        serde_json::from_str(&text).ok()
    }
}

pub async fn run(dir: &DataDir, args: &ServeArgs) -> Result<()> {
    dir.require_initialised()?;
    let mut config = Config::load(&dir.config())?;
    config.quic_listen = args.quic.unwrap_or(config.quic_listen);
    config.https_listen = args.https.unwrap_or(config.https_listen);

    let identity = tls::Identity::load(dir)?;
    let ca = Ca::load(&read_text(&dir.ca_cert())?, &read_text(&dir.ca_key())?)?;
    let store = Store::open(&dir.database(), false).await?;
    store.set_all_offline().await?;

    let endpoint = bind_quic(dir, &config, &identity)?;
    let https_listener = TcpListener::bind(config.https_listen)
        .with_context(|| format!("binding HTTPS to {}", config.https_listen))?;
    https_listener
        .set_nonblocking(true)
        .context("configuring the HTTPS socket")?;
    let state = ServeState {
        pid: std::process::id(),
        quic: endpoint.local_addr().context("reading the QUIC address")?,
        https: https_listener
            .local_addr()
            .context("reading the HTTPS address")?,
    };

    let policy = ConsolePolicy {
        heartbeat_interval: config.heartbeat_interval(),
        hello_timeout: Duration::from_secs(10),
        console_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let max_agents = usize::try_from(config.max_agents).unwrap_or(usize::MAX);
    let link = Arc::new(Link::new(store.clone(), ca, policy, max_agents));
    let (stop, stopped) = watch::channel(false);

    let accept = tokio::spawn(link::accept_loop(
        link.clone(),
        endpoint.clone(),
        stopped.clone(),
    ));
    let flush = tokio::spawn(link::flush_loop(link.clone(), stopped.clone()));
    let revocations = tokio::spawn(link::revocation_loop(link.clone(), stopped.clone()));
    let key = crate::deploy::AssignmentKey::load_or_create(dir)?;
    let deployer = Arc::new(crate::deploy::Deployer::new(
        link.clone(),
        dir.clone(),
        config.deploy.clone(),
        key,
    ));
    let deployments = tokio::spawn(crate::deploy::run(deployer, stopped.clone()));
    let web_handle = axum_server::Handle::new();
    let https_config =
        axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls::https_server(&identity)?));
    let app_state = api::AppState {
        store: store.clone(),
        link: link.clone(),
        feed: store.feed().clone(),
        origin: format!("https://{}", state.https),
        consent_timeout: Duration::from_secs(config.consent_timeout_secs.clamp(1, 300)),
        uploads: Arc::new(crate::deploy::upload::Uploads::new(
            dir,
            config.repository.clone(),
        )?),
    };
    let feed = tokio::spawn(store.feed().clone().run(store.clone(), stopped.clone()));
    let webhook = tokio::spawn(crate::webhook::run(
        store.clone(),
        crate::webhook::secret_path(dir),
        stopped.clone(),
    ));
    let app = web::secured(api::router().merge(web::router()).with_state(app_state));
    let web = axum_server::from_tcp_rustls(https_listener, https_config)
        .handle(web_handle.clone())
        .serve(app.into_make_service_with_connect_info::<SocketAddr>());
    let web = tokio::spawn(web);

    crate::datadir::write_public(
        &dir.serve_state(),
        serde_json::to_string(&state)?.as_bytes(),
    )?;
    info!(quic = %state.quic, https = %state.https, "console serving");
    output::line(&format!(
        "agents: quic://{}   web console: https://{}",
        state.quic, state.https
    ));

    wait_for_signal().await?;
    info!("shutting down");

    // Tell every agent why it is being dropped, so that each reconnects promptly once the
    // console is back instead of waiting for its idle timeout.
    stop.send(true).ok();
    endpoint.close(
        CloseCode::ConsoleShutdown.to_u32().into(),
        b"console shutting down",
    );
    web_handle.graceful_shutdown(Some(Duration::from_secs(2)));
    tokio::time::timeout(Duration::from_secs(3), endpoint.wait_idle())
        .await
        .ok();
    for task in [accept, flush, feed, webhook, deployments] {
        task.await.ok();
    }
    if let Ok(Err(error)) = revocations.await {
        warn!(error = format!("{error:#}"), "revocation polling failed");
    }
    web.await.ok();

    store.set_all_offline().await?;
    store.close().await;
    std::fs::remove_file(dir.serve_state()).ok();
    Ok(())
}

/// Binds the agent endpoint with the persistent stateless-reset key.
fn bind_quic(dir: &DataDir, config: &Config, identity: &tls::Identity) -> Result<quinn::Endpoint> {
    let reset_path = dir.reset_key();
    let reset_secret =
        std::fs::read(&reset_path).with_context(|| format!("reading {}", reset_path.display()))?;
    let reset_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &reset_secret);
    let endpoint_config = quinn::EndpointConfig::new(Arc::new(reset_key));
    let socket = link::agent_socket(config.quic_listen)?;
    let server = tls::quic_server(identity, config)?;
    let runtime = quinn::default_runtime().context("no async runtime for QUIC")?;
    quinn::Endpoint::new(endpoint_config, Some(server), socket, runtime)
        .context("starting the QUIC endpoint")
}

async fn wait_for_signal() -> Result<()> {
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
