//! Shared fixtures for the package tests: a publisher with its four role keys and a repository
//! in a temporary directory, package builders, and a device (install root and state directory).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hotline_packages::archive::build_in_memory;
use hotline_packages::install::{Host, Installer, InstallerConfig};
use hotline_packages::manifest::{
    Arch, Detection, Manifest, Os, Requirements, ReturnCodes, Shell, Step,
};
use hotline_packages::publish::{Lifetimes, Repository, RoleSigners, new_root};
use hotline_packages::trust::{
    Envelope, MetadataLimits, RoleName, SigningKey, TrustedSet, envelope_bytes, sign,
};
use hotline_packages::{Limits, PackageName, PackagePath, VerifiedPackage};

/// A fixed "now" (2030-03-17) so expiry never depends on the machine's clock.
pub(crate) fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_900_000_000)
}

pub(crate) const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A publisher: one key per role (threshold 1) and a repository.
pub(crate) struct Publisher {
    pub(crate) root_key: SigningKey,
    pub(crate) targets_key: SigningKey,
    pub(crate) snapshot_key: SigningKey,
    pub(crate) timestamp_key: SigningKey,
    pub(crate) repo: Repository,
    pub(crate) root_v1: Vec<u8>,
    pub(crate) _dir: tempfile::TempDir,
}

impl Publisher {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = |seed: u8| SigningKey::from_seed(&[seed; 32]);
        let (root_key, targets_key, snapshot_key, timestamp_key) = (key(1), key(2), key(3), key(4));
        let roles = BTreeMap::from([
            (RoleName::Root, (vec![root_key.public()], 1)),
            (RoleName::Targets, (vec![targets_key.public()], 1)),
            (RoleName::Snapshot, (vec![snapshot_key.public()], 1)),
            (RoleName::Timestamp, (vec![timestamp_key.public()], 1)),
        ]);
        let root = new_root(1, t0() + 365 * DAY, &roles);
        let envelope = sign(&root, &[&root_key]).expect("signs");
        let repo = Repository::at(&dir.path().join("repo"));
        repo.write_root(&envelope).expect("root written");
        let root_v1 = envelope_bytes(&envelope);
        Self {
            root_key,
            targets_key,
            snapshot_key,
            timestamp_key,
            repo,
            root_v1,
            _dir: dir,
        }
    }

    /// Publishes `files` at `now` with the default lifetimes.
    pub(crate) fn publish(&self, files: &[(&str, Vec<u8>)], now: SystemTime) {
        self.publish_with(files, now, Lifetimes::default());
    }

    pub(crate) fn publish_with(
        &self,
        files: &[(&str, Vec<u8>)],
        now: SystemTime,
        lifetimes: Lifetimes,
    ) {
        let files: Vec<_> = files
            .iter()
            .map(|(name, bytes)| (path(name), bytes.clone()))
            .collect();
        let signers = RoleSigners {
            targets: &[&self.targets_key],
            snapshot: &[&self.snapshot_key],
            timestamp: &[&self.timestamp_key],
        };
        self.repo
            .publish(&files, signers, now, lifetimes, &Limits::default())
            .expect("published");
    }

    /// A device's trust, pinned to root version 1.
    pub(crate) fn client(&self) -> TrustedSet {
        TrustedSet::pin(&self.root_v1, MetadataLimits::default()).expect("root v1 pins")
    }

    /// A metadata file of the repository.
    pub(crate) fn file(&self, name: &str) -> Vec<u8> {
        self.repo.fetch(name).expect("metadata file exists")
    }

    /// Writes a (possibly hostile) metadata file into the repository.
    pub(crate) fn put(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.repo.metadata_path(name), bytes).expect("metadata written");
    }

    /// Refreshes `set` from the repository at `now` and verifies target `name` into a package.
    pub(crate) fn verified(
        &self,
        set: &mut TrustedSet,
        name: &str,
        now: SystemTime,
    ) -> VerifiedPackage {
        set.refresh(now, |file| self.repo.fetch(file))
            .expect("refresh");
        let bytes = self.repo.read_target(&path(name)).expect("target readable");
        let target = set
            .verify_target(&path(name), bytes, now)
            .expect("target verifies");
        hotline_packages::Package::from_verified(target, &Limits::default())
            .expect("package validates")
    }
}

pub(crate) fn path(text: &str) -> PackagePath {
    PackagePath::new(text).expect("valid test path")
}

/// A manifest with the given steps and a file detection rule on `detect`.
pub(crate) fn manifest(
    name: &str,
    version: &str,
    detect: &str,
    install: Vec<Step>,
    uninstall: Vec<Step>,
) -> Manifest {
    Manifest {
        format: hotline_packages::manifest::FORMAT_VERSION,
        name: PackageName::new(name).expect("valid name"),
        version: semver::Version::parse(version).expect("valid version"),
        description: format!("test package {name}"),
        requirements: Requirements {
            os: Os::Any,
            arch: Arch::Any,
            free_space_bytes: 0,
        },
        files: Vec::new(),
        install,
        uninstall,
        detection: Detection::File {
            path: path(detect),
            sha256: None,
        },
        return_codes: ReturnCodes::default(),
    }
}

/// A step running `script` under /bin/sh.
pub(crate) fn sh(script: &str, timeout_secs: u64) -> Step {
    Step {
        run: vec![script.to_owned()],
        shell: Some(Shell::Sh),
        timeout_secs,
    }
}

/// Builds a `.hpkg` holding `files` (path, content), mode 0644.
pub(crate) fn hpkg(manifest: Manifest, files: &[(&str, &[u8])]) -> Vec<u8> {
    let files: Vec<_> = files
        .iter()
        .map(|(name, content)| (path(name), 0o644, content.to_vec()))
        .collect();
    build_in_memory(manifest, &files, &Limits::default()).expect("package builds")
}

/// A device: install root and private state directory on one file system.
pub(crate) struct Device {
    pub(crate) dir: tempfile::TempDir,
}

impl Device {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("root")).expect("root dir");
        Self { dir }
    }

    pub(crate) fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub(crate) fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub(crate) fn installer(&self, environment: Vec<(String, String)>) -> Installer {
        installer_at(&self.root(), &self.state(), environment)
    }

    /// Every path below the root, sorted, to assert "nothing written".
    pub(crate) fn listing(&self) -> Vec<String> {
        listing(&self.root())
    }
}

pub(crate) fn installer_at(
    root: &Path,
    state: &Path,
    environment: Vec<(String, String)>,
) -> Installer {
    let config = InstallerConfig {
        root: root.to_path_buf(),
        state_dir: state.to_path_buf(),
        environment,
        host: Host::current(),
        limits: Limits::default(),
    };
    Installer::new(config).expect("installer starts")
}

pub(crate) fn listing(directory: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let entry_path = entry.path();
            found.push(
                entry_path
                    .strip_prefix(directory)
                    .unwrap_or(&entry_path)
                    .display()
                    .to_string(),
            );
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                pending.push(entry_path);
            }
        }
    }
    found.sort();
    found
}

/// Re-signs snapshot and timestamp (with the online keys) around an arbitrary targets file, as
/// an attacker holding only those keys, or a test isolating the targets check, would.
pub(crate) fn republish_around_targets(
    publisher: &Publisher,
    targets: &[u8],
    version: u64,
    now: SystemTime,
) {
    use hotline_packages::trust::{Expiry, Hashes, MetaFile, Snapshot, Timestamp};
    let meta = |version: u64, bytes: &[u8]| MetaFile {
        version,
        length: Some(bytes.len() as u64),
        hashes: Some(Hashes {
            sha256: hotline_packages::Sha256Digest::of(bytes),
        }),
    };
    let targets_version = envelope(targets).signed["version"]
        .as_u64()
        .expect("targets version");
    let snapshot = Snapshot {
        kind: "snapshot".to_owned(),
        spec_version: hotline_packages::trust::SPEC_VERSION.to_owned(),
        version,
        expires: Expiry(now + 30 * DAY),
        // The snapshot names the version the targets file really has, as a signer would.
        meta: BTreeMap::from([("targets.json".to_owned(), meta(targets_version, targets))]),
    };
    let snapshot_bytes =
        envelope_bytes(&sign(&snapshot, &[&publisher.snapshot_key]).expect("signs"));
    let timestamp = Timestamp {
        kind: "timestamp".to_owned(),
        spec_version: hotline_packages::trust::SPEC_VERSION.to_owned(),
        version,
        expires: Expiry(now + DAY),
        meta: BTreeMap::from([("snapshot.json".to_owned(), meta(version, &snapshot_bytes))]),
    };
    publisher.put("targets.json", targets);
    publisher.put("snapshot.json", &snapshot_bytes);
    publisher.put(
        "timestamp.json",
        &envelope_bytes(&sign(&timestamp, &[&publisher.timestamp_key]).expect("signs")),
    );
}

/// Parses a metadata file into its envelope, for tests that tamper with signatures.
pub(crate) fn envelope(bytes: &[u8]) -> Envelope {
    serde_json::from_slice(bytes).expect("metadata parses")
}

/// The full chain of an error's messages, for asserting on causes.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
