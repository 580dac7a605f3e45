//! A publisher's repository on disk: `metadata/` (root versions, targets, snapshot, timestamp)
//! and `targets/` (packages and patches). The console serves these files unchanged; only the
//! publisher, holding the keys, changes them.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::archive::{self, ArchiveError};
use crate::digest::Sha256Digest;
use crate::fsutil::write_atomic;
use crate::limits::Limits;
use crate::names::PackagePath;
use crate::trust::{
    Envelope, Expiry, Hashes, MetaFile, PublicKey, RoleKeys, RoleName, Root, SPEC_VERSION,
    SigningKey, Snapshot, TargetCustom, TargetDescription, Targets, Timestamp, TrustError,
    decode_role, envelope_bytes, parse_envelope, sign,
};

/// Why a repository operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("repository metadata is invalid")]
    Trust(#[from] TrustError),
    #[error("target {name} is a package that does not validate")]
    Package {
        name: PackagePath,
        #[source]
        source: ArchiveError,
    },
}

/// The signing keys for the online roles of one publish operation.
#[derive(Debug, Clone, Copy)]
pub struct RoleSigners<'a> {
    pub targets: &'a [&'a SigningKey],
    pub snapshot: &'a [&'a SigningKey],
    pub timestamp: &'a [&'a SigningKey],
}

/// How long freshly signed metadata stays valid.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub targets: Duration,
    pub snapshot: Duration,
    pub timestamp: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        let day = Duration::from_secs(24 * 60 * 60);
        Self {
            targets: day * 365,
            snapshot: day * 30,
            timestamp: day,
        }
    }
}

/// A root naming `roles` (keys and threshold for each of the four roles).
pub fn new_root(
    version: u64,
    expires: SystemTime,
    roles: &BTreeMap<RoleName, (Vec<PublicKey>, u32)>,
) -> Root {
    let mut keys = BTreeMap::new();
    let mut role_keys = BTreeMap::new();
    for (role, (publics, threshold)) in roles {
        for public in publics {
            keys.insert(public.key_id(), *public);
        }
        let keyids = publics.iter().map(PublicKey::key_id).collect();
        role_keys.insert(
            *role,
            RoleKeys {
                keyids,
                threshold: *threshold,
            },
        );
    }
    Root {
        kind: "root".to_owned(),
        spec_version: SPEC_VERSION.to_owned(),
        version,
        expires: Expiry(expires),
        consistent_snapshot: false,
        keys,
        roles: role_keys,
    }
}

/// What the targets role signs for `bytes`. For a `.hpkg` the unpacked tar's length and digest
/// are added, so a delta patch result can be checked.
pub fn describe_target(
    name: &PackagePath,
    bytes: &[u8],
    limits: &Limits,
) -> Result<TargetDescription, PublishError> {
    let custom = if name.as_str().ends_with(".hpkg") {
        let package = archive::Package::from_hpkg(bytes.to_vec(), limits).map_err(|source| {
            PublishError::Package {
                name: name.clone(),
                source,
            }
        })?;
        Some(TargetCustom {
            unpacked_length: package.unpacked_len(),
            unpacked_sha256: package.unpacked_sha256(),
        })
    } else {
        None
    };
    Ok(TargetDescription {
        length: bytes.len() as u64,
        hashes: Hashes {
            sha256: Sha256Digest::of(bytes),
        },
        custom,
    })
}

/// A repository directory.
#[derive(Debug, Clone)]
pub struct Repository {
    directory: PathBuf,
}

impl Repository {
    /// Opens (without checking) the repository at `directory`.
    pub fn at(directory: &Path) -> Self {
        Self {
            directory: directory.to_path_buf(),
        }
    }

    /// Where metadata file `name` lives.
    pub fn metadata_path(&self, name: &str) -> PathBuf {
        self.directory.join("metadata").join(name)
    }

    /// Where target `name` lives.
    pub fn target_path(&self, name: &PackagePath) -> PathBuf {
        name.under(&self.directory.join("targets"))
    }

    /// A metadata file's bytes, or `None` if absent: the fetch function a client refresh needs.
    pub fn fetch(&self, name: &str) -> Option<Vec<u8>> {
        fs::read(self.metadata_path(name)).ok()
    }

    /// A target's bytes.
    pub fn read_target(&self, name: &PackagePath) -> Result<Vec<u8>, PublishError> {
        let path = self.target_path(name);
        fs::read(&path).map_err(|source| PublishError::Io {
            action: "read",
            path,
            source,
        })
    }

    /// Writes a signed root as `N.root.json` and as the current `root.json`.
    pub fn write_root(&self, envelope: &Envelope) -> Result<(), PublishError> {
        let root: Root = decode_role(envelope)?;
        let bytes = envelope_bytes(envelope);
        self.write_metadata(&format!("{}.root.json", root.version), &bytes)?;
        self.write_metadata("root.json", &bytes)
    }

    /// The current root.
    pub fn root(&self) -> Result<(Root, Envelope), PublishError> {
        let envelope = self.read_envelope(RoleName::Root)?;
        Ok((decode_role(&envelope)?, envelope))
    }

    /// Adds (or replaces) targets and signs new targets, snapshot and timestamp metadata, each
    /// one version up. Targets are written before the metadata naming them, and the timestamp
    /// last, so a client never sees metadata for files not yet there.
    pub fn publish(
        &self,
        files: &[(PackagePath, Vec<u8>)],
        signers: RoleSigners<'_>,
        now: SystemTime,
        lifetimes: Lifetimes,
        limits: &Limits,
    ) -> Result<u64, PublishError> {
        let mut targets = match self.read_envelope(RoleName::Targets) {
            Ok(envelope) => decode_role::<Targets>(&envelope)?,
            Err(PublishError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Targets {
                    kind: "targets".to_owned(),
                    spec_version: SPEC_VERSION.to_owned(),
                    version: 0,
                    expires: Expiry(now),
                    targets: BTreeMap::new(),
                }
            }
            Err(error) => return Err(error),
        };
        for (name, bytes) in files {
            targets
                .targets
                .insert(name.clone(), describe_target(name, bytes, limits)?);
            let path = self.target_path(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|source| PublishError::Io {
                    action: "create",
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            write_atomic(&path, bytes, 0o644).map_err(|source| PublishError::Io {
                action: "write",
                path,
                source,
            })?;
        }
        targets.version += 1;
        targets.expires = Expiry(now + lifetimes.targets);
        let targets_bytes = envelope_bytes(&sign(&targets, signers.targets)?);
        self.write_metadata("targets.json", &targets_bytes)?;

        let snapshot_version = self.current_version::<Snapshot>()? + 1;
        let snapshot = Snapshot {
            kind: "snapshot".to_owned(),
            spec_version: SPEC_VERSION.to_owned(),
            version: snapshot_version,
            expires: Expiry(now + lifetimes.snapshot),
            meta: BTreeMap::from([(
                "targets.json".to_owned(),
                meta_file(targets.version, &targets_bytes),
            )]),
        };
        let snapshot_bytes = envelope_bytes(&sign(&snapshot, signers.snapshot)?);
        self.write_metadata("snapshot.json", &snapshot_bytes)?;
        self.write_timestamp(
            snapshot_version,
            &snapshot_bytes,
            signers.timestamp,
            now + lifetimes.timestamp,
        )?;
        Ok(targets.version)
    }

    /// Re-signs the timestamp with a new version and expiry, naming the same snapshot. Run by
    /// the timestamp key's holder on a schedule shorter than the timestamp lifetime.
    pub fn refresh_timestamp(
        &self,
        keys: &[&SigningKey],
        expires: SystemTime,
    ) -> Result<u64, PublishError> {
        let snapshot_bytes = self.read_metadata("snapshot.json")?;
        let snapshot: Snapshot = decode_role(&parse_envelope(
            RoleName::Snapshot,
            &snapshot_bytes,
            u64::MAX,
        )?)?;
        self.write_timestamp(snapshot.version, &snapshot_bytes, keys, expires)
    }

    fn write_timestamp(
        &self,
        snapshot_version: u64,
        snapshot_bytes: &[u8],
        keys: &[&SigningKey],
        expires: SystemTime,
    ) -> Result<u64, PublishError> {
        let timestamp = Timestamp {
            kind: "timestamp".to_owned(),
            spec_version: SPEC_VERSION.to_owned(),
            version: self.current_version::<Timestamp>()? + 1,
            expires: Expiry(expires),
            meta: BTreeMap::from([(
                "snapshot.json".to_owned(),
                meta_file(snapshot_version, snapshot_bytes),
            )]),
        };
        self.write_metadata("timestamp.json", &envelope_bytes(&sign(&timestamp, keys)?))?;
        Ok(timestamp.version)
    }

    fn current_version<T: crate::trust::Role>(&self) -> Result<u64, PublishError> {
        match self.read_envelope(T::NAME) {
            Ok(envelope) => Ok(decode_role::<T>(&envelope)?.version()),
            Err(PublishError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Ok(0)
            }
            Err(error) => Err(error),
        }
    }

    fn read_envelope(&self, role: RoleName) -> Result<Envelope, PublishError> {
        let bytes = self.read_metadata(role.file_name())?;
        Ok(parse_envelope(role, &bytes, u64::MAX)?)
    }

    fn read_metadata(&self, name: &str) -> Result<Vec<u8>, PublishError> {
        let path = self.metadata_path(name);
        fs::read(&path).map_err(|source| PublishError::Io {
            action: "read",
            path,
            source,
        })
    }

    fn write_metadata(&self, name: &str, bytes: &[u8]) -> Result<(), PublishError> {
        let path = self.metadata_path(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| PublishError::Io {
                action: "create",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        write_atomic(&path, bytes, 0o644).map_err(|source| PublishError::Io {
            action: "write",
            path,
            source,
        })
    }
}

fn meta_file(version: u64, bytes: &[u8]) -> MetaFile {
    MetaFile {
        version,
        length: Some(bytes.len() as u64),
        hashes: Some(Hashes {
            sha256: Sha256Digest::of(bytes),
        }),
    }
}
