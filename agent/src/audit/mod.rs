//! The agent's durable audit log: every privileged action, and the agent's own
//! security-relevant lifecycle, is appended here and synced to disk before the action is
//! acknowledged; the link forwards the entries to the console in order until the console
//! acknowledges them.
//!
//! # On disk
//!
//! `STATE/audit/` (mode 0700) holds two files, both mode 0600:
//!
//! - `log`: a 48-byte header (`HLAUDIT1`, then the base seq as a big-endian `u64`, then the
//!   base hash: the last entry compacted away, or 0 and all zeros), then one record per
//!   entry: the payload length (`u32`, big-endian), the payload's SHA-256, and the payload,
//!   which is the [`AgentAuditEntry`] as JSON. Records are only ever appended, each with one
//!   positioned write followed by `fdatasync`. A crash mid-append leaves a record that is
//!   short, all zeros, or fails its checksum at the very end of the file: that torn tail is
//!   cut at the next open, never read. Damage with data after it is an error.
//! - `acked`: the highest seq the console has confirmed, as decimal text, replaced
//!   atomically (temporary file, `fsync`, rename, directory `fsync`).
//!
//! Entries form the chain described in [`hotline_protocol::audit`]; opening the log
//! verifies all of it, so an edited, deleted, inserted or reordered record is found. Once
//! the log passes [`AuditLimits::compact_at`] bytes, acknowledged entries are compacted
//! away: the log is rewritten (atomically, as above) starting from the last acknowledged
//! entry's seq and hash as its new base.
//!
//! A local edit that also recomputes every later hash and checksum cannot be found from the
//! device alone; the console's copy of acknowledged entries is what settles it.

mod format;
pub(crate) mod forward;
mod log;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hotline_protocol::audit::{
    AgentAuditEntry, AuditEntryError, AuditOutcome, MAX_ACTION, MAX_PARAMS, MAX_REASON,
    is_action_name,
};
use hotline_protocol::messages::truncate;
use serde_json::Value;
use tokio::sync::watch;

pub use format::ScanError;
pub use hotline_protocol::audit::AuditOutcome as Outcome;

use self::log::LogFile;

/// The directory of the audit log inside the agent's state directory.
pub fn audit_dir(state: &Path) -> PathBuf {
    state.join("audit")
}

/// Bounds on the log, so that a console that stays away cannot fill the disk.
#[derive(Debug, Clone, Copy)]
pub struct AuditLimits {
    /// Compact acknowledged entries away once the file is larger than this.
    pub compact_at: u64,
    /// Largest the file may grow; past it (after compaction) appends are refused.
    pub max_bytes: u64,
    /// Most entries the console may leave unacknowledged before appends are refused.
    pub max_unacked: u64,
}

impl Default for AuditLimits {
    fn default() -> AuditLimits {
        AuditLimits {
            compact_at: 1 << 20,
            max_bytes: 16 << 20,
            max_unacked: 50_000,
        }
    }
}

/// Why the log could not be opened, written or read. Every variant returned by
/// [`Audit::append`] means the action must be refused: it would go unrecorded.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(
        "audit queue full: {unacked} entries wait for the console (limit {limit}); \
         refusing the action until the console is reachable"
    )]
    QueueFull { unacked: u64, limit: u64 },
    #[error("audit log {path} cannot be written: disk full; refusing the action")]
    DiskFull {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("audit log {path} is damaged or was altered: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("audit log unusable after a write that could not be undone; restart the agent")]
    Unavailable,
    #[error("audit parameter {0:?} looks like a secret, which never goes into the audit log")]
    SecretParam(String),
    #[error("audit parameters must be a JSON object")]
    ParamsNotObject,
    #[error(transparent)]
    Entry(#[from] AuditEntryError),
}

impl AuditError {
    /// Classifies a failed write: a full disk or a file size limit is said as such.
    fn from_write(path: &Path, source: std::io::Error) -> AuditError {
        let full = matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull
                | std::io::ErrorKind::FileTooLarge
                | std::io::ErrorKind::QuotaExceeded
        );
        if full {
            AuditError::DiskFull {
                path: path.to_owned(),
                source,
            }
        } else {
            AuditError::Io {
                what: "writing",
                path: path.to_owned(),
                source,
            }
        }
    }
}

/// Parameter names refused outright: an entry is read by analysts and forwarded to other
/// systems, so a secret must never reach one, even by mistake.
const SECRET_NAMES: &[&str] = &["password", "passphrase", "secret", "token", "private"];

fn check_params(value: &Value) -> Result<(), AuditError> {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let lower = key.to_ascii_lowercase();
                if SECRET_NAMES.iter().any(|name| lower.contains(name)) {
                    return Err(AuditError::SecretParam(key.clone()));
                }
                check_params(inner)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(check_params),
        _ => Ok(()),
    }
}

/// The device's clock in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The open audit log, shared by whatever appends (actions, lifecycle) and the link that
/// forwards. Calls block on disk IO; call them from blocking contexts or
/// `spawn_blocking` when latency matters.
#[derive(Debug)]
pub struct Audit {
    log: Mutex<LogFile>,
    /// The last seq appended, for the link to wait on.
    appended: watch::Sender<u64>,
}

impl Audit {
    /// Opens (creating when missing) the audit log in the state directory `state`.
    pub fn open(state: &Path) -> Result<Audit, AuditError> {
        Audit::open_with(state, AuditLimits::default())
    }

    pub fn open_with(state: &Path, limits: AuditLimits) -> Result<Audit, AuditError> {
        let log = LogFile::open(&audit_dir(state), limits)?;
        let (appended, _) = watch::channel(log.last_seq());
        Ok(Audit {
            log: Mutex::new(log),
            appended,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogFile> {
        // A panic mid-append leaves at worst a torn record, which the file's own recovery
        // handles; the in-memory state is updated only after a write succeeded.
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records an action and returns once the entry is on disk. `params` is a JSON object
    /// without secrets; `ticket` the console ticket the action serves. An error means the
    /// entry was not recorded, and the action must be refused with the error as its reason.
    pub fn append(
        &self,
        action: &str,
        params: &Value,
        ticket: Option<u64>,
        outcome: AuditOutcome,
    ) -> Result<AgentAuditEntry, AuditError> {
        if !is_action_name(action) {
            let shown = action.chars().take(MAX_ACTION).collect();
            return Err(AuditEntryError::BadAction(shown).into());
        }
        if !params.is_object() {
            return Err(AuditError::ParamsNotObject);
        }
        check_params(params)?;
        let params_json = params.to_string();
        if params_json.len() > MAX_PARAMS {
            return Err(AuditEntryError::TooLong {
                field: "params",
                len: params_json.len(),
                limit: MAX_PARAMS,
            }
            .into());
        }
        // A reason comes from an error message; a long one is cut, not refused, since
        // refusing to record a failure would lose the record of it.
        let outcome = match outcome {
            AuditOutcome::Ok => AuditOutcome::Ok,
            AuditOutcome::Refused(reason) => {
                AuditOutcome::Refused(truncate(&reason, MAX_REASON).to_owned())
            }
            AuditOutcome::Failed(reason) => {
                AuditOutcome::Failed(truncate(&reason, MAX_REASON).to_owned())
            }
        };
        let fields = (action.to_owned(), params_json);
        let entry = self.lock().append(now_ms(), fields, ticket, outcome)?;
        self.appended.send_replace(entry.seq);
        Ok(entry)
    }

    /// Up to `max` entries from `from` on, in order.
    pub fn entries_from(&self, from: u64, max: usize) -> Result<Vec<AgentAuditEntry>, AuditError> {
        self.lock().read_from(from, max)
    }

    /// Notes that the console holds every entry up to `up_to`.
    pub fn acknowledge(&self, up_to: u64) -> Result<(), AuditError> {
        self.lock().acknowledge(up_to)
    }

    pub fn acked(&self) -> u64 {
        self.lock().acked()
    }

    pub fn last_seq(&self) -> u64 {
        self.lock().last_seq()
    }

    /// Changes whenever an entry is appended; the value is the last seq.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }
}

/// The log as `hotline-agent audit verify|list` sees it: read, verified, not changed.
#[derive(Debug)]
pub struct Inspection {
    /// The seq of the last entry compacted away (0 when none was).
    pub base_seq: u64,
    pub entries: Vec<AgentAuditEntry>,
    /// The highest seq the console has confirmed.
    pub acked: u64,
    /// Bytes of a record torn by a crash at the end of the log, cut when the agent next
    /// starts.
    pub torn_bytes: u64,
}

/// Reads and verifies the log in the state directory `state` without changing it. An error
/// names the first record that is damaged or does not continue the chain.
pub fn inspect(state: &Path) -> Result<Inspection, AuditError> {
    let dir = audit_dir(state);
    let (scan, file_len) = log::read_scan(&dir)?;
    let acked = log::read_acked(&dir)?.max(scan.base.seq);
    let last = scan.last().seq;
    if acked > last {
        return Err(AuditError::Corrupt {
            path: dir.join(log::LOG_FILE),
            detail: format!("console acknowledged entry {acked} but the log ends at {last}"),
        });
    }
    Ok(Inspection {
        base_seq: scan.base.seq,
        torn_bytes: file_len - scan.good_len,
        entries: scan.records.into_iter().map(|(_, entry)| entry).collect(),
        acked,
    })
}

#[cfg(test)]
mod tests;
