//! One attempt to deploy a package to one device: sign a fresh assignment, open a stream on
//! the device's connection, offer it with the publisher's metadata, send the chunks from the
//! one the device asks for, and record the device's report on the ticket.
//!
//! A cut stream is not a result: the device goes back to pending and the next attempt, with
//! a new nonce, resumes after the chunks the device kept.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use hotline_protocol::DeviceId;
use hotline_protocol::codec::{Wire, encode_frame};
use hotline_protocol::deploy::{
    Assignment, DEPLOY_FRAME_LIMIT, DeployDown, DeployUp, MAX_PATCHES, MetadataFile, Offer,
    Outcome, PatchOffer,
};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use super::Deployer;
use super::repository::{blob_path, read_chunk};
use crate::audit::{Actor, NewEntry};
use crate::link::wire::FrameReader;
use crate::store::{DeploymentRow, DeviceResult, unix_now};

/// How long a device may take from the last chunk to its report (install steps have their
/// own timeouts on the device; this only bounds a device that went quiet).
const REPORT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A shared limit on bytes per second over all transfers: each chunk books its share of
/// time on one timeline, so the sum of all streams stays under the limit.
#[derive(Debug)]
pub struct RateLimit {
    bytes_per_sec: u64,
    next: Mutex<Instant>,
}

impl RateLimit {
    pub fn new(bytes_per_sec: u64) -> RateLimit {
        RateLimit {
            bytes_per_sec,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits until `bytes` more may be sent.
    pub async fn take(&self, bytes: usize) {
        if self.bytes_per_sec == 0 {
            return;
        }
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
        let start = {
            let mut next = self.next.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + cost;
            start
        };
        tokio::time::sleep_until(start.into()).await;
    }
}

/// Runs one attempt to its end and records what came of it.
pub(super) async fn run(
    deployer: &Deployer,
    deployment: &DeploymentRow,
    device: &DeviceId,
    connection: quinn::Connection,
) {
    let result = attempt(deployer, deployment, device, connection).await;
    let store = &deployer.link.store;
    let recorded = match result {
        Ok(Some((outcome, detail))) => record(deployer, deployment, device, outcome, &detail).await,
        Ok(None) => Ok(()),
        Err(error) => {
            info!(%device, deployment = deployment.id, error = format!("{error:#}"), "transfer cut off; will resume");
            store
                .release_device(deployment.id, device, unix_now())
                .await
        }
    };
    if let Err(error) = recorded {
        warn!(
            error = format!("{error:#}"),
            "could not record a transfer's end"
        );
    }
}

/// Returns the device's report, `None` when another attempt holds the device, or an error
/// when the stream was cut.
async fn attempt(
    deployer: &Deployer,
    deployment: &DeploymentRow,
    device: &DeviceId,
    connection: quinn::Connection,
) -> Result<Option<(Outcome, String)>> {
    let store = &deployer.link.store;
    let now = unix_now();
    let assignment = assignment(deployer, deployment, device, now)?;
    let nonce = hex::encode(assignment.nonce);
    let expires = i64::try_from(assignment.expires_at).unwrap_or(i64::MAX);
    if !store
        .claim_device(deployment.id, device, &nonce, expires, now)
        .await?
    {
        return Ok(None);
    }

    let metadata = store
        .metadata_files()
        .await?
        .into_iter()
        .filter(|(name, _)| name != "root.json")
        .map(|(name, bytes)| MetadataFile { name, bytes })
        .collect();
    let patches = patches(deployer, deployment).await?;
    let offer = Offer {
        patches: patches.iter().map(|(offer, _)| offer.clone()).collect(),
        signature: deployer.key.sign(&assignment)?,
        console_key: deployer.key.public(),
        metadata,
        chunk_size: deployer.config.chunk_size(),
        assignment,
    };
    let chunks = offer.chunk_count();
    let (mut send, recv) = connection
        .open_bi()
        .await
        .context("opening a deploy stream")?;
    let frame = encode_frame(&DeployDown::Offer(Box::new(offer))).context("encoding the offer")?;
    send.write_all(&frame).await.context("sending the offer")?;
    let mut reader = FrameReader::new(recv, DEPLOY_FRAME_LIMIT);
    debug!(%device, deployment = deployment.id, nonce, "offered an assignment");

    let mut fetched = false;
    let mut patch_fetched = false;
    loop {
        let payload = tokio::time::timeout(REPORT_TIMEOUT, reader.next_frame())
            .await
            .map_err(|_| anyhow!("the device sent nothing for {REPORT_TIMEOUT:?}"))?
            .context("reading the deploy stream")?
            .context("the device finished the deploy stream without a report")?;
        match DeployUp::decode_payload(&payload).context("decoding a deploy reply")? {
            DeployUp::Fetch { from } => {
                // One fetch per stream: a device asking again is looping or hostile.
                if fetched || from > chunks {
                    bail!("the device asked for chunk {from} of {chunks}, or asked twice");
                }
                fetched = true;
                let blob = (deployment.sha256.as_str(), chunks);
                send_chunks(deployer, (deployment, device), &mut send, blob, from).await?;
            }
            DeployUp::FetchPatch { patch, from } => {
                let chosen = usize::try_from(patch).ok().and_then(|i| patches.get(i));
                let Some((offered, sha256)) = chosen else {
                    bail!("the device asked for patch {patch}, which was not offered");
                };
                let count = offered
                    .length
                    .div_ceil(u64::from(deployer.config.chunk_size()));
                if patch_fetched || fetched || from > count {
                    bail!("the device asked for patch chunk {from} of {count}, or asked twice");
                }
                patch_fetched = true;
                let blob = (sha256.as_str(), count);
                send_chunks(deployer, (deployment, device), &mut send, blob, from).await?;
            }
            DeployUp::Report { outcome, detail } => {
                send.finish().ok();
                return Ok(Some((outcome, detail)));
            }
        }
    }
}

/// Patches the repository holds towards the deployment's package, with their blob hashes.
async fn patches(
    deployer: &Deployer,
    deployment: &DeploymentRow,
) -> Result<Vec<(PatchOffer, String)>> {
    let store = &deployer.link.store;
    let Some(tar) = store
        .target(&deployment.target)
        .await?
        .and_then(|t| t.unpacked_sha256)
    else {
        return Ok(Vec::new());
    };
    let mut offers = Vec::new();
    for patch in store.patches_to(&tar).await?.into_iter().take(MAX_PATCHES) {
        let (mut sha256, mut from) = ([0u8; 32], [0u8; 32]);
        let from_hex = patch.patch_from.as_deref().unwrap_or_default();
        if hex::decode_to_slice(&patch.sha256, &mut sha256).is_err()
            || hex::decode_to_slice(from_hex, &mut from).is_err()
        {
            continue;
        }
        let offer = PatchOffer {
            target: patch.name,
            sha256,
            length: u64::try_from(patch.length).unwrap_or_default(),
            from_tar_sha256: from,
        };
        offers.push((offer, patch.sha256));
    }
    Ok(offers)
}

fn assignment(
    deployer: &Deployer,
    deployment: &DeploymentRow,
    device: &DeviceId,
    now: i64,
) -> Result<Assignment> {
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(&deployment.sha256, &mut sha256).context("stored digest is not hex")?;
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).context("reading the OS random source")?;
    let ttl = deployer
        .config
        .assignment_ttl_secs
        .clamp(60, hotline_protocol::deploy::MAX_ASSIGNMENT_LIFETIME_SECS);
    Ok(Assignment {
        device: device.clone(),
        deployment: u64::try_from(deployment.id).unwrap_or_default(),
        ticket: u64::try_from(deployment.ticket.0).unwrap_or_default(),
        package: deployment.package.clone(),
        version: deployment.version.clone(),
        target: deployment.target.clone(),
        sha256,
        length: u64::try_from(deployment.length).unwrap_or_default(),
        nonce,
        expires_at: u64::try_from(now).unwrap_or_default() + ttl,
    })
}

/// Sends chunks `from..chunks`, counting each in the database as it goes, so the count
/// survives a cut (it is what shows how much a resume saved).
async fn send_chunks(
    deployer: &Deployer,
    (deployment, device): (&DeploymentRow, &DeviceId),
    send: &mut quinn::SendStream,
    (sha256, chunks): (&str, u64),
    from: u64,
) -> Result<()> {
    let path = blob_path(&deployer.dir, sha256);
    let size = deployer.config.chunk_size();
    for index in from..chunks {
        let data = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || read_chunk(&path, index, size))
                .await
                .context("reading a chunk")??
        };
        deployer.rate.take(data.len()).await;
        let sha256: [u8; 32] = Sha256::digest(&data).into();
        let frame = encode_frame(&DeployDown::Chunk {
            index,
            sha256,
            data,
        })
        .context("encoding a chunk")?;
        send.write_all(&frame).await.context("sending a chunk")?;
        deployer
            .link
            .store
            .add_chunks_sent(deployment.id, device, 1)
            .await?;
    }
    Ok(())
}

/// Writes the device's result and its audit entry on the ticket; a "retry later" goes back
/// to pending with a time, until the attempts run out.
async fn record(
    deployer: &Deployer,
    deployment: &DeploymentRow,
    device: &DeviceId,
    outcome: Outcome,
    detail: &str,
) -> Result<()> {
    let store = &deployer.link.store;
    let now = unix_now();
    let attempts = store
        .deployment_devices(deployment.id)
        .await?
        .into_iter()
        .find(|d| d.device == device.as_str())
        .map_or(0, |d| d.attempts);
    let retry =
        outcome == Outcome::RetryLater && attempts < i64::from(deployer.config.max_attempts.max(1));
    let retry_at = retry.then(|| now + i64::try_from(deployer.config.retry_secs).unwrap_or(0));
    let audit_outcome = match outcome {
        _ if outcome.is_success() => crate::audit::Outcome::Ok,
        Outcome::RefusedAssignment | Outcome::RefusedVerification => {
            crate::audit::Outcome::Refused(detail.to_owned())
        }
        _ => crate::audit::Outcome::Failed(detail.to_owned()),
    };
    let entry = NewEntry::new(Actor::Device(device.clone()), "package.install")
        .ticket(Some(deployment.ticket))
        .device(Some(device.clone()))
        .params(serde_json::json!({
            "deployment": deployment.id,
            "package": deployment.package,
            "version": deployment.version,
            "result": outcome.as_str(),
            "attempt": attempts,
            "retry_at": retry_at,
        }))
        .outcome(audit_outcome);
    let result = DeviceResult {
        outcome: outcome.as_str().to_owned(),
        detail: detail.to_owned(),
        retry_at,
    };
    store
        .finish_device(deployment.id, device, &result, entry, now)
        .await?;
    info!(%device, deployment = deployment.id, outcome = outcome.as_str(), detail, "device reported");
    Ok(())
}
