//! The console's package repository: the publisher's signed metadata, passed through as
//! published, and package files stored once per content under `repository/blobs/<sha256>`.
//!
//! The console holds no publisher key, so it cannot judge a signature that matters; what it
//! does check is that every file it stores has the length and SHA-256 the publisher's
//! targets metadata names, so it never serves bytes a device would refuse anyway.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hotline_packages::publish::Repository;
use hotline_packages::trust::{MetadataLimits, RoleName, Targets, decode_role, parse_envelope};
use hotline_packages::{Limits, Package, Sha256Digest};

use crate::datadir::DataDir;
use crate::store::{Store, TargetRow, unix_now};

/// Most root versions taken from one publisher repository.
const MAX_ROOTS: u64 = 64;

/// Where the blobs live.
pub fn blob_dir(dir: &DataDir) -> PathBuf {
    dir.root().join("repository").join("blobs")
}

pub fn blob_path(dir: &DataDir, sha256: &str) -> PathBuf {
    blob_dir(dir).join(sha256)
}

/// What one publish stored.
#[derive(Debug, Default)]
pub struct Published {
    pub metadata: usize,
    pub targets: Vec<TargetRow>,
    /// Targets whose bytes were already stored under their hash.
    pub deduplicated: usize,
}

/// Copies a publisher's repository (`metadata/` and `targets/`, as `hotline-pkg publish`
/// writes it) into the console's repository.
pub async fn publish(dir: &DataDir, store: &Store, source: &Path) -> Result<Published> {
    let repository = Repository::at(source);
    let limits = MetadataLimits::default();
    let mut published = Published::default();

    // Metadata: every root version, then the three online roles, each within its limit.
    let mut files = Vec::new();
    for version in 1..=MAX_ROOTS {
        let name = format!("{version}.root.json");
        let Some(bytes) = repository.fetch(&name) else {
            break;
        };
        check_size(&name, &bytes, limits.root)?;
        files.push((name, bytes));
    }
    if files.is_empty() {
        bail!(
            "{} holds no 1.root.json: not a publisher repository",
            source.display()
        );
    }
    for (role, limit) in [
        (RoleName::Timestamp, limits.timestamp),
        (RoleName::Snapshot, limits.snapshot),
        (RoleName::Targets, limits.targets),
    ] {
        let name = role.file_name();
        let bytes = repository
            .fetch(name)
            .with_context(|| format!("{} holds no {name}", source.display()))?;
        check_size(name, &bytes, limit)?;
        files.push((name.to_owned(), bytes));
    }

    // The targets it names, each checked against the length and hash the publisher signed.
    // Parsing is not trusting: a forged targets.json only makes the console store files that
    // every device will then refuse.
    let targets_bytes = &files
        .last()
        .map(|(_, bytes)| bytes.clone())
        .unwrap_or_default();
    let envelope = parse_envelope(RoleName::Targets, targets_bytes, limits.targets)
        .context("targets.json is not signed metadata")?;
    let targets: Targets = decode_role(&envelope).context("targets.json does not parse")?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(blob_dir(dir))
        .with_context(|| format!("creating {}", blob_dir(dir).display()))?;
    let now = unix_now();
    for (name, description) in &targets.targets {
        let path = repository.target_path(name);
        let bytes =
            fs::read(&path).with_context(|| format!("reading target {}", path.display()))?;
        if bytes.len() as u64 != description.length {
            bail!(
                "target {name} is {} bytes but the targets metadata says {}",
                bytes.len(),
                description.length
            );
        }
        let digest = Sha256Digest::of(&bytes);
        if digest != description.hashes.sha256 {
            bail!("target {name} does not have the SHA-256 the targets metadata names");
        }
        let sha256 = digest.to_hex();
        let mut row = TargetRow {
            name: name.to_string(),
            sha256: sha256.clone(),
            length: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            package: None,
            version: None,
            unpacked_sha256: None,
            patch_from: None,
            patch_to: None,
        };
        if name.as_str().ends_with(".hpkg") {
            let package = Package::from_hpkg(bytes.clone(), &Limits::default())
                .with_context(|| format!("target {name} is not a valid package"))?;
            let manifest = package.manifest();
            row.package = Some(manifest.name.to_string());
            row.version = Some(manifest.version.to_string());
            row.unpacked_sha256 = Some(package.unpacked_sha256().to_hex());
        } else if name.as_str().ends_with(".hpatch") {
            let header = hotline_packages::delta::header(&bytes)
                .with_context(|| format!("target {name} is not a valid patch"))?;
            row.patch_from = Some(header.old_sha256.to_hex());
            row.patch_to = Some(header.new_sha256.to_hex());
        }
        let blob = blob_path(dir, &sha256);
        if blob.exists() {
            published.deduplicated += 1;
        } else {
            crate::datadir::write_private(&blob, &bytes)?;
        }
        store.put_target(&row, now).await?;
        published.targets.push(row);
    }

    // Metadata last: a device never hears of a target whose bytes are not stored yet.
    for (name, bytes) in &files {
        store
            .put_metadata(name, bytes, &Sha256Digest::of(bytes).to_hex(), now)
            .await?;
        published.metadata += 1;
    }
    Ok(published)
}

fn check_size(name: &str, bytes: &[u8], limit: u64) -> Result<()> {
    if bytes.len() as u64 > limit {
        bail!(
            "{name} is {} bytes, over the {limit}-byte limit",
            bytes.len()
        );
    }
    Ok(())
}

/// Reads chunk `index` of the blob `sha256`.
pub fn read_chunk(path: &Path, index: u64, chunk_size: u32) -> Result<Vec<u8>> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let offset = index * u64::from(chunk_size);
    file.seek(SeekFrom::Start(offset))
        .with_context(|| format!("seeking in {}", path.display()))?;
    let mut data = Vec::with_capacity(chunk_size as usize);
    file.take(u64::from(chunk_size))
        .read_to_end(&mut data)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(data)
}
