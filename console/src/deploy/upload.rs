//! Uploads to the package repository over the API: a publisher's metadata and target files
//! are streamed one by one into a private staging directory laid out like the publisher's
//! own repository (`metadata/`, `targets/`), and then published as a whole through the same
//! checks the host-side `package publish` runs ([`super::repository::publish`]).
//!
//! A staging directory belongs to the account that began it, holds at most
//! `max_upload_total_mib`, and is removed when it is published or refused; one abandoned by
//! its client is removed a day later (when the next upload begins, or when `serve` starts).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use super::repository::{self, PublishError, Published};
use crate::datadir::DataDir;
use crate::store::Store;

/// How long an upload may stay unpublished before it is thrown away.
const ABANDONED_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest file name accepted.
const MAX_NAME: usize = 200;
/// Most uploads open at once, all accounts together.
const MAX_OPEN: usize = 64;
const MIB: u64 = 1024 * 1024;

/// `[repository]` in `console.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Largest single file an upload may hold, in MiB.
    pub max_upload_mib: u64,
    /// Largest upload, all its files together, in MiB.
    pub max_upload_total_mib: u64,
}

impl Default for UploadConfig {
    fn default() -> UploadConfig {
        UploadConfig {
            max_upload_mib: 1024,
            max_upload_total_mib: 4096,
        }
    }
}

/// Why an upload call was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    BadName(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("no upload {0} of yours is open (it was published, refused or abandoned)")]
    Unknown(String),
    #[error("{0}")]
    Busy(String),
    /// The staged repository failed a check; nothing of it was published.
    #[error("{0:#}")]
    Refused(anyhow::Error),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// An upload's id: 32 lowercase hex digits, chosen at random.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    fn random() -> anyhow::Result<UploadId> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).context("reading the OS random source")?;
        Ok(UploadId(hex::encode(bytes)))
    }

    /// Parses an id from a request path; anything else names no upload.
    pub fn parse(text: &str) -> Result<UploadId, UploadError> {
        if text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(UploadId(text.to_owned()))
        } else {
            Err(UploadError::Unknown(text.chars().take(40).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which half of the repository a file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Metadata,
    Target,
}

impl FileKind {
    fn directory(self) -> &'static str {
        match self {
            FileKind::Metadata => "metadata",
            FileKind::Target => "targets",
        }
    }
}

/// A file name checked to be one plain name: no separator, no `..`, no hidden file, and
/// for metadata one of the names a publisher's repository holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileName(String);

impl FileName {
    pub fn parse(kind: FileKind, text: &str) -> Result<FileName, UploadError> {
        let shown: String = text.chars().take(60).collect();
        let plain = !text.is_empty()
            && text.len() <= MAX_NAME
            && !text.starts_with('.')
            && !text.contains("..")
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
        if !plain {
            return Err(UploadError::BadName(format!(
                "{shown:?} is not a plain file name (letters, digits, '.', '_', '-', '+'; no '/' or '..')"
            )));
        }
        if kind == FileKind::Metadata && !is_metadata_name(text) {
            return Err(UploadError::BadName(format!(
                "{shown:?} is not a metadata file (N.root.json, timestamp.json, snapshot.json or targets.json)"
            )));
        }
        Ok(FileName(text.to_owned()))
    }
}

fn is_metadata_name(name: &str) -> bool {
    match name.strip_suffix(".root.json") {
        Some(version) => !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()),
        None => matches!(name, "timestamp.json" | "snapshot.json" | "targets.json"),
    }
}

/// One open upload.
#[derive(Debug)]
struct Open {
    owner: String,
    began: Instant,
    /// Bytes held, including files still arriving.
    bytes: u64,
    files: HashMap<(FileKind, FileName), u64>,
}

/// The open uploads and their staging directories.
#[derive(Debug)]
pub struct Uploads {
    data: DataDir,
    staging: PathBuf,
    config: UploadConfig,
    open: Mutex<HashMap<UploadId, Open>>,
    /// One publish at a time, so two uploads never interleave their metadata.
    publishing: tokio::sync::Mutex<()>,
}

impl Uploads {
    /// Prepares the staging area, removing what abandoned uploads left there.
    pub fn new(data: &DataDir, config: UploadConfig) -> anyhow::Result<Uploads> {
        let staging = data.root().join("repository").join("staging");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&staging)
            .with_context(|| format!("creating {}", staging.display()))?;
        let uploads = Uploads {
            data: data.clone(),
            staging,
            config,
            open: Mutex::new(HashMap::new()),
            publishing: tokio::sync::Mutex::new(()),
        };
        uploads.sweep();
        Ok(uploads)
    }

    fn directory(&self, id: &UploadId) -> PathBuf {
        self.staging.join(id.as_str())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UploadId, Open>> {
        // A panic while holding the lock leaves only byte counts behind; they stay usable.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Begins an upload for `owner`.
    pub fn begin(&self, owner: &str) -> Result<UploadId, UploadError> {
        self.sweep();
        let id = UploadId::random()?;
        let directory = self.directory(&id);
        for kind in [FileKind::Metadata, FileKind::Target] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(directory.join(kind.directory()))
                .with_context(|| format!("creating {}", directory.display()))?;
        }
        fs::DirBuilder::new()
            .mode(0o700)
            .create(directory.join("incoming"))
            .with_context(|| format!("creating {}", directory.display()))?;
        let mut open = self.lock();
        if open.len() >= MAX_OPEN {
            drop(open);
            remove(&directory);
            return Err(UploadError::Busy(format!(
                "{MAX_OPEN} uploads are open already; publish or wait for one to expire"
            )));
        }
        open.insert(
            id.clone(),
            Open {
                owner: owner.to_owned(),
                began: Instant::now(),
                bytes: 0,
                files: HashMap::new(),
            },
        );
        Ok(id)
    }

    /// Streams one file into upload `id`, refusing it once it passes a limit. A file sent
    /// again replaces the earlier one.
    pub async fn put(
        &self,
        id: &UploadId,
        owner: &str,
        kind: FileKind,
        name: &FileName,
        mut body: axum::body::Body,
    ) -> Result<u64, UploadError> {
        use http_body_util::BodyExt as _;

        self.reserve(id, owner, 0)?;
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).context("reading the OS random source")?;
        let incoming = self
            .directory(id)
            .join("incoming")
            .join(hex::encode(suffix));
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&incoming)
            .await
            .with_context(|| format!("creating {}", incoming.display()))?;
        let mut written = 0u64;
        let result: Result<(), UploadError> = async {
            while let Some(frame) = body.frame().await {
                let frame =
                    frame.map_err(|e| anyhow::anyhow!("reading the upload of {}: {e}", name.0))?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let length = data.len() as u64;
                if written + length > self.config.max_upload_mib * MIB {
                    return Err(UploadError::TooLarge(format!(
                        "{} is larger than the {} MiB a file may be ([repository] max_upload_mib)",
                        name.0, self.config.max_upload_mib
                    )));
                }
                self.reserve(id, owner, length)?;
                written += length;
                file.write_all(&data)
                    .await
                    .with_context(|| format!("writing {}", incoming.display()))?;
            }
            file.flush()
                .await
                .with_context(|| format!("writing {}", incoming.display()))?;
            Ok(())
        }
        .await;
        drop(file);
        if let Err(error) = result {
            self.release(id, written);
            let _ = fs::remove_file(&incoming);
            return Err(error);
        }

        // The file takes its place while the upload is still open, so it is in the directory
        // a publish reads or is removed with it.
        let mut open = self.lock();
        let Some(upload) = open.get_mut(id) else {
            drop(open);
            let _ = fs::remove_file(&incoming);
            return Err(UploadError::Unknown(id.as_str().to_owned()));
        };
        let target = self
            .directory(id)
            .join(kind.directory())
            .join(name.0.as_str());
        fs::rename(&incoming, &target).with_context(|| format!("storing {}", target.display()))?;
        if let Some(replaced) = upload.files.insert((kind, name.clone()), written) {
            upload.bytes = upload.bytes.saturating_sub(replaced);
        }
        Ok(written)
    }

    /// Counts `length` more bytes against upload `id`, refusing past the total limit.
    fn reserve(&self, id: &UploadId, owner: &str, length: u64) -> Result<(), UploadError> {
        let mut open = self.lock();
        let upload = open
            .get_mut(id)
            .filter(|upload| upload.owner == owner)
            .ok_or_else(|| UploadError::Unknown(id.as_str().to_owned()))?;
        if upload.bytes + length > self.config.max_upload_total_mib * MIB {
            return Err(UploadError::TooLarge(format!(
                "the upload is larger than the {} MiB an upload may be ([repository] max_upload_total_mib)",
                self.config.max_upload_total_mib
            )));
        }
        upload.bytes += length;
        Ok(())
    }

    fn release(&self, id: &UploadId, length: u64) {
        if let Some(upload) = self.lock().get_mut(id) {
            upload.bytes = upload.bytes.saturating_sub(length);
        }
    }

    /// Closes upload `id` unpublished and removes its staging directory.
    pub fn abandon(&self, id: &UploadId, owner: &str) -> Result<(), UploadError> {
        {
            let mut open = self.lock();
            if open.get(id).is_none_or(|upload| upload.owner != owner) {
                return Err(UploadError::Unknown(id.as_str().to_owned()));
            }
            open.remove(id);
        }
        remove(&self.directory(id));
        Ok(())
    }

    /// Checks and publishes upload `id`; it is closed and its staging directory removed
    /// whatever the outcome.
    pub async fn publish(
        &self,
        id: &UploadId,
        owner: &str,
        store: &Store,
    ) -> Result<Published, UploadError> {
        {
            let mut open = self.lock();
            if open.get(id).is_none_or(|upload| upload.owner != owner) {
                return Err(UploadError::Unknown(id.as_str().to_owned()));
            }
            open.remove(id);
        }
        let directory = self.directory(id);
        let result = {
            let _one_at_a_time = self.publishing.lock().await;
            repository::publish(&self.data, store, &directory).await
        };
        remove(&directory);
        result.map_err(|error| match error {
            PublishError::Refused(reason) => UploadError::Refused(reason),
            PublishError::Failed(failure) => UploadError::Failed(failure),
        })
    }

    /// Ends uploads open longer than a day and removes staging directories no open upload
    /// owns that are older than a day (left by a console that stopped).
    fn sweep(&self) {
        let expired: Vec<UploadId> = {
            let mut open = self.lock();
            let expired: Vec<UploadId> = open
                .iter()
                .filter(|(_, upload)| upload.began.elapsed() > ABANDONED_AFTER)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                open.remove(id);
            }
            expired
        };
        for id in &expired {
            info!(upload = id.as_str(), "abandoned repository upload removed");
            remove(&self.directory(id));
        }
        let Ok(entries) = fs::read_dir(&self.staging) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age > ABANDONED_AFTER);
            let owned = UploadId::parse(&entry.file_name().to_string_lossy())
                .is_ok_and(|id| self.lock().contains_key(&id));
            if old && !owned {
                info!(path = %entry.path().display(), "abandoned repository upload removed");
                remove(&entry.path());
            }
        }
    }
}

fn remove(directory: &Path) {
    if let Err(error) = fs::remove_dir_all(directory)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        warn!(path = %directory.display(), %error, "cannot remove a staging directory");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_are_accepted() {
        for bad in [
            "", "..", "../x", "a/b", ".hidden", "a..b", "x\\y", "a b", "é",
        ] {
            assert!(FileName::parse(FileKind::Target, bad).is_err(), "{bad:?}");
        }
        for good in ["hello-1.0.0.hpkg", "hello-1.0.0-to-1.1.0.hpatch", "a+b_c"] {
            assert!(FileName::parse(FileKind::Target, good).is_ok(), "{good:?}");
        }
        for bad in ["root.json", "x.root.json", "hello.hpkg", ".root.json"] {
            assert!(FileName::parse(FileKind::Metadata, bad).is_err(), "{bad:?}");
        }
        for good in [
            "1.root.json",
            "12.root.json",
            "timestamp.json",
            "targets.json",
        ] {
            assert!(
                FileName::parse(FileKind::Metadata, good).is_ok(),
                "{good:?}"
            );
        }
    }

    #[test]
    fn upload_ids_are_32_hex_digits() {
        let id = UploadId::random().expect("random");
        assert!(UploadId::parse(id.as_str()).is_ok());
        assert!(UploadId::parse("../../etc").is_err());
        assert!(UploadId::parse(&"A".repeat(32)).is_err());
    }

    #[test]
    fn staging_left_older_than_a_day_is_removed_at_start_and_newer_is_kept() {
        let root = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(root.path());
        let staging = root.path().join("repository").join("staging");
        let (old, new) = (staging.join("a".repeat(32)), staging.join("b".repeat(32)));
        for dir in [&old, &new] {
            fs::create_dir_all(dir.join("targets")).expect("staged");
            fs::write(dir.join("targets").join("x.hpkg"), b"x").expect("file");
        }
        let two_days_ago = SystemTime::now() - 2 * ABANDONED_AFTER;
        fs::File::open(&old)
            .and_then(|dir| dir.set_modified(two_days_ago))
            .expect("aged");
        let _uploads = Uploads::new(&data, UploadConfig::default()).expect("uploads");
        assert!(!old.exists(), "the abandoned upload is removed");
        assert!(new.exists(), "a recent one is kept");
    }

    #[tokio::test]
    async fn a_file_past_the_limit_is_refused_and_not_kept() {
        let root = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(root.path());
        let config = UploadConfig {
            max_upload_mib: 1,
            max_upload_total_mib: 1,
        };
        let uploads = Uploads::new(&data, config).expect("uploads");
        let id = uploads.begin("pub").expect("begun");
        let name = FileName::parse(FileKind::Target, "big.hpkg").expect("name");
        let body = axum::body::Body::from(vec![0u8; 2 * MIB as usize]);
        let refused = uploads
            .put(&id, "pub", FileKind::Target, &name, body)
            .await
            .expect_err("too large");
        assert!(matches!(refused, UploadError::TooLarge(_)), "{refused}");
        let staged = uploads.directory(&id).join("targets").join("big.hpkg");
        assert!(!staged.exists());
        assert!(
            fs::read_dir(uploads.directory(&id).join("incoming"))
                .expect("incoming")
                .next()
                .is_none()
        );
        let small = axum::body::Body::from("ok");
        let other = uploads
            .put(&id, "someone else", FileKind::Target, &name, small)
            .await
            .expect_err("not theirs");
        assert!(matches!(other, UploadError::Unknown(_)), "{other}");

        uploads.abandon(&id, "pub").expect("abandoned");
        assert!(!uploads.directory(&id).exists());
        let small = axum::body::Body::from("ok");
        let closed = uploads
            .put(&id, "pub", FileKind::Target, &name, small)
            .await
            .expect_err("closed");
        assert!(matches!(closed, UploadError::Unknown(_)), "{closed}");
    }
}
