//! Deployments on the device: a console opens a stream with a signed assignment; the agent
//! checks it, fetches (or resumes) the package in chunks, verifies it against the
//! publisher's metadata from the pinned root, installs it with the package transaction and
//! reports the outcome. Every step is in the durable audit log before the next begins.

pub mod assignment;
pub mod files;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use hotline_packages::install::{
    Host, InstallError, InstallOutcome, Installer, InstallerConfig, Reboot,
};
use hotline_packages::names::PackagePath;
use hotline_packages::trust::{MetadataLimits, load_state, save_state};
use hotline_packages::{Limits, Package};
use hotline_protocol::DeviceId;
use hotline_protocol::codec::{Wire, encode_frame};
use hotline_protocol::deploy::{DEPLOY_FRAME_LIMIT, DeployDown, DeployUp, Offer, Outcome};
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::audit::{Audit, Outcome as AuditOutcome};
use crate::wire::FrameReader;
use assignment::AssignmentState;
use files::ChunkStore;

/// Largest package the agent accepts to assemble in memory.
const MAX_PACKAGE: u64 = 2 * 1024 * 1024 * 1024;

/// Where and how this device installs.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// The agent's state directory (trust.json, assignment state, chunks, install journal).
    pub state: PathBuf,
    /// The directory package payload paths are relative to (`/` on a real device).
    pub install_root: PathBuf,
    /// Variables for every package step, from the agent's own configuration.
    pub environment: Vec<(String, String)>,
}

impl DeployOptions {
    fn deploy_dir(&self) -> PathBuf {
        self.state.join("deploy")
    }

    fn packages_dir(&self) -> PathBuf {
        self.state.join("packages")
    }
}

/// Serves one deployment stream the console opened.
pub async fn serve(
    options: Arc<DeployOptions>,
    device: DeviceId,
    audit: Option<Arc<Audit>>,
    (mut send, recv): (quinn::SendStream, quinn::RecvStream),
) {
    let mut reader = FrameReader::new(recv, DEPLOY_FRAME_LIMIT);
    let result = run(&options, &device, audit.as_deref(), &mut reader, &mut send).await;
    match result {
        Ok(Some(report)) => {
            if let Ok(frame) = encode_frame(&report) {
                send.write_all(&frame).await.ok();
            }
            send.finish().ok();
        }
        // The stream was cut: the chunks kept so far wait for the next offer.
        Ok(None) => {}
        Err(error) => warn!(error = format!("{error:#}"), "deployment stream failed"),
    }
}

/// Returns the report to send, or `None` when the stream was cut before there was one.
async fn run(
    options: &DeployOptions,
    device: &DeviceId,
    audit: Option<&Audit>,
    reader: &mut FrameReader,
    send: &mut quinn::SendStream,
) -> Result<Option<DeployUp>> {
    let Some(payload) = reader.next_frame().await.ok().flatten() else {
        return Ok(None);
    };
    let offer = match DeployDown::decode_payload(&payload) {
        Ok(DeployDown::Offer(offer)) => offer,
        Ok(DeployDown::Chunk { .. }) => bail!("a deploy stream began with a chunk"),
        Err(error) => bail!("undecodable offer: {error}"),
    };
    let deploy_dir = options.deploy_dir();
    files_dir(&deploy_dir)?;
    let ticket = Some(offer.assignment.ticket);
    let params = json!({
        "deployment": offer.assignment.deployment,
        "package": offer.assignment.package,
        "version": offer.assignment.version,
        "sha256": hex::encode(offer.assignment.sha256),
        "nonce": hex::encode(offer.assignment.nonce),
    });

    // 1. The assignment: refused ones are recorded and reported, never acted on.
    if let Err(reason) = offer.check_limits() {
        return Ok(Some(refuse(audit, &params, ticket, &reason)?));
    }
    match AssignmentState::in_dir(&deploy_dir).accept(&offer, device, unix_now()) {
        Ok(pinned) => {
            if pinned {
                record(
                    audit,
                    "deploy.key-pinned",
                    &json!({ "key": hex::encode(offer.console_key) }),
                    ticket,
                    AuditOutcome::Ok,
                )?;
            }
            record(
                audit,
                "deploy.assignment",
                &params,
                ticket,
                AuditOutcome::Ok,
            )?;
        }
        Err(error) => return Ok(Some(refuse(audit, &params, ticket, &error.to_string())?)),
    }

    // 2. A deployment this device already finished is reported again, not installed again.
    let done_file = deploy_dir.join(format!("done-{}.json", offer.assignment.deployment));
    if let Ok(bytes) = std::fs::read(&done_file)
        && let Ok(report) = serde_json::from_slice::<(Outcome, String)>(&bytes)
    {
        info!(
            deployment = offer.assignment.deployment,
            "already finished; reporting again"
        );
        return Ok(Some(DeployUp::report(report.0, &report.1)));
    }

    // 3. The bytes: resume after the chunks kept whole, check each, then the whole digest.
    if offer.assignment.length > MAX_PACKAGE {
        return Ok(Some(refuse(
            audit,
            &params,
            ticket,
            "package larger than this agent accepts",
        )?));
    }
    let chunks = ChunkStore::open(
        &deploy_dir,
        &offer.assignment.sha256,
        offer.chunk_size,
        offer.assignment.length,
    )
    .context("opening the chunk store")?;
    let from = chunks.resume_from();
    record(
        audit,
        "deploy.fetch",
        &json!({ "deployment": offer.assignment.deployment, "from": from, "chunks": chunks.count() }),
        ticket,
        AuditOutcome::Ok,
    )?;
    if from < chunks.count() {
        send.write_all(&encode_frame(&DeployUp::Fetch { from })?)
            .await
            .context("asking for chunks")?;
        for index in from..chunks.count() {
            let Some(payload) = reader.next_frame().await.ok().flatten() else {
                return Ok(None);
            };
            match DeployDown::decode_payload(&payload) {
                Ok(DeployDown::Chunk {
                    index: got,
                    sha256,
                    data,
                }) if got == index => {
                    if <[u8; 32]>::from(Sha256::digest(&data)) != sha256 {
                        bail!("chunk {index} does not match its SHA-256");
                    }
                    chunks
                        .put(index, &data)
                        .with_context(|| format!("keeping chunk {index}"))?;
                }
                _ => bail!("expected chunk {index}"),
            }
        }
    }
    let bytes = chunks.assemble().context("assembling the package")?;
    if <[u8; 32]>::from(Sha256::digest(&bytes)) != offer.assignment.sha256 {
        chunks.remove();
        let reason = "the assembled package does not have the assigned SHA-256";
        return Ok(Some(finish(
            audit,
            &params,
            ticket,
            &done_file,
            Outcome::RefusedVerification,
            reason,
        )?));
    }

    // 4. Verify and install off the async threads: both read and write files and run steps.
    let options = options.clone();
    let verified = {
        let offer = offer.clone();
        tokio::task::spawn_blocking(move || install(&options, &offer, bytes))
            .await
            .context("the install task panicked")?
    };
    chunks.remove();
    let (outcome, detail) = verified;
    Ok(Some(finish(
        audit, &params, ticket, &done_file, outcome, &detail,
    )?))
}

/// Verifies the bytes against the publisher's metadata and installs them.
fn install(options: &DeployOptions, offer: &Offer, bytes: Vec<u8>) -> (Outcome, String) {
    let now = SystemTime::now();
    let refused = |detail: String| (Outcome::RefusedVerification, detail);
    let mut trust = match load_state(&options.state, MetadataLimits::default()) {
        Ok(Some(set)) => set,
        Ok(None) => {
            return refused("no publisher root is pinned (hotline-agent trust-root)".into());
        }
        Err(error) => return refused(format!("trust state: {error}")),
    };
    let fetch = |name: &str| {
        offer
            .metadata
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.bytes.clone())
    };
    if let Err(error) = trust.refresh(now, fetch) {
        return refused(format!("publisher metadata: {error}"));
    }
    if let Err(error) = save_state(&options.state, &trust) {
        return (Outcome::Failed, format!("saving the trust state: {error}"));
    }
    let name = match PackagePath::new(&offer.assignment.target) {
        Ok(name) => name,
        Err(error) => return refused(format!("target name: {error}")),
    };
    let target = match trust.verify_target(&name, bytes, now) {
        Ok(target) => target,
        Err(error) => return refused(format!("target {name}: {error}")),
    };
    let package = match Package::from_verified(target, &Limits::default()) {
        Ok(package) => package,
        Err(error) => return refused(format!("package {name}: {error}")),
    };
    let manifest = package.package().manifest();
    if manifest.name.to_string() != offer.assignment.package
        || manifest.version.to_string() != offer.assignment.version
    {
        return refused(format!(
            "the signed package is {} {}, not the assigned {} {}",
            manifest.name, manifest.version, offer.assignment.package, offer.assignment.version
        ));
    }

    let config = InstallerConfig {
        root: options.install_root.clone(),
        state_dir: options.packages_dir(),
        environment: options.environment.clone(),
        host: Host::current(),
        limits: Limits::default(),
    };
    let result = Installer::new(config).and_then(|installer| installer.install(&package));
    match result {
        Ok(InstallOutcome::Installed {
            reboot: Reboot::NotNeeded,
        }) => (Outcome::Installed, String::new()),
        Ok(InstallOutcome::Installed { .. }) => {
            (Outcome::RebootRequired, "a step asked for a reboot".into())
        }
        Ok(InstallOutcome::AlreadyInstalled) => (
            Outcome::AlreadyPresent,
            "the detection rule already finds it".into(),
        ),
        Ok(InstallOutcome::RetryLater) => (
            Outcome::RetryLater,
            "another installation is running (1618)".into(),
        ),
        Err(error @ InstallError::Requirement(_)) => {
            (Outcome::SkippedRequirement, error.to_string())
        }
        Err(error) => (Outcome::Failed, format!("{:#}", anyhow::Error::new(error))),
    }
}

fn refuse(
    audit: Option<&Audit>,
    params: &serde_json::Value,
    ticket: Option<u64>,
    reason: &str,
) -> Result<DeployUp> {
    info!(reason, "refused an assignment");
    record(
        audit,
        "deploy.assignment",
        params,
        ticket,
        AuditOutcome::Refused(reason.to_owned()),
    )?;
    Ok(DeployUp::report(Outcome::RefusedAssignment, reason))
}

/// Records the outcome, remembers it for the deployment (retry-later excepted, which the
/// console tries again), and returns the report.
fn finish(
    audit: Option<&Audit>,
    params: &serde_json::Value,
    ticket: Option<u64>,
    done_file: &Path,
    outcome: Outcome,
    detail: &str,
) -> Result<DeployUp> {
    let audit_outcome = match outcome {
        _ if outcome.is_success() => AuditOutcome::Ok,
        Outcome::RefusedVerification | Outcome::RefusedAssignment => {
            AuditOutcome::Refused(detail.to_owned())
        }
        _ => AuditOutcome::Failed(detail.to_owned()),
    };
    let mut params = params.clone();
    params["result"] = json!(outcome.as_str());
    record(audit, "deploy.result", &params, ticket, audit_outcome)?;
    if outcome != Outcome::RetryLater {
        let bytes = serde_json::to_vec(&(outcome, detail)).unwrap_or_default();
        files::write_private(done_file, &bytes)
            .with_context(|| format!("writing {}", done_file.display()))?;
    }
    info!(
        outcome = outcome.as_str(),
        detail, "deployment step finished"
    );
    Ok(DeployUp::report(outcome, detail))
}

fn record(
    audit: Option<&Audit>,
    action: &str,
    params: &serde_json::Value,
    ticket: Option<u64>,
    outcome: AuditOutcome,
) -> Result<()> {
    if let Some(audit) = audit {
        audit
            .append(action, params, ticket, outcome)
            .with_context(|| format!("recording {action} in the audit log"))?;
    }
    Ok(())
}

fn files_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
