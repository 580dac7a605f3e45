//! Persisting the trusted metadata and highest versions in the agent's state directory, so a
//! restart never forgets a version and a rollback stays refused.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checks::verify_role;
use super::client::{MetadataLimits, TrustedSet, Versions};
use super::error::TrustError;
use super::metadata::{Envelope, Role, Root, decode_role, envelope_bytes, parse_envelope};
use crate::fsutil::write_atomic;

const STATE_FILE: &str = "trust.json";
/// The state holds every trusted metadata file; bounded like them.
const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;

/// Why the trust state could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("trust state {path} is larger than {MAX_STATE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("trust state {path} is invalid")]
    Invalid {
        path: PathBuf,
        #[source]
        source: TrustError,
    },
}

/// Writes the set's state to `directory/trust.json` (mode 0600), atomically.
pub fn save_state(directory: &Path, set: &TrustedSet) -> Result<(), StateError> {
    let path = directory.join(STATE_FILE);
    let bytes = serde_json::to_vec_pretty(&set.to_state()).unwrap_or_default();
    write_atomic(&path, &bytes, 0o600).map_err(|source| StateError::Io {
        action: "write",
        path,
        source,
    })
}

/// Loads the state saved by [`save_state`], or `None` when there is none yet (before the root
/// is pinned at enrollment).
pub fn load_state(
    directory: &Path,
    limits: MetadataLimits,
) -> Result<Option<TrustedSet>, StateError> {
    let path = directory.join(STATE_FILE);
    let metadata = match std::fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                action: "inspect",
                path,
                source,
            });
        }
    };
    if metadata.len() > MAX_STATE_BYTES {
        return Err(StateError::TooLarge { path });
    }
    let bytes = std::fs::read(&path).map_err(|source| StateError::Io {
        action: "read",
        path: path.clone(),
        source,
    })?;
    let state: TrustState =
        serde_json::from_slice(&bytes).map_err(|source| StateError::Invalid {
            path: path.clone(),
            source: TrustError::State(source),
        })?;
    TrustedSet::from_state(&state, limits)
        .map(Some)
        .map_err(|source| StateError::Invalid { path, source })
}

/// The persisted form of a [`TrustedSet`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustState {
    pub root: String,
    pub timestamp: Option<String>,
    pub snapshot: Option<String>,
    pub targets: Option<String>,
    pub highest: Versions,
}

impl TrustedSet {
    /// The trusted metadata and highest versions, to persist after every successful update.
    pub fn to_state(&self) -> TrustState {
        let text =
            |envelope: &Envelope| String::from_utf8_lossy(&envelope_bytes(envelope)).into_owned();
        TrustState {
            root: text(&self.root.1),
            timestamp: self.timestamp.as_ref().map(|(_, envelope)| text(envelope)),
            snapshot: self.snapshot.as_ref().map(|(_, envelope)| text(envelope)),
            targets: self.targets.as_ref().map(|(_, envelope)| text(envelope)),
            highest: self.highest,
        }
    }

    /// Restores a persisted set. Signatures are checked again; expiry is not (that is checked
    /// at the next update and at every use).
    pub fn from_state(state: &TrustState, limits: MetadataLimits) -> Result<Self, TrustError> {
        let mut set = Self::pin(state.root.as_bytes(), limits)?;
        set.timestamp = restore(
            &set.root.0,
            state.timestamp.as_deref(),
            set.limits.timestamp,
        )?;
        set.snapshot = restore(&set.root.0, state.snapshot.as_deref(), set.limits.snapshot)?;
        set.targets = restore(&set.root.0, state.targets.as_deref(), set.limits.targets)?;
        set.highest = Versions {
            root: set.root.0.version.max(state.highest.root),
            timestamp: state
                .highest
                .timestamp
                .max(set.timestamp.as_ref().map_or(0, |t| t.0.version)),
            snapshot: state
                .highest
                .snapshot
                .max(set.snapshot.as_ref().map_or(0, |s| s.0.version)),
            targets: state
                .highest
                .targets
                .max(set.targets.as_ref().map_or(0, |t| t.0.version)),
        };
        Ok(set)
    }
}

fn restore<T: Role>(
    root: &Root,
    text: Option<&str>,
    limit: u64,
) -> Result<Option<(T, Envelope)>, TrustError> {
    let Some(text) = text else { return Ok(None) };
    let envelope = parse_envelope(T::NAME, text.as_bytes(), limit)?;
    verify_role(root, T::NAME, &envelope)?;
    Ok(Some((decode_role(&envelope)?, envelope)))
}
