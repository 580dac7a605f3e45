//! What the agent remembers about an installed package: its manifest, which original files it
//! replaced (kept so uninstall can put them back) and which directories it created.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::InstallError;
use crate::fsutil::write_atomic;
use crate::limits::Limits;
use crate::manifest::Manifest;
use crate::names::{PackageName, PackagePath};

/// The record of one installed package. Writing it is the commit point of an install;
/// removing it is the commit point of an uninstall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledRecord {
    /// The transaction that installed it.
    pub tx: String,
    pub manifest: Manifest,
    /// Files that existed before the first install and were set aside in `originals/`.
    pub originals: Vec<PackagePath>,
    /// Directories the installs created, removed on uninstall when empty.
    pub created_dirs: Vec<PackagePath>,
}

pub(crate) fn package_dir(state: &Path, name: &PackageName) -> PathBuf {
    state.join("installed").join(name.as_str())
}

pub(crate) fn package_path(state: &Path, name: &PackageName) -> PathBuf {
    package_dir(state, name).join("package.tar")
}

pub(crate) fn originals_dir(state: &Path, name: &PackageName) -> PathBuf {
    package_dir(state, name).join("originals")
}

fn record_path(state: &Path, name: &PackageName) -> PathBuf {
    package_dir(state, name).join("record.json")
}

/// Loads the record of `name`, or `None` if it is not installed.
pub(crate) fn load(
    state: &Path,
    name: &PackageName,
    limits: &Limits,
) -> Result<Option<InstalledRecord>, InstallError> {
    let path = record_path(state, name);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(InstallError::io("read", &path, source)),
    };
    let record: InstalledRecord =
        serde_json::from_slice(&bytes).map_err(|_| InstallError::Record { name: name.clone() })?;
    record
        .manifest
        .validate(limits)
        .map_err(|_| InstallError::Record { name: name.clone() })?;
    Ok(Some(record))
}

/// Writes the record atomically: the commit point of an install.
pub(crate) fn save(state: &Path, record: &InstalledRecord) -> Result<(), InstallError> {
    let directory = package_dir(state, &record.manifest.name);
    fs::create_dir_all(&directory)
        .map_err(|source| InstallError::io("create", &directory, source))?;
    let path = record_path(state, &record.manifest.name);
    let bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
    write_atomic(&path, &bytes, 0o600).map_err(|source| InstallError::io("write", &path, source))
}

/// Removes the record: the commit point of an uninstall.
pub(crate) fn remove(state: &Path, name: &PackageName) -> Result<(), InstallError> {
    let path = record_path(state, name);
    fs::remove_file(&path).map_err(|source| InstallError::io("remove", &path, source))?;
    crate::fsutil::sync_parent(&path).map_err(|source| InstallError::io("sync", &path, source))
}
