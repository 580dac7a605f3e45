//! The agent's state directory: its key and certificate, the pinned console CA and the
//! device identity. The directory is 0700 and every file 0600, and the agent refuses to use
//! a key that other users could read.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hotline_protocol::DeviceId;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};

/// Everything the agent needs to connect.
pub struct AgentState {
    pub device: DeviceId,
    /// The console's `host:port`.
    pub console: String,
    pub certificate: CertificateDer<'static>,
    /// PKCS#8 DER of the device key.
    pub key: PrivatePkcs8KeyDer<'static>,
    pub ca: CertificateDer<'static>,
}

impl std::fmt::Debug for AgentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never appears in output.
        f.debug_struct("AgentState")
            .field("device", &self.device)
            .field("console", &self.console)
            .finish_non_exhaustive()
    }
}

impl AgentState {
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

#[derive(Serialize, Deserialize)]
struct DeviceFile {
    device: DeviceId,
    console: String,
}

/// Paths inside a state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: &Path) -> StateDir {
        StateDir {
            root: root.to_owned(),
        }
    }

    fn device_file(&self) -> PathBuf {
        self.root.join("device.json")
    }

    fn key_file(&self) -> PathBuf {
        self.root.join("device.key")
    }

    fn cert_file(&self) -> PathBuf {
        self.root.join("device.crt")
    }

    fn ca_file(&self) -> PathBuf {
        self.root.join("console-ca.crt")
    }

    pub fn is_enrolled(&self) -> bool {
        self.device_file().exists()
    }

    /// Stores a new enrollment. The device file is written last, so a crash midway leaves a
    /// directory that does not count as enrolled.
    pub fn save(&self, state: &AgentState) -> Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .with_context(|| format!("creating state directory {}", self.root.display()))?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting mode 0700 on {}", self.root.display()))?;

        write_private(&self.key_file(), state.key.secret_pkcs8_der())?;
        write_private(&self.cert_file(), &state.certificate)?;
        write_private(&self.ca_file(), &state.ca)?;
        let device = DeviceFile {
            device: state.device.clone(),
            console: state.console.clone(),
        };
        write_private(&self.device_file(), &serde_json::to_vec_pretty(&device)?)
    }

    pub fn load(&self) -> Result<AgentState> {
        if !self.is_enrolled() {
            bail!(
                "{} holds no enrollment (run `hotline-agent enroll --state {} ENROLLMENT` first)",
                self.root.display(),
                self.root.display()
            );
        }
        check_private(&self.root, 0o700)?;
        check_private(&self.key_file(), 0o600)?;

        let device: DeviceFile = serde_json::from_slice(&read(&self.device_file())?)
            .with_context(|| format!("parsing {}", self.device_file().display()))?;
        Ok(AgentState {
            device: device.device,
            console: device.console,
            certificate: CertificateDer::from(read(&self.cert_file())?),
            key: PrivatePkcs8KeyDer::from(read(&self.key_file())?),
            ca: CertificateDer::from(read(&self.ca_file())?),
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Refuses a path that group or others can access.
fn check_private(path: &Path, expected: u32) -> Result<()> {
    let metadata = fs::metadata(path).with_context(|| format!("inspecting {}", path.display()))?;
    let mode = metadata.mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} has mode {mode:o}, which lets other users read it; restore it with chmod {expected:o}",
            path.display()
        );
    }
    Ok(())
}

/// Replaces `path` with `contents`, mode 0600 from creation, synced before the rename.
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let temporary = path.with_extension("tmp");
    fs::remove_file(&temporary).ok();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temporary.display()))?;
    fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AgentState {
        AgentState {
            device: DeviceId::from_random(9),
            console: "127.0.0.1:4433".into(),
            certificate: CertificateDer::from(vec![1, 2, 3]),
            key: PrivatePkcs8KeyDer::from(vec![4, 5, 6]),
            ca: CertificateDer::from(vec![7, 8]),
        }
    }

    #[test]
    fn state_round_trips_with_private_modes() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = StateDir::new(&root.path().join("state"));
        dir.save(&sample()).expect("saves");
        let loaded = dir.load().expect("loads");
        assert_eq!(loaded.device, sample().device);
        assert_eq!(loaded.key.secret_pkcs8_der(), &[4, 5, 6]);
        for entry in fs::read_dir(root.path().join("state")).expect("lists") {
            let mode = entry.expect("entry").metadata().expect("metadata").mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = StateDir::new(root.path());
        dir.save(&sample()).expect("saves");
        fs::set_permissions(dir.key_file(), fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = dir.load().expect_err("refused").to_string();
        assert!(error.contains("lets other users read it"), "{error}");
    }

    #[test]
    fn debug_output_hides_the_key() {
        assert!(!format!("{:?}", sample()).contains("[4, 5, 6]"));
    }
}
