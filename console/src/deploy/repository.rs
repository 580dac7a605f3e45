//! The console's package repository: the publisher's signed metadata, passed through as
//! published, and package files stored once per content under `repository/blobs/<sha256>`.
//!
//! The console holds no publisher key, so it cannot judge a signature that matters; what it
//! does check is that the metadata verifies against its own root chain (signatures,
//! versions, expiry) and that every file it stores has the length and SHA-256 the
//! publisher's targets metadata names, so it never serves what a device would refuse anyway.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use hotline_packages::publish::Repository;
use hotline_packages::trust::{MetadataLimits, RoleName, TargetDescription, TrustedSet};
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

/// Why a publish stored nothing (a refusal) or not everything (a failure).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The repository failed a check; nothing of it was stored.
    #[error("{0:#}")]
    Refused(anyhow::Error),
    /// Storing what passed failed part way; publishing again completes it.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// A repository that passed every check, ready to store: its metadata files in the order
/// they are stored, and each target's row with the file holding its bytes.
#[derive(Debug)]
struct Verified {
    metadata: Vec<(String, Vec<u8>)>,
    targets: Vec<(TargetRow, PathBuf)>,
}

/// Checks a publisher's repository (`metadata/` and `targets/`, as `hotline-pkg publish`
/// writes it, or as an upload is staged) and stores it in the console's repository. Both the
/// host-side command and the API's upload call this, so both refuse exactly the same things,
/// and a refused repository stores nothing.
pub async fn publish(
    dir: &DataDir,
    store: &Store,
    source: &Path,
) -> Result<Published, PublishError> {
    let verified = verify(source, SystemTime::now()).map_err(PublishError::Refused)?;
    store_verified(dir, store, verified)
        .await
        .map_err(PublishError::Failed)
}

/// Every check, before anything is stored.
fn verify(source: &Path, now: SystemTime) -> Result<Verified> {
    let repository = Repository::at(source);
    let limits = MetadataLimits::default();

    // Metadata: every root version, then the three online roles, each within its limit.
    let mut metadata = Vec::new();
    for version in 1..=MAX_ROOTS {
        let name = format!("{version}.root.json");
        let Some(bytes) = repository.fetch(&name) else {
            break;
        };
        check_size(&name, &bytes, limits.root)?;
        metadata.push((name, bytes));
    }
    let Some(first_root) = metadata.first().map(|(_, bytes)| bytes.clone()) else {
        bail!(
            "{} holds no 1.root.json: not a publisher repository",
            source.display()
        );
    };
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
        metadata.push((name.to_owned(), bytes));
    }

    // The metadata must hold together the way a device will check it: the root chain signed
    // by each previous root, the online roles signed by the latest root's keys, versions
    // that agree, nothing expired. The console holds no publisher key, so this proves no
    // more than that the files are consistent with their own first root; what it buys is
    // that the console never serves metadata every device would refuse.
    // FIXME: a repository from another publisher (another first root) replaces the one the
    // console holds; pinning the stored root instead would refuse it, but needs a way for
    // an admin to start over with a new publisher first.
    let mut trusted = TrustedSet::pin(&first_root, limits)
        .context("1.root.json is not a root signed by its own keys")?;
    trusted
        .refresh(now, |name| {
            metadata
                .iter()
                .find(|(held, _)| held == name)
                .map(|(_, bytes)| bytes.clone())
        })
        .context("the repository's metadata does not verify")?;
    let targets = trusted
        .targets()
        .context("the repository's metadata names no targets")?
        .clone();

    // The targets it names, each checked against the length and hash the publisher signed.
    let mut checked = Vec::new();
    for (name, description) in &targets.targets {
        let path = repository.target_path(name);
        let row = check_target(&path, name.as_str(), description)?;
        checked.push((row, path));
    }
    Ok(Verified {
        metadata,
        targets: checked,
    })
}

/// Reads one target and checks its length, SHA-256 and format; returns its row.
fn check_target(path: &Path, name: &str, description: &TargetDescription) -> Result<TargetRow> {
    let bytes =
        read_bounded(path, description.length).with_context(|| format!("reading target {name}"))?;
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
    let mut row = TargetRow {
        name: name.to_owned(),
        sha256: digest.to_hex(),
        length: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        package: None,
        version: None,
        unpacked_sha256: None,
        patch_from: None,
        patch_to: None,
    };
    if name.ends_with(".hpkg") {
        let package = Package::from_hpkg(bytes, &Limits::default())
            .with_context(|| format!("target {name} is not a valid package"))?;
        let manifest = package.manifest();
        row.package = Some(manifest.name.to_string());
        row.version = Some(manifest.version.to_string());
        row.unpacked_sha256 = Some(package.unpacked_sha256().to_hex());
    } else if name.ends_with(".hpatch") {
        let header = hotline_packages::delta::header(&bytes)
            .with_context(|| format!("target {name} is not a valid patch"))?;
        row.patch_from = Some(header.old_sha256.to_hex());
        row.patch_to = Some(header.new_sha256.to_hex());
    }
    Ok(row)
}

/// Reads at most one byte more than `length`, so a file longer than its signed length is
/// caught without reading all of it.
fn read_bounded(path: &Path, length: u64) -> Result<Vec<u8>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(length.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes)
}

/// Stores what [`verify`] passed: blobs first, then target rows, then metadata.
async fn store_verified(dir: &DataDir, store: &Store, verified: Verified) -> Result<Published> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(blob_dir(dir))
        .with_context(|| format!("creating {}", blob_dir(dir).display()))?;
    let now = unix_now();
    let mut published = Published::default();
    for (row, path) in verified.targets {
        let blob = blob_path(dir, &row.sha256);
        if blob.exists() {
            published.deduplicated += 1;
        } else {
            store_blob(&row, &path, &blob)?;
        }
        store.put_target(&row, now).await?;
        published.targets.push(row);
    }

    // Metadata last: a device never hears of a target whose bytes are not stored yet.
    for (name, bytes) in &verified.metadata {
        store
            .put_metadata(name, bytes, &Sha256Digest::of(bytes).to_hex(), now)
            .await?;
        published.metadata += 1;
    }
    Ok(published)
}

/// Writes a checked target into the blob store under a temporary name and renames it into
/// place, so a blob under its hash is always whole. The hash is checked again on the bytes
/// written: the source may have changed since it was verified.
fn store_blob(row: &TargetRow, source: &Path, blob: &Path) -> Result<()> {
    let length = u64::try_from(row.length).unwrap_or(0);
    let bytes = read_bounded(source, length)?;
    if Sha256Digest::of(&bytes).to_hex() != row.sha256 {
        bail!("target {} changed while it was being published", row.name);
    }
    let partial = blob.with_extension("partial");
    // A partial file is only what a publish that stopped part way left behind.
    let _ = fs::remove_file(&partial);
    crate::datadir::write_private(&partial, &bytes)?;
    fs::rename(&partial, blob).with_context(|| format!("storing {}", blob.display()))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use hotline_packages::PackagePath;
    use hotline_packages::publish::{Lifetimes, RoleSigners, new_root};
    use hotline_packages::trust::{
        SigningKey, Timestamp, decode_role, envelope_bytes, parse_envelope, sign,
    };

    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    /// A publisher repository with one target, `notes.txt`, signed at `signed_at`.
    fn repository(signed_at: SystemTime) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = [1u8, 2, 3, 4].map(|seed| SigningKey::from_seed(&[seed; 32]));
        let roles = BTreeMap::from([
            (RoleName::Root, (vec![keys[0].public()], 1)),
            (RoleName::Targets, (vec![keys[1].public()], 1)),
            (RoleName::Snapshot, (vec![keys[2].public()], 1)),
            (RoleName::Timestamp, (vec![keys[3].public()], 1)),
        ]);
        let root = new_root(1, SystemTime::now() + 365 * DAY, &roles);
        let repository = Repository::at(dir.path());
        repository
            .write_root(&sign(&root, &[&keys[0]]).expect("root signs"))
            .expect("root written");
        let files = [(
            PackagePath::new("notes.txt").expect("name"),
            b"notes".to_vec(),
        )];
        let signers = RoleSigners {
            targets: &[&keys[1]],
            snapshot: &[&keys[2]],
            timestamp: &[&keys[3]],
        };
        repository
            .publish(
                &files,
                signers,
                signed_at,
                Lifetimes::default(),
                &Limits::default(),
            )
            .expect("published");
        dir
    }

    #[test]
    fn a_consistent_repository_verifies_with_its_metadata_and_targets() {
        let dir = repository(SystemTime::now());
        let verified = verify(dir.path(), SystemTime::now()).expect("verifies");
        let names: Vec<&str> = verified.metadata.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "1.root.json",
                "timestamp.json",
                "snapshot.json",
                "targets.json"
            ]
        );
        assert_eq!(verified.targets.len(), 1);
        assert_eq!(verified.targets[0].0.name, "notes.txt");
        assert_eq!(verified.targets[0].0.length, 5);
    }

    #[test]
    fn expired_metadata_is_refused() {
        let dir = repository(SystemTime::now() - 2 * DAY);
        let refused = verify(dir.path(), SystemTime::now()).expect_err("expired");
        assert!(format!("{refused:#}").contains("expired"), "{refused:#}");
    }

    #[test]
    fn a_target_changed_after_signing_is_refused() {
        let dir = repository(SystemTime::now());
        let target = dir.path().join("targets").join("notes.txt");
        fs::write(&target, b"NOTES").expect("tampered");
        let refused = verify(dir.path(), SystemTime::now()).expect_err("tampered");
        assert!(format!("{refused:#}").contains("SHA-256"), "{refused:#}");
        fs::write(&target, b"notes, longer").expect("tampered");
        let refused = verify(dir.path(), SystemTime::now()).expect_err("longer");
        assert!(format!("{refused:#}").contains("bytes but"), "{refused:#}");
    }

    #[test]
    fn metadata_signed_by_a_key_the_root_does_not_name_is_refused() {
        let dir = repository(SystemTime::now());
        let path = dir.path().join("metadata").join("timestamp.json");
        let bytes = fs::read(&path).expect("timestamp");
        let limit = MetadataLimits::default().timestamp;
        let envelope = parse_envelope(RoleName::Timestamp, &bytes, limit).expect("envelope");
        let timestamp: Timestamp = decode_role(&envelope).expect("timestamp");
        let forger = SigningKey::from_seed(&[9; 32]);
        let forged = sign(&timestamp, &[&forger]).expect("signs");
        fs::write(&path, envelope_bytes(&forged)).expect("forged");
        let refused = verify(dir.path(), SystemTime::now()).expect_err("forged");
        assert!(
            format!("{refused:#}").contains("does not verify"),
            "{refused:#}"
        );
    }
}
