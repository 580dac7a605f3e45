//! Deployments: the package repository, the assignment key, the scheduler that walks each
//! active deployment's waves, and the transfer of a signed assignment and its package to one
//! device over its own QUIC stream.
//!
//! Everything the scheduler decides is read from and written to SQLite, so a console that
//! stops mid-deployment carries on where the database says when it starts again; a device
//! that already reported is never sent the package again.
//!
//! Targets are named by device, tag, group or all and resolved to devices when the
//! deployment is made (`crate::fleet::targets`); a deployment held to group windows installs
//! on each device only while its group's window is open in the window's zone.

pub mod key;
pub mod plan;
mod recheck;
pub mod repository;
pub mod request;
mod transfer;
pub mod upload;
pub mod view;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotline_protocol::DeviceId;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::audit::{Actor, NewEntry, Outcome};
use crate::datadir::DataDir;
use crate::link::Link;
use crate::store::{DeviceResult, unix_now};

pub use key::AssignmentKey;
pub use transfer::RateLimit;

/// How often the scheduler looks at the database (deployments made or paused by the CLI in
/// another process show up within this time).
const POLL: Duration = Duration::from_millis(500);

/// `[deploy]` in console.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeployConfig {
    /// Most package transfers running at once, over all deployments.
    pub max_transfers: u32,
    /// Upper bound on the bytes per second sent to all devices together, in KiB; 0 for none.
    pub bandwidth_kib: u64,
    /// Chunk size in KiB (at most 1024).
    pub chunk_kib: u32,
    /// How long after a "retry later" (1618) a device is tried again, in seconds.
    pub retry_secs: u64,
    /// Most attempts per device before a "retry later" counts as a failure.
    pub max_attempts: u32,
    /// How long a signed assignment stays valid, in seconds.
    pub assignment_ttl_secs: u64,
}

impl Default for DeployConfig {
    fn default() -> DeployConfig {
        DeployConfig {
            max_transfers: 50,
            bandwidth_kib: 0,
            chunk_kib: 1024,
            retry_secs: 300,
            max_attempts: 5,
            assignment_ttl_secs: 3600,
        }
    }
}

impl DeployConfig {
    pub fn chunk_size(&self) -> u32 {
        (self.chunk_kib.clamp(1, 1024)) * 1024
    }
}

/// What every transfer shares.
#[derive(Debug)]
pub struct Deployer {
    pub link: Arc<Link>,
    pub dir: DataDir,
    pub config: DeployConfig,
    pub key: AssignmentKey,
    pub rate: RateLimit,
    /// (deployment, device) pairs with a transfer running in this process.
    running: Mutex<HashSet<(i64, DeviceId)>>,
}

impl Deployer {
    pub fn new(link: Arc<Link>, dir: DataDir, config: DeployConfig, key: AssignmentKey) -> Self {
        let rate = RateLimit::new(config.bandwidth_kib * 1024);
        Deployer {
            link,
            dir,
            config,
            key,
            rate,
            running: Mutex::new(HashSet::new()),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashSet<(i64, DeviceId)>> {
        // Every operation on the set is a single insert, remove or read.
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs the scheduler until `shutdown` fires.
pub async fn run(deployer: Arc<Deployer>, mut shutdown: watch::Receiver<bool>) {
    // Attempts a previous process left open were cut off with it: their devices go back
    // to pending, and the next offer resumes from the chunks the device kept.
    match deployer.link.store.release_all_devices().await {
        Ok(0) => {}
        Ok(count) => info!(
            count,
            "resuming deployment attempts interrupted by a restart"
        ),
        Err(error) => warn!(error = format!("{error:#}"), "could not release attempts"),
    }
    let mut ticker = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(error) = tick(&deployer).await {
            warn!(
                error = format!("{error:#}"),
                "deployment scheduler pass failed"
            );
        }
    }
}

/// One pass over every active deployment.
async fn tick(deployer: &Arc<Deployer>) -> anyhow::Result<()> {
    let store = &deployer.link.store;
    let now = unix_now();
    let deployments = store.active_deployments().await?;
    // Group windows are read on every pass, in each device's zone as last reported, so a
    // changed window or a device's new zone counts from the next pass.
    let open_windows = if deployments.iter().any(|d| d.group_windows) {
        crate::fleet::targets::open_windows(store, now).await?
    } else {
        HashSet::new()
    };
    for deployment in deployments {
        let devices = store.deployment_devices(deployment.id).await?;
        let decision = plan::decide(&deployment, &devices, now, &open_windows);
        match decision {
            plan::Decision::Wait => {}
            plan::Decision::Finish(summary) => {
                let entry = NewEntry::new(Actor::System, "deployment.finish")
                    .ticket(Some(deployment.ticket));
                store
                    .set_deployment_status(deployment.id, "finished", Some(&summary), entry)
                    .await?;
                info!(deployment = deployment.id, summary, "deployment finished");
            }
            plan::Decision::Pause(reason) => {
                let entry = NewEntry::new(Actor::System, "deployment.pause")
                    .ticket(Some(deployment.ticket))
                    .outcome(Outcome::Refused(reason.clone()));
                store
                    .set_deployment_status(deployment.id, "paused", Some(&reason), entry)
                    .await?;
                info!(
                    deployment = deployment.id,
                    reason, "deployment paused by its gate"
                );
            }
            plan::Decision::Expire(devices) => {
                for device in devices {
                    skip_past_deadline(deployer, &deployment, &device, now).await?;
                }
            }
            plan::Decision::Send(candidates) => {
                if let Some(reason) = recheck::refusal(store, &deployment, &candidates).await? {
                    let reason = format!("refused before sending: {reason}");
                    let entry = NewEntry::new(Actor::System, "deployment.pause")
                        .ticket(Some(deployment.ticket))
                        .outcome(Outcome::Refused(reason.clone()));
                    store
                        .set_deployment_status(deployment.id, "paused", Some(&reason), entry)
                        .await?;
                    info!(deployment = deployment.id, reason, "deployment paused");
                    continue;
                }
                for device in candidates {
                    start_transfer(deployer, &deployment, device);
                }
            }
        }
    }
    Ok(())
}

/// Starts a transfer to `device` when it is online and a transfer slot is free.
fn start_transfer(
    deployer: &Arc<Deployer>,
    deployment: &crate::store::DeploymentRow,
    device: DeviceId,
) {
    let Some(connection) = deployer.link.registry.connection(&device) else {
        return;
    };
    {
        let mut running = deployer.running();
        let limit = usize::try_from(deployer.config.max_transfers.max(1)).unwrap_or(usize::MAX);
        if running.len() >= limit || !running.insert((deployment.id, device.clone())) {
            return;
        }
    }
    debug!(deployment = deployment.id, %device, "starting a transfer");
    let deployer = deployer.clone();
    let deployment = deployment.clone();
    tokio::spawn(async move {
        transfer::run(&deployer, &deployment, &device, connection).await;
        deployer.running().remove(&(deployment.id, device));
    });
}

async fn skip_past_deadline(
    deployer: &Deployer,
    deployment: &crate::store::DeploymentRow,
    device: &DeviceId,
    now: i64,
) -> anyhow::Result<()> {
    let detail = "the deployment's deadline passed before the device could be reached";
    let result = DeviceResult {
        outcome: "skipped-deadline".to_owned(),
        detail: detail.to_owned(),
        retry_at: None,
    };
    let entry = NewEntry::new(Actor::System, "package.install")
        .ticket(Some(deployment.ticket))
        .device(Some(device.clone()))
        .params(serde_json::json!({
            "deployment": deployment.id,
            "package": deployment.package,
            "version": deployment.version,
            "result": "skipped-deadline",
        }))
        .outcome(Outcome::Failed(detail.to_owned()));
    deployer
        .link
        .store
        .finish_device(deployment.id, device, &result, entry, now)
        .await
}
