//! Small file system helpers shared by the trust store, key files and the installer: writes
//! that are atomic and private, and directories that only the agent can enter.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` with `mode` so that a reader (or a crash) sees either the old file
/// or the whole new one: write a sibling temporary file, sync it, rename it over, sync the
/// directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let temporary = sibling(path, ".tmp");
    // A leftover from a crash would make `create_new` fail; it holds nothing we need.
    match fs::remove_file(&temporary) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, path)?;
    sync_parent(path)
}

/// Syncs the directory holding `path`, making a rename or creation in it durable.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => fs::File::open(parent)?.sync_all(),
        _ => Ok(()),
    }
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Why a directory is not private to the agent.
#[derive(Debug, thiserror::Error)]
pub enum PrivateDirError {
    #[error("cannot create or inspect {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a directory (or is a symlink)")]
    NotDirectory { path: PathBuf },
    #[error("{path} is owned by uid {owner}, not by this process (uid {ours})")]
    Owner {
        path: PathBuf,
        owner: u32,
        ours: u32,
    },
    #[error("{path} has mode {mode:#o}: other users must have no access")]
    Mode { path: PathBuf, mode: u32 },
}

/// Creates `path` (mode 0700) if missing, then checks that it is a real directory owned by us
/// that nobody else can enter: the staging area must be writable by the agent alone, or a
/// local user could swap a verified file before it is installed.
pub(crate) fn ensure_private_dir(path: &Path) -> Result<(), PrivateDirError> {
    let io_error = |source| PrivateDirError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(io_error)?;
    }
    let metadata = fs::symlink_metadata(path).map_err(io_error)?;
    if !metadata.is_dir() {
        return Err(PrivateDirError::NotDirectory {
            path: path.to_path_buf(),
        });
    }
    let ours = rustix::process::geteuid().as_raw();
    if metadata.uid() != ours {
        return Err(PrivateDirError::Owner {
            path: path.to_path_buf(),
            owner: metadata.uid(),
            ours,
        });
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PrivateDirError::Mode {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_sets_mode() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("file");
        write_atomic(&path, b"one", 0o600).expect("first write");
        write_atomic(&path, b"two", 0o600).expect("second write");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn shared_directories_are_refused() {
        let directory = tempfile::tempdir().expect("temp dir");
        let private = directory.path().join("state");
        ensure_private_dir(&private).expect("created private");
        fs::set_permissions(&private, fs::Permissions::from_mode(0o755)).expect("chmod");
        let error = ensure_private_dir(&private).expect_err("group/other access");
        assert!(
            error
                .to_string()
                .contains("other users must have no access"),
            "{error}"
        );
    }
}
