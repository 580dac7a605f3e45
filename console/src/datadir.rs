//! The console's data directory: where each file lives, and writing private files with the
//! right permissions from the first byte.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Paths inside a console data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: &Path) -> DataDir {
        DataDir {
            root: root.to_owned(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("console.toml")
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca.cert.pem")
    }

    pub fn ca_key(&self) -> PathBuf {
        self.root.join("ca.key.pem")
    }

    pub fn server_cert(&self) -> PathBuf {
        self.root.join("server.cert.pem")
    }

    pub fn server_key(&self) -> PathBuf {
        self.root.join("server.key.pem")
    }

    /// Secret for QUIC stateless resets. Keeping it across restarts lets a restarted console
    /// tell agents at once that their old connection is gone, instead of leaving them to wait
    /// for the idle timeout.
    pub fn reset_key(&self) -> PathBuf {
        self.root.join("reset.key")
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("hotline.db")
    }

    /// Written by a running `serve`: its process id and the addresses it bound.
    pub fn serve_state(&self) -> PathBuf {
        self.root.join("serve.json")
    }

    /// Creates the directory (mode 0700). Refuses a directory that already holds a console.
    pub fn create(&self) -> Result<()> {
        if self.database().exists() || self.ca_key().exists() {
            bail!(
                "{} already holds a console; refusing to overwrite it",
                self.root.display()
            );
        }
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .with_context(|| format!("creating data directory {}", self.root.display()))?;
        // An existing empty directory keeps its old mode unless we set it.
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting mode 0700 on {}", self.root.display()))?;
        Ok(())
    }

    /// Fails with a hint when the directory was never initialised.
    pub fn require_initialised(&self) -> Result<()> {
        if !self.database().exists() {
            bail!(
                "{} is not a console data directory (run `hotline-console init --data {}` first)",
                self.root.display(),
                self.root.display()
            );
        }
        Ok(())
    }
}

/// Writes a new file readable by its owner only (mode 0600 from creation, so there is no
/// moment when another user could open it), and syncs it to disk.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes a file that is not secret (certificates, configuration), replacing it atomically.
pub fn write_public(path: &Path, contents: &[u8]) -> Result<()> {
    let temporary = path.with_extension("tmp");
    fs::write(&temporary, contents).with_context(|| format!("writing {}", temporary.display()))?;
    fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))
}

pub fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
