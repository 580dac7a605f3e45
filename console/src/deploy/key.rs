//! The console's assignment key: an ed25519 key that signs each assignment (this device,
//! this package digest, this ticket, a nonce, an expiry). It is made on first use, kept
//! 0600 in the data directory, and never leaves it; devices pin its public half.
//!
//! It is not a publisher key: a device installs only what the publisher's metadata also
//! names, so whoever steals this key can at most re-deploy published packages.

use std::path::Path;

use anyhow::{Context, Result, bail};
use ed25519_dalek::{Signer, SigningKey};
use hotline_protocol::deploy::Assignment;

use crate::datadir::{DataDir, write_private};

/// The key file's name in the data directory.
const FILE: &str = "assignment.key";

#[derive(Debug)]
pub struct AssignmentKey {
    key: SigningKey,
}

impl AssignmentKey {
    /// Loads the key, making it first if the data directory has none (a console initialised
    /// before deployments existed gets one the first time it needs it).
    pub fn load_or_create(dir: &DataDir) -> Result<AssignmentKey> {
        let path = dir.root().join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Self::from_file(&path, &bytes),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).context("reading the OS random source")?;
                write_private(&path, &seed)?;
                Ok(AssignmentKey {
                    key: SigningKey::from_bytes(&seed),
                })
            }
            Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn from_file(path: &Path, bytes: &[u8]) -> Result<AssignmentKey> {
        use std::os::unix::fs::MetadataExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("inspecting {}", path.display()))?
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} has mode {:o}, which lets other users read it; restore it with chmod 600",
                path.display(),
                mode & 0o777
            );
        }
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key", path.display()))?;
        Ok(AssignmentKey {
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs an assignment's signing bytes.
    pub fn sign(&self, assignment: &Assignment) -> Result<Vec<u8>> {
        let bytes = assignment
            .signing_bytes()
            .context("encoding an assignment")?;
        Ok(self.key.sign(&bytes).to_bytes().to_vec())
    }
}
