//! A running transaction: its private directory, its journal, and the journaled primitives
//! (move a file, create a directory, run the steps) that install and uninstall are built from.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::journal::{Journal, Record, TxKind};
use super::runner::{self, CommandSpec, Exit};
use super::transaction::{context, kind_label};
use super::{InstallError, Installer, Reboot};
use crate::fsutil::sync_parent;
use crate::manifest::{Manifest, ReturnCodes, Step, StepResult};

/// A running transaction: its id, private directory and journal.
#[derive(Debug)]
pub(crate) struct Tx {
    pub(crate) id: String,
    pub(crate) dir: PathBuf,
    journal: Journal,
}

pub(crate) fn journal_path(state: &Path) -> PathBuf {
    state.join("journal.jsonl")
}

pub(crate) fn tx_root(state: &Path) -> PathBuf {
    state.join("tx")
}

impl Tx {
    pub(crate) fn begin(
        installer: &Installer,
        kind: TxKind,
        manifest: &Manifest,
    ) -> Result<Self, InstallError> {
        let state = &installer.config().state_dir;
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| {
            InstallError::io(
                "draw a transaction id for",
                state,
                std::io::Error::other(e.to_string()),
            )
        })?;
        let id = hex::encode(random);

        // The journal comes first: a crash before its Begin line leaves nothing to undo.
        let path = journal_path(state);
        let mut journal =
            Journal::create(&path).map_err(|e| InstallError::io("create journal", &path, e))?;
        let begin = Record::Begin {
            tx: id.clone(),
            kind,
            package: manifest.name.clone(),
            version: manifest.version.to_string(),
        };
        journal
            .append(&begin)
            .map_err(|e| InstallError::io("append to journal", &path, e))?;

        let dir = tx_root(state).join(&id);
        private_dirs(&dir)?;
        let manifest_path = dir.join("manifest.json");
        fs::write(&manifest_path, manifest.to_json())
            .map_err(|e| InstallError::io("write", &manifest_path, e))?;
        Ok(Self { id, dir, journal })
    }

    pub(crate) fn staging(&self) -> PathBuf {
        self.dir.join("staging")
    }

    pub(crate) fn backup(&self) -> PathBuf {
        self.dir.join("backup")
    }

    pub(crate) fn log(&self) -> PathBuf {
        self.dir.join("steps.log")
    }

    pub(crate) fn append(&mut self, record: &Record) -> Result<(), InstallError> {
        let path = self.journal.path().to_path_buf();
        self.journal
            .append(record)
            .map_err(|e| InstallError::io("append to journal", &path, e))
    }

    /// Moves `from` to `to` (same file system), announced in the journal first.
    pub(crate) fn move_file(&mut self, from: &Path, to: &Path) -> Result<(), InstallError> {
        if let Some(parent) = to.parent()
            && !parent.exists()
        {
            private_dirs(parent)?;
        }
        self.append(&Record::Move {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
        })?;
        fs::rename(from, to).map_err(|e| InstallError::io("move into place", to, e))?;
        sync_parent(to).map_err(|e| InstallError::io("sync", to, e))
    }

    /// Creates a directory below the install root, announced in the journal first.
    pub(crate) fn create_dir(&mut self, path: &Path) -> Result<(), InstallError> {
        self.append(&Record::CreateDir {
            path: path.to_path_buf(),
        })?;
        DirBuilder::new()
            .mode(0o755)
            .create(path)
            .map_err(|e| InstallError::io("create directory", path, e))
    }

    /// Runs `steps` in order, each journaled before it starts. A failure code, a signal or a
    /// timeout ends the transaction; 1618 ends it as "retry later".
    pub(crate) fn run_steps(
        &mut self,
        installer: &Installer,
        kind: TxKind,
        steps: &[Step],
        codes: &ReturnCodes,
    ) -> Result<Reboot, InstallError> {
        let label = kind_label(kind);
        let mut reboot = Reboot::NotNeeded;
        for (index, step) in steps.iter().enumerate() {
            self.append(&Record::StepStarted { kind, index })?;
            let spec = CommandSpec {
                run: &step.run,
                shell: step.shell,
                timeout: Duration::from_secs(step.timeout_secs),
            };
            let program = runner::program_name(&spec);
            let context = context(installer, self.log());
            let mut journal_error = None;
            let exit = runner::run(&spec, &context, |group| {
                journal_error = self
                    .append(&Record::StepProcessGroup {
                        process_group: group,
                    })
                    .err();
            })
            .map_err(|source| InstallError::Spawn {
                kind: label,
                index,
                program: program.clone(),
                source,
            })?;
            if let Some(error) = journal_error {
                return Err(error);
            }

            let code = match exit {
                Exit::Code(code) => code,
                Exit::Signal(signal) => {
                    return Err(InstallError::StepFailed {
                        kind: label,
                        index,
                        program,
                        exit: format!("signal {signal}"),
                    });
                }
                Exit::TimedOut => {
                    return Err(InstallError::StepTimeout {
                        kind: label,
                        index,
                        program,
                        secs: step.timeout_secs,
                    });
                }
            };
            match codes.classify(code) {
                StepResult::Success => {}
                StepResult::RebootRequired => reboot = reboot.max(Reboot::Required),
                StepResult::RebootNow => reboot = reboot.max(Reboot::Now),
                StepResult::RetryLater => return Err(InstallError::RetryLater),
                StepResult::Failure => {
                    return Err(InstallError::StepFailed {
                        kind: label,
                        index,
                        program,
                        exit: format!("exit code {code}"),
                    });
                }
            }
        }
        Ok(reboot)
    }
}

pub(crate) fn private_dirs(path: &Path) -> Result<(), InstallError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| InstallError::io("create directory", path, e))
}
