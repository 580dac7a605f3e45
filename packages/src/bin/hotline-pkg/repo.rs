//! Repository commands: create and rotate roots, start a repository, publish targets, refresh
//! the timestamp, and verify a target the way an agent does.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use hotline_packages::Package;
use hotline_packages::limits::Limits;
use hotline_packages::names::PackagePath;
use hotline_packages::publish::{Lifetimes, Repository, RoleSigners, new_root};
use hotline_packages::trust::{
    MetadataLimits, RoleName, SigningKey, TrustedSet, envelope_bytes, sign,
};

use crate::keys::{load_key, load_keys, load_public};
use crate::output;

#[derive(Debug, Args)]
pub(crate) struct RootArgs {
    /// Root metadata file to write.
    #[arg(long)]
    out: PathBuf,
    /// Root version: 1 for a new repository, N+1 for a rotation.
    #[arg(long, default_value_t = 1)]
    version: u64,
    /// How long the root stays valid (e.g. 365d).
    #[arg(long, default_value = "365d", value_parser = humantime::parse_duration)]
    expires: Duration,
    #[arg(long = "root-key", required = true)]
    root_keys: Vec<PathBuf>,
    #[arg(long, default_value_t = 1)]
    root_threshold: u32,
    #[arg(long = "targets-key", required = true)]
    targets_keys: Vec<PathBuf>,
    #[arg(long, default_value_t = 1)]
    targets_threshold: u32,
    #[arg(long = "snapshot-key", required = true)]
    snapshot_keys: Vec<PathBuf>,
    #[arg(long, default_value_t = 1)]
    snapshot_threshold: u32,
    #[arg(long = "timestamp-key", required = true)]
    timestamp_keys: Vec<PathBuf>,
    #[arg(long, default_value_t = 1)]
    timestamp_threshold: u32,
    /// Private keys to sign with now (others can add theirs later with `sign`).
    #[arg(long = "sign")]
    signers: Vec<PathBuf>,
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    #[arg(long)]
    repo: PathBuf,
    /// Signed root metadata, version 1.
    #[arg(long)]
    root: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    #[arg(long)]
    repo: PathBuf,
    /// Signed root metadata, version N+1.
    #[arg(long)]
    root: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    #[arg(long)]
    repo: PathBuf,
    /// Files to publish; each is named in the repository by its file name.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long = "targets-key", required = true)]
    targets_keys: Vec<PathBuf>,
    #[arg(long = "snapshot-key", required = true)]
    snapshot_keys: Vec<PathBuf>,
    #[arg(long = "timestamp-key", required = true)]
    timestamp_keys: Vec<PathBuf>,
    #[arg(long, default_value = "365d", value_parser = humantime::parse_duration)]
    targets_expires: Duration,
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    snapshot_expires: Duration,
    #[arg(long, default_value = "1d", value_parser = humantime::parse_duration)]
    timestamp_expires: Duration,
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct TimestampArgs {
    #[arg(long)]
    repo: PathBuf,
    #[arg(long = "timestamp-key", required = true)]
    timestamp_keys: Vec<PathBuf>,
    #[arg(long, default_value = "1d", value_parser = humantime::parse_duration)]
    expires: Duration,
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[arg(long)]
    repo: PathBuf,
    /// The root a device would have pinned.
    #[arg(long)]
    trusted_root: PathBuf,
    /// Target name in the repository.
    target: String,
}

pub(crate) fn root(args: &RootArgs) -> Result<()> {
    let mut roles = BTreeMap::new();
    for (role, paths, threshold) in [
        (RoleName::Root, &args.root_keys, args.root_threshold),
        (
            RoleName::Targets,
            &args.targets_keys,
            args.targets_threshold,
        ),
        (
            RoleName::Snapshot,
            &args.snapshot_keys,
            args.snapshot_threshold,
        ),
        (
            RoleName::Timestamp,
            &args.timestamp_keys,
            args.timestamp_threshold,
        ),
    ] {
        let publics = paths
            .iter()
            .map(|path| load_public(path))
            .collect::<Result<Vec<_>>>()?;
        roles.insert(role, (publics, threshold));
    }
    let root = new_root(args.version, SystemTime::now() + args.expires, &roles);
    let keys = load_keys(&args.signers, args.passphrase_file.as_deref())?;
    let envelope = sign(&root, &keys.iter().collect::<Vec<_>>())?;
    write(&args.out, &envelope_bytes(&envelope))?;
    output::line(&format!(
        "root version {} written to {} with {} signature(s)",
        args.version,
        args.out.display(),
        keys.len()
    ));
    Ok(())
}

pub(crate) fn init(args: &InitArgs) -> Result<()> {
    let bytes = read(&args.root)?;
    let set = TrustedSet::pin(&bytes, MetadataLimits::default())
        .context("root is not valid or not signed by its own threshold")?;
    if set.root().version != 1 {
        bail!(
            "a repository starts at root version 1, this is version {}",
            set.root().version
        );
    }
    let (_, envelope) = pinned_envelope(&bytes)?;
    Repository::at(&args.repo).write_root(&envelope)?;
    output::line(&format!("repository started in {}", args.repo.display()));
    Ok(())
}

pub(crate) fn rotate_root(args: &RotateArgs) -> Result<()> {
    let repository = Repository::at(&args.repo);
    let (_, current) = repository.root()?;
    let mut set = TrustedSet::pin(&envelope_bytes(&current), MetadataLimits::default())?;
    let bytes = read(&args.root)?;
    // The same check every device makes (spec 5.3.3): refuse here, not on a thousand devices.
    set.update_root(&bytes)
        .context("new root is not signed by both the current and the new root thresholds")?;
    let (_, envelope) = pinned_envelope(&bytes)?;
    repository.write_root(&envelope)?;
    output::line(&format!("root rotated to version {}", set.root().version));
    Ok(())
}

pub(crate) fn publish(args: &PublishArgs) -> Result<()> {
    let mut files = Vec::new();
    for path in &args.files {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .with_context(|| format!("{} has no usable file name", path.display()))?;
        files.push((PackagePath::new(name)?, read(path)?));
    }
    let passphrase = args.passphrase_file.as_deref();
    let (targets, snapshot, timestamp) = (
        load_keys(&args.targets_keys, passphrase)?,
        load_keys(&args.snapshot_keys, passphrase)?,
        load_keys(&args.timestamp_keys, passphrase)?,
    );
    let (targets, snapshot, timestamp) = (refs(&targets), refs(&snapshot), refs(&timestamp));
    let signers = RoleSigners {
        targets: &targets,
        snapshot: &snapshot,
        timestamp: &timestamp,
    };
    let lifetimes = Lifetimes {
        targets: args.targets_expires,
        snapshot: args.snapshot_expires,
        timestamp: args.timestamp_expires,
    };
    let version = Repository::at(&args.repo).publish(
        &files,
        signers,
        SystemTime::now(),
        lifetimes,
        &Limits::default(),
    )?;
    output::line(&format!(
        "published {} file(s) as targets version {version}",
        files.len()
    ));
    Ok(())
}

pub(crate) fn timestamp(args: &TimestampArgs) -> Result<()> {
    let keys = args
        .timestamp_keys
        .iter()
        .map(|path| load_key(path, args.passphrase_file.as_deref()))
        .collect::<Result<Vec<_>>>()?;
    let version = Repository::at(&args.repo).refresh_timestamp(
        &keys.iter().collect::<Vec<_>>(),
        SystemTime::now() + args.expires,
    )?;
    output::line(&format!("timestamp version {version} signed"));
    Ok(())
}

pub(crate) fn verify(args: &VerifyArgs) -> Result<()> {
    let repository = Repository::at(&args.repo);
    let mut set = TrustedSet::pin(&read(&args.trusted_root)?, MetadataLimits::default())?;
    let now = SystemTime::now();
    set.refresh(now, |name| repository.fetch(name))?;
    let name = PackagePath::new(&args.target)?;
    let target = set.verify_target(&name, repository.read_target(&name)?, now)?;
    output::line(&format!(
        "{name}: signed length and sha-256 match (targets version {})",
        set.versions().targets
    ));
    if name.as_str().ends_with(".hpkg") {
        let package = Package::from_verified(target, &Limits::default())?;
        let manifest = package.package().manifest();
        output::line(&format!(
            "package {} {} validates ({} files)",
            manifest.name,
            manifest.version,
            manifest.files.len()
        ));
    }
    Ok(())
}

fn pinned_envelope(bytes: &[u8]) -> Result<((), hotline_packages::trust::Envelope)> {
    let envelope = serde_json::from_slice(bytes).context("root file is not signed metadata")?;
    Ok(((), envelope))
}

fn refs(keys: &[SigningKey]) -> Vec<&SigningKey> {
    keys.iter().collect()
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
