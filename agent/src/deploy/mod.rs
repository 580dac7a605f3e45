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
use hotline_packages::delta::PatchLimits;
use hotline_packages::install::{
    Host, InstallError, InstallOutcome, Installer, InstallerConfig, Reboot,
};
use hotline_packages::names::{PackageName, PackagePath};
use hotline_packages::trust::{MetadataLimits, TrustedSet, VerifiedTarget, load_state, save_state};
use hotline_packages::{Limits, Package};
use hotline_protocol::DeviceId;
use hotline_protocol::codec::{Wire, encode_frame};
use hotline_protocol::deploy::{
    DEPLOY_FRAME_LIMIT, DeployDown, DeployUp, Offer, Outcome, PatchOffer,
};
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
    // 3a. A patch from the installed version, when one is offered for what this device
    // has. Anything wrong with it and the full package is fetched instead.
    if let Some((index, patch)) = choose_patch(options, &offer) {
        let store = ChunkStore::open(&deploy_dir, &patch.sha256, offer.chunk_size, patch.length)
            .context("opening the chunk store")?;
        let from = store.resume_from();
        let fetch_params = json!({
            "deployment": offer.assignment.deployment,
            "patch": patch.target,
            "from": from,
            "chunks": store.count(),
        });
        record(
            audit,
            "deploy.fetch",
            &fetch_params,
            ticket,
            AuditOutcome::Ok,
        )?;
        let request = DeployUp::FetchPatch { patch: index, from };
        if !fetch(reader, send, &store, request).await? {
            return Ok(None);
        }
        let bytes = store.assemble().context("assembling the patch")?;
        store.remove();
        let (options, offer, patch) = (options.clone(), offer.clone(), patch.clone());
        let attempt =
            tokio::task::spawn_blocking(move || install_patch(&options, &offer, &patch, bytes))
                .await
                .context("the install task panicked")?;
        match attempt {
            Ok((outcome, detail)) => {
                let done = finish(audit, &params, ticket, &done_file, outcome, &detail)?;
                return Ok(Some(done));
            }
            Err(reason) => {
                let discarded = json!({ "deployment": params["deployment"], "reason": reason });
                let failed = AuditOutcome::Failed(reason.clone());
                record(audit, "deploy.patch-discarded", &discarded, ticket, failed)?;
            }
        }
    }

    // 3b. The full package.
    let chunks = ChunkStore::open(
        &deploy_dir,
        &offer.assignment.sha256,
        offer.chunk_size,
        offer.assignment.length,
    )
    .context("opening the chunk store")?;
    let from = chunks.resume_from();
    let fetch_params = json!({
        "deployment": offer.assignment.deployment,
        "from": from,
        "chunks": chunks.count(),
    });
    record(
        audit,
        "deploy.fetch",
        &fetch_params,
        ticket,
        AuditOutcome::Ok,
    )?;
    if from < chunks.count() && !fetch(reader, send, &chunks, DeployUp::Fetch { from }).await? {
        return Ok(None);
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

/// Asks for chunks with `request` and keeps each, checked against its SHA-256. Returns
/// false when the stream was cut first.
async fn fetch(
    reader: &mut FrameReader,
    send: &mut quinn::SendStream,
    chunks: &ChunkStore,
    request: DeployUp,
) -> Result<bool> {
    let from = match request {
        DeployUp::Fetch { from } | DeployUp::FetchPatch { from, .. } => from,
        DeployUp::Report { .. } => bail!("a report is not a fetch"),
    };
    send.write_all(&encode_frame(&request)?)
        .await
        .context("asking for chunks")?;
    for index in from..chunks.count() {
        let Some(payload) = reader.next_frame().await.ok().flatten() else {
            return Ok(false);
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
    Ok(true)
}

/// The offered patch that applies to the installed version of the assigned package.
fn choose_patch(options: &DeployOptions, offer: &Offer) -> Option<(u32, PatchOffer)> {
    if offer.patches.is_empty() {
        return None;
    }
    let installer = Installer::new(installer_config(options)).ok()?;
    let name = PackageName::new(&offer.assignment.package).ok()?;
    installer.installed(&name).ok()??;
    let tar = installer.installed_tar(&name).ok()?;
    let installed: [u8; 32] = Sha256::digest(&tar).into();
    let (index, patch) = offer
        .patches
        .iter()
        .enumerate()
        .find(|(_, patch)| patch.from_tar_sha256 == installed)?;
    Some((u32::try_from(index).ok()?, patch.clone()))
}

/// Rebuilds the package from the installed tar and a patch, both checked against the
/// publisher's metadata, and installs it. `Err` means the patch was unusable and nothing
/// was installed: the caller fetches the full package.
fn install_patch(
    options: &DeployOptions,
    offer: &Offer,
    patch: &PatchOffer,
    bytes: Vec<u8>,
) -> Result<(Outcome, String), String> {
    let now = SystemTime::now();
    let trust = trusted(options, offer).map_err(|(_, detail)| detail)?;
    let patch_name = PackagePath::new(&patch.target).map_err(|e| e.to_string())?;
    let verified_patch = trust
        .verify_target(&patch_name, bytes, now)
        .map_err(|e| format!("patch {patch_name}: {e}"))?;
    let installer = Installer::new(installer_config(options)).map_err(|e| e.to_string())?;
    let name = PackageName::new(&offer.assignment.package).map_err(|e| e.to_string())?;
    let old = installer.installed_tar(&name).map_err(|e| e.to_string())?;
    let limits = PatchLimits::default();
    let tar = hotline_packages::delta::apply(&old, verified_patch.bytes(), &limits)
        .map_err(|e| format!("applying {patch_name}: {e}"))?;
    let target_name = PackagePath::new(&offer.assignment.target).map_err(|e| e.to_string())?;
    // The rebuilt tar must be exactly the one the publisher signed for the new package.
    let target = trust
        .verify_patched_target(&target_name, tar, now)
        .map_err(|e| format!("patched result: {e}"))?;
    Ok(install_verified(options, offer, target))
}

/// The publisher's metadata, refreshed from the pinned root with the offered files.
fn trusted(options: &DeployOptions, offer: &Offer) -> Result<TrustedSet, (Outcome, String)> {
    let refused = |detail: String| (Outcome::RefusedVerification, detail);
    let mut trust = match load_state(&options.state, MetadataLimits::default()) {
        Ok(Some(set)) => set,
        Ok(None) => {
            let detail = "no publisher root is pinned (hotline-agent trust-root)";
            return Err(refused(detail.into()));
        }
        Err(error) => return Err(refused(format!("trust state: {error}"))),
    };
    let fetch = |name: &str| {
        offer
            .metadata
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.bytes.clone())
    };
    if let Err(error) = trust.refresh(SystemTime::now(), fetch) {
        return Err(refused(format!("publisher metadata: {error}")));
    }
    if let Err(error) = save_state(&options.state, &trust) {
        return Err((Outcome::Failed, format!("saving the trust state: {error}")));
    }
    Ok(trust)
}

fn installer_config(options: &DeployOptions) -> InstallerConfig {
    InstallerConfig {
        root: options.install_root.clone(),
        state_dir: options.packages_dir(),
        environment: options.environment.clone(),
        host: Host::current(),
        limits: Limits::default(),
    }
}

/// Verifies the full package's bytes against the publisher's metadata and installs them.
fn install(options: &DeployOptions, offer: &Offer, bytes: Vec<u8>) -> (Outcome, String) {
    let trust = match trusted(options, offer) {
        Ok(trust) => trust,
        Err(refusal) => return refusal,
    };
    let name = match PackagePath::new(&offer.assignment.target) {
        Ok(name) => name,
        Err(error) => {
            return (
                Outcome::RefusedVerification,
                format!("target name: {error}"),
            );
        }
    };
    match trust.verify_target(&name, bytes, SystemTime::now()) {
        Ok(target) => install_verified(options, offer, target),
        Err(error) => (
            Outcome::RefusedVerification,
            format!("target {name}: {error}"),
        ),
    }
}

/// Checks that the verified package is the assigned package and version, and installs it.
fn install_verified(
    options: &DeployOptions,
    offer: &Offer,
    target: VerifiedTarget,
) -> (Outcome, String) {
    let refused = |detail: String| (Outcome::RefusedVerification, detail);
    let name = target.name().clone();
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

    let result =
        Installer::new(installer_config(options)).and_then(|installer| installer.install(&package));
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
