//! The install transaction the agent runs: verify → stage → check requirements and detection →
//! apply → detect again → commit, with a journal so a failure, a timeout or a crash at any
//! point leaves the device as it was. Uninstall is a transaction of the same shape.
//!
//! State directory layout (mode 0700, on the same file system as the install root, so every
//! change is a rename):
//!
//! ```text
//! state/lock                       one transaction at a time
//! state/journal.jsonl              the running transaction's journal
//! state/tx/<id>/                   staging/, backup/, steps.log, manifest.json
//! state/installed/<name>/          record.json, package.tar, originals/
//! ```

mod checks;
mod journal;
mod record;
mod recovery;
mod runner;
mod transaction;
mod tx;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub use checks::{Host, RequirementError};
pub use record::InstalledRecord;
pub use recovery::Recovery;

use crate::archive::{ExtractError, VerifiedPackage};
use crate::fsutil::{PrivateDirError, ensure_private_dir};
use crate::limits::Limits;
use crate::names::{PackageName, PackagePath};

/// Where and how packages are installed.
#[derive(Debug, Clone)]
pub struct InstallerConfig {
    /// Directory that payload paths are relative to (`/` on a real device).
    pub root: PathBuf,
    /// The agent's private state directory for packages.
    pub state_dir: PathBuf,
    /// Variables added to every step's otherwise empty environment. Set by the agent's own
    /// configuration, never by a package.
    pub environment: Vec<(String, String)>,
    pub host: Host,
    pub limits: Limits,
}

/// Reboot advice after a successful install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reboot {
    NotNeeded,
    /// Exit code 3010: reboot when convenient.
    Required,
    /// Exit code 1641: the step started a reboot or needs one now.
    Now,
}

/// How an install ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    Installed {
        reboot: Reboot,
    },
    /// The detection rule already found the package; nothing was changed.
    AlreadyInstalled,
    /// A step answered 1618 (another installation is running); everything was rolled back.
    RetryLater,
}

/// How an uninstall ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UninstallOutcome {
    Removed { reboot: Reboot },
    RetryLater,
}

/// Why an install or uninstall failed. Every variant raised after the transaction began means
/// the changes were rolled back, unless it is `RollbackFailed`.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("another package transaction is running")]
    Busy,
    #[error("state directory is not private to the agent")]
    State(#[from] PrivateDirError),
    #[error("state directory {state} and install root {root} are on different file systems")]
    OtherFileSystem { state: PathBuf, root: PathBuf },
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("device does not meet the package requirements: {0}")]
    Requirement(#[from] RequirementError),
    #[error("cannot install {path}: {reason}")]
    Conflict {
        path: PackagePath,
        reason: &'static str,
    },
    #[error("cannot stage the package")]
    Stage(#[from] ExtractError),
    #[error("cannot evaluate the detection rule")]
    Detection(#[source] io::Error),
    #[error("cannot start {kind} step {index} ({program})")]
    Spawn {
        kind: &'static str,
        index: usize,
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("{kind} step {index} ({program}) failed with {exit}; changes rolled back")]
    StepFailed {
        kind: &'static str,
        index: usize,
        program: String,
        exit: String,
    },
    #[error(
        "{kind} step {index} ({program}) did not finish within {secs} s and was killed; changes rolled back"
    )]
    StepTimeout {
        kind: &'static str,
        index: usize,
        program: String,
        secs: u64,
    },
    #[error(
        "install steps succeeded but the detection rule does not find the package; changes rolled back"
    )]
    NotDetectedAfterInstall,
    #[error(
        "uninstall steps succeeded but the detection rule still finds the package; changes rolled back"
    )]
    StillDetectedAfterUninstall,
    #[error("package {name} is not installed")]
    NotInstalled { name: PackageName },
    #[error("installed record for {name} is damaged")]
    Record { name: PackageName },
    #[error("{cause}; rolling back also failed: {problems}")]
    RollbackFailed {
        cause: Box<InstallError>,
        problems: String,
    },
    /// Internal: a step answered "retry later". Converted to an outcome after rollback.
    #[error("a step asked to retry later")]
    RetryLater,
}

impl InstallError {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Installs, uninstalls and recovers packages on one device.
#[derive(Debug)]
pub struct Installer {
    config: InstallerConfig,
}

impl Installer {
    /// Checks the state directory (created 0700 if missing; refused if others can enter it)
    /// and that it shares a file system with the root.
    pub fn new(config: InstallerConfig) -> Result<Self, InstallError> {
        ensure_private_dir(&config.state_dir)?;
        let device = |path: &Path| {
            std::fs::metadata(path)
                .map(|m| m.dev())
                .map_err(|e| InstallError::io("inspect", path, e))
        };
        if device(&config.state_dir)? != device(&config.root)? {
            // FIXME: no copy-then-rename fallback yet; a device whose state and root are on
            // different file systems is refused rather than installed non-atomically.
            let (state, root) = (config.state_dir.clone(), config.root.clone());
            return Err(InstallError::OtherFileSystem { state, root });
        }
        Ok(Self { config })
    }

    /// Rolls back (or finishes) a transaction interrupted by a crash. Call at start-up;
    /// `install` and `uninstall` call it too.
    pub fn recover(&self) -> Result<Option<Recovery>, InstallError> {
        let _lock = self.lock()?;
        recovery::recover(self)
    }

    /// Installs a verified package.
    pub fn install(&self, package: &VerifiedPackage) -> Result<InstallOutcome, InstallError> {
        let _lock = self.lock()?;
        recovery::recover(self)?;
        transaction::install(self, package.package())
    }

    /// Removes an installed package, restoring files it had replaced.
    pub fn uninstall(&self, name: &PackageName) -> Result<UninstallOutcome, InstallError> {
        let _lock = self.lock()?;
        recovery::recover(self)?;
        transaction::uninstall(self, name)
    }

    /// The record of an installed package, if any.
    pub fn installed(&self, name: &PackageName) -> Result<Option<InstalledRecord>, InstallError> {
        record::load(&self.config.state_dir, name, &self.config.limits)
    }

    /// The tar of the installed version: the base a delta patch applies to.
    pub fn installed_tar(&self, name: &PackageName) -> Result<Vec<u8>, InstallError> {
        let path = record::package_path(&self.config.state_dir, name);
        std::fs::read(&path).map_err(|source| InstallError::io("read", &path, source))
    }

    pub(crate) fn config(&self) -> &InstallerConfig {
        &self.config
    }

    /// Takes the state directory's lock without waiting: the agent runs one transaction at a
    /// time and a second request is answered "busy" rather than queued behind a hung step.
    fn lock(&self) -> Result<File, InstallError> {
        let path = self.config.state_dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| InstallError::io("open", &path, source))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|_| InstallError::Busy)?;
        Ok(file)
    }
}
