//! Install and uninstall as journaled transactions. Every change to the device is announced in
//! the journal before it is made; any failure hands over to recovery, which undoes the journal.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::checks::{self, check_requirements};
use super::journal::{Record, TxKind};
use super::record::{self, InstalledRecord};
use super::runner::RunContext;
use super::tx::Tx;
use super::{InstallError, InstallOutcome, Installer, Reboot, UninstallOutcome, recovery};
use crate::archive::Package;
use crate::manifest::Manifest;
use crate::names::{PackageName, PackagePath};

/// Installs `package` (already verified by the caller through the trust chain).
pub(crate) fn install(
    installer: &Installer,
    package: &Package,
) -> Result<InstallOutcome, InstallError> {
    let config = installer.config();
    let manifest = package.manifest();
    check_requirements(manifest, config.host, &config.root)?;

    // Already installed? A record of another version means an upgrade, whatever detection says.
    let previous = record::load(&config.state_dir, &manifest.name, &config.limits)?;
    let detected = detect(installer, manifest, config.state_dir.join("detect.log"))?;
    let same_version = previous
        .as_ref()
        .is_some_and(|p| p.manifest.version == manifest.version);
    if detected && (previous.is_none() || same_version) {
        return Ok(InstallOutcome::AlreadyInstalled);
    }

    // Everything that could refuse the install is checked before the first change.
    let create_dirs = plan(manifest, &config.root)?;
    let mut tx = Tx::begin(installer, TxKind::Install, manifest)?;
    let result = apply_install(&mut tx, installer, package, previous.as_ref(), create_dirs);
    match finish(tx, installer, result)? {
        Some(reboot) => Ok(InstallOutcome::Installed { reboot }),
        None => Ok(InstallOutcome::RetryLater),
    }
}

fn apply_install(
    tx: &mut Tx,
    installer: &Installer,
    package: &Package,
    previous: Option<&InstalledRecord>,
    create_dirs: Vec<PackagePath>,
) -> Result<Reboot, InstallError> {
    let config = installer.config();
    let manifest = package.manifest();
    let state = &config.state_dir;

    // Stage: extracted from the verified bytes in memory into the private tx directory.
    package.extract_to(&tx.staging())?;
    let tar_path = tx.dir.join("package.tar");
    let tar = package
        .tar_bytes()
        .map_err(|e| InstallError::Stage(e.into()))?;
    fs::write(&tar_path, tar).map_err(|e| InstallError::io("write", &tar_path, e))?;

    // Apply files: set aside what is there, then rename the staged file into place.
    for directory in &create_dirs {
        tx.create_dir(&directory.under(&config.root))?;
    }
    let owned_before = |path: &PackagePath| {
        previous.is_some_and(|p| p.manifest.files.iter().any(|f| &f.path == path))
    };
    let mut originals = previous.map(|p| p.originals.clone()).unwrap_or_default();
    for file in &manifest.files {
        let destination = file.path.under(&config.root);
        if fs::symlink_metadata(&destination).is_ok() {
            let aside = if owned_before(&file.path) {
                file.path.under(&tx.backup())
            } else {
                originals.push(file.path.clone());
                file.path
                    .under(&record::originals_dir(state, &manifest.name))
            };
            tx.move_file(&destination, &aside)?;
        }
        tx.move_file(&file.path.under(&tx.staging()), &destination)?;
    }
    for old in previous.iter().flat_map(|p| &p.manifest.files) {
        let destination = old.path.under(&config.root);
        let kept = manifest.files.iter().any(|file| file.path == old.path);
        if !kept && fs::symlink_metadata(&destination).is_ok() {
            tx.move_file(&destination, &old.path.under(&tx.backup()))?;
        }
    }

    // Steps, then the detection rule decides.
    let reboot = tx.run_steps(
        installer,
        TxKind::Install,
        &manifest.install,
        &manifest.return_codes,
    )?;
    if !detect(installer, manifest, tx.log())? {
        return Err(InstallError::NotDetectedAfterInstall);
    }

    // Commit: keep the tar as the base for future patches, then write the record.
    let kept_tar = record::package_path(state, &manifest.name);
    if kept_tar.exists() {
        tx.move_file(&kept_tar, &tx.dir.join("previous-package.tar"))?;
    }
    tx.move_file(&tar_path, &kept_tar)?;
    let mut all_dirs = previous.map(|p| p.created_dirs.clone()).unwrap_or_default();
    all_dirs.extend(create_dirs);
    let record = InstalledRecord {
        tx: tx.id.clone(),
        manifest: manifest.clone(),
        originals,
        created_dirs: all_dirs,
    };
    record::save(state, &record)?;
    Ok(reboot)
}

/// Removes the installed package `name`.
pub(crate) fn uninstall(
    installer: &Installer,
    name: &PackageName,
) -> Result<UninstallOutcome, InstallError> {
    let config = installer.config();
    let record = record::load(&config.state_dir, name, &config.limits)?
        .ok_or_else(|| InstallError::NotInstalled { name: name.clone() })?;
    let manifest = &record.manifest;
    let mut tx = Tx::begin(installer, TxKind::Uninstall, manifest)?;

    let result = (|| {
        // Steps first: an uninstaller may need the files it is about to lose.
        let reboot = tx.run_steps(
            installer,
            TxKind::Uninstall,
            &manifest.uninstall,
            &manifest.return_codes,
        )?;
        for file in &manifest.files {
            let destination = file.path.under(&config.root);
            if fs::symlink_metadata(&destination).is_ok() {
                tx.move_file(&destination, &file.path.under(&tx.backup()))?;
            }
        }
        for original in &record.originals {
            let kept = original.under(&record::originals_dir(&config.state_dir, name));
            tx.move_file(&kept, &original.under(&config.root))?;
        }
        if detect(installer, manifest, tx.log())? {
            return Err(InstallError::StillDetectedAfterUninstall);
        }
        record::remove(&config.state_dir, name)?;
        Ok(reboot)
    })();

    let Some(reboot) = finish(tx, installer, result)? else {
        return Ok(UninstallOutcome::RetryLater);
    };
    // After the commit: tidy directories the installs created, deepest first, when empty.
    let mut directories = record.created_dirs.clone();
    directories.sort_by_key(|directory| std::cmp::Reverse(directory.as_str().len()));
    for directory in directories {
        let _ = fs::remove_dir(directory.under(&config.root));
    }
    let _ = fs::remove_dir_all(record::package_dir(&config.state_dir, name));
    Ok(UninstallOutcome::Removed { reboot })
}

/// Commits (journal, clean-up) or rolls back through recovery. `Ok(None)` means "retry later".
fn finish(
    mut tx: Tx,
    installer: &Installer,
    result: Result<Reboot, InstallError>,
) -> Result<Option<Reboot>, InstallError> {
    match result {
        Ok(reboot) => {
            tx.append(&Record::Committed)?;
            drop(tx);
            recovery::recover(installer)?;
            Ok(Some(reboot))
        }
        Err(cause) => {
            tracing::debug!(tx = %tx.id, error = %cause, "transaction failed, rolling back");
            drop(tx);
            let recovery = recovery::recover(installer)?;
            let problems = recovery.map(|r| r.problems).unwrap_or_default();
            if !problems.is_empty() {
                return Err(InstallError::RollbackFailed {
                    cause: Box::new(cause),
                    problems: problems.join("; "),
                });
            }
            match cause {
                InstallError::RetryLater => Ok(None),
                cause => Err(cause),
            }
        }
    }
}

/// Directories to create below the root, shortest first, after checking that no existing path
/// is in the way and no existing directory is a link someone else could have planted.
fn plan(manifest: &Manifest, root: &Path) -> Result<Vec<PackagePath>, InstallError> {
    let ours = rustix::process::geteuid().as_raw();
    let mut create = Vec::new();
    for file in &manifest.files {
        for ancestor in file.path.ancestors() {
            let path = ancestor.under(root);
            match fs::symlink_metadata(&path) {
                Err(_) => {
                    if !create.contains(&ancestor) {
                        create.push(ancestor);
                    }
                }
                Ok(metadata) if metadata.is_dir() => {}
                // Merged-/usr systems link /lib to /usr/lib; only links owned by root or by
                // us are followed, never one an unprivileged user could have made.
                Ok(metadata) if metadata.file_type().is_symlink() => {
                    let trusted_owner = metadata.uid() == 0 || metadata.uid() == ours;
                    if !trusted_owner || !path.is_dir() {
                        return Err(InstallError::Conflict {
                            path: ancestor,
                            reason: "a parent directory is a symlink not owned by root",
                        });
                    }
                }
                Ok(_) => {
                    return Err(InstallError::Conflict {
                        path: ancestor,
                        reason: "a parent directory exists as a file",
                    });
                }
            }
        }
        if fs::symlink_metadata(file.path.under(root)).is_ok_and(|metadata| metadata.is_dir()) {
            return Err(InstallError::Conflict {
                path: file.path.clone(),
                reason: "a directory exists at that path",
            });
        }
    }
    create.sort_by_key(|directory| directory.as_str().len());
    Ok(create)
}

pub(crate) fn context(installer: &Installer, log: PathBuf) -> RunContext<'_> {
    let config = installer.config();
    RunContext {
        root: &config.root,
        environment: &config.environment,
        log,
    }
}

fn detect(installer: &Installer, manifest: &Manifest, log: PathBuf) -> Result<bool, InstallError> {
    checks::detect(&manifest.detection, &context(installer, log)).map_err(InstallError::Detection)
}

pub(crate) fn kind_label(kind: TxKind) -> &'static str {
    match kind {
        TxKind::Install => "install",
        TxKind::Uninstall => "uninstall",
    }
}
