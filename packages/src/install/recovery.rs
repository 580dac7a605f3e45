//! Replaying the journal: finishing a transaction that reached its commit point, or undoing
//! one that did not. The same code runs after an in-process failure and after a crash, so the
//! crash path is exercised by every ordinary failure too.

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::journal::{self, Record, TxKind};
use super::record;
use super::runner::{self, CommandSpec};
use super::transaction::{context, kind_label};
use super::tx::{journal_path, tx_root};
use super::{InstallError, Installer};
use crate::manifest::{Manifest, Step};
use crate::names::PackageName;

/// What recovery found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub package: PackageName,
    pub kind: &'static str,
    /// `true` when the transaction had committed and only clean-up was left.
    pub completed: bool,
    /// Anything that could not be undone; empty when the device is as it was.
    pub problems: Vec<String>,
}

/// Finishes or undoes the journaled transaction, if there is one.
pub(crate) fn recover(installer: &Installer) -> Result<Option<Recovery>, InstallError> {
    let state = &installer.config().state_dir;
    let path = journal_path(state);
    if !path.exists() {
        return Ok(None);
    }
    let records = journal::read(&path).map_err(|e| InstallError::io("read journal", &path, e))?;
    let Some(Record::Begin {
        tx, kind, package, ..
    }) = records.first().cloned()
    else {
        // The crash came before the first line was complete: nothing was changed.
        cleanup(state)?;
        return Ok(None);
    };

    let limits = &installer.config().limits;
    let committed = records.contains(&Record::Committed)
        || match kind {
            TxKind::Install => record::load(state, &package, limits)?.is_some_and(|r| r.tx == tx),
            TxKind::Uninstall => record::load(state, &package, limits)?.is_none(),
        };
    if committed {
        cleanup(state)?;
        return Ok(Some(Recovery {
            package,
            kind: kind_label(kind),
            completed: true,
            problems: Vec::new(),
        }));
    }

    tracing::debug!(%tx, package = %package, kind = kind_label(kind), "rolling back transaction");
    let problems = roll_back(installer, &tx, kind, &package, &records)?;
    if problems.is_empty() {
        cleanup(state)?;
        if record::load(state, &package, limits)?.is_none() {
            // A first install leaves nothing behind, not even an empty originals directory.
            let _ = fs::remove_dir_all(record::package_dir(state, &package));
        }
    } else {
        // FIXME: the journal is kept for an operator to inspect; the next start retries.
        tracing::error!(%tx, ?problems, "rollback incomplete");
    }
    Ok(Some(Recovery {
        package,
        kind: kind_label(kind),
        completed: false,
        problems,
    }))
}

fn roll_back(
    installer: &Installer,
    tx: &str,
    kind: TxKind,
    package: &PackageName,
    records: &[Record],
) -> Result<Vec<String>, InstallError> {
    let state = &installer.config().state_dir;
    let tx_dir = tx_root(state).join(tx);
    let mut problems = Vec::new();

    // A step that outlived a crashed installer must not keep changing the device.
    for record in records {
        if let Record::StepProcessGroup { process_group } = record {
            runner::kill_group(*process_group);
        }
    }
    let manifest = read_manifest(&tx_dir.join("manifest.json"), installer);
    let steps_ran = records
        .iter()
        .any(|r| matches!(r, Record::StepStarted { kind: k, .. } if *k == kind));

    // Compensate install steps with the package's own uninstall steps while its files exist.
    if kind == TxKind::Install
        && steps_ran
        && let Some(manifest) = &manifest
    {
        run_best_effort(installer, &manifest.uninstall, &tx_dir);
    }

    // Undo file changes, newest first.
    for record in records.iter().rev() {
        let result = match record {
            Record::Move { from, to } => journal::undo_move(from, to),
            Record::CreateDir { path } => journal::undo_create_dir(path),
            _ => Ok(()),
        };
        if let Err(error) = result {
            problems.push(format!("cannot undo {record:?}: {error}"));
        }
    }

    // Bring back what steps had removed: the previous version of an upgrade, or the package
    // an interrupted uninstall had started to remove.
    let previous = record::load(state, package, &installer.config().limits)?;
    match (kind, steps_ran) {
        (TxKind::Install, true) => {
            if let Some(previous) = previous {
                run_best_effort(installer, &previous.manifest.install, &tx_dir);
            }
        }
        (TxKind::Uninstall, true) => {
            if let Some(manifest) = &manifest {
                run_best_effort(installer, &manifest.install, &tx_dir);
            }
        }
        _ => {}
    }
    Ok(problems)
}

fn read_manifest(path: &Path, installer: &Installer) -> Option<Manifest> {
    let bytes = fs::read(path).ok()?;
    Manifest::from_json(&bytes, &installer.config().limits).ok()
}

/// Runs compensating steps. Their failures are logged, not fatal: an uninstall step failing
/// because the install step it undoes never finished is expected, and rollback must go on.
fn run_best_effort(installer: &Installer, steps: &[Step], tx_dir: &Path) {
    let _ = fs::create_dir_all(tx_dir);
    for (index, step) in steps.iter().enumerate() {
        let spec = CommandSpec {
            run: &step.run,
            shell: step.shell,
            timeout: Duration::from_secs(step.timeout_secs),
        };
        let program = runner::program_name(&spec);
        match runner::run(
            &spec,
            &context(installer, tx_dir.join("rollback.log")),
            |_| {},
        ) {
            Ok(runner::Exit::Code(0)) => {}
            Ok(exit) => tracing::warn!(index, %program, ?exit, "compensating step did not succeed"),
            Err(error) => {
                tracing::warn!(index, %program, %error, "compensating step could not start")
            }
        }
    }
}

/// Removes the journal and every transaction directory (one transaction runs at a time, so
/// anything left there belongs to the one just finished or undone).
fn cleanup(state: &Path) -> Result<(), InstallError> {
    let tx_dirs = tx_root(state);
    if tx_dirs.exists() {
        fs::remove_dir_all(&tx_dirs).map_err(|e| InstallError::io("remove", &tx_dirs, e))?;
    }
    let path = journal_path(state);
    fs::remove_file(&path).map_err(|e| InstallError::io("remove", &path, e))?;
    crate::fsutil::sync_parent(&path).map_err(|e| InstallError::io("sync", &path, e))
}
