//! An agent's audit entries: what the device did, numbered and hash-chained on the device,
//! and forwarded to the console, which stores each entry once and acknowledges it.
//!
//! # The agent's chain
//!
//! Each entry carries `prev_hash`, the `hash` of the entry before it (all zeros before the
//! first), and its own `hash`:
//!
//! ```text
//! hash = SHA-256(prev_hash || canonical bytes)
//! ```
//!
//! The canonical bytes are fixed here rather than left to the wire codec, so that the hash
//! does not change when the codec does. All integers are big-endian; a string is its length
//! as a `u32` followed by its UTF-8 bytes:
//!
//! ```text
//! "hotline agent audit v1" 0x00      domain separation
//! seq          u64
//! at_ms        i64                   milliseconds since the Unix epoch
//! action       string
//! params_json  string
//! ticket       0x00 | 0x01 u64
//! outcome      0x00 (ok) | 0x01 (refused) string | 0x02 (failed) string
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::inventory::MAX_TEXT;

/// Longest action name, in bytes.
pub const MAX_ACTION: usize = 64;
/// Longest parameter text, in bytes. Parameters describe an action (an account name, a
/// package digest); anything larger belongs elsewhere.
pub const MAX_PARAMS: usize = 4096;
/// Longest outcome reason, in bytes.
pub const MAX_REASON: usize = MAX_TEXT;

/// Bytes of a SHA-256 hash.
pub const HASH_LEN: usize = 32;
/// The `prev_hash` of a device's first entry.
pub const GENESIS_HASH: [u8; HASH_LEN] = [0; HASH_LEN];

const DOMAIN: &[u8] = b"hotline agent audit v1\0";

/// How an audited action ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditOutcome {
    Ok,
    /// The action was not attempted; the reason says why.
    Refused(String),
    /// The action was attempted and did not succeed.
    Failed(String),
}

impl AuditOutcome {
    /// `ok`, `refused` or `failed`.
    pub fn name(&self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Refused(_) => "refused",
            AuditOutcome::Failed(_) => "failed",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            AuditOutcome::Ok => None,
            AuditOutcome::Refused(reason) | AuditOutcome::Failed(reason) => Some(reason),
        }
    }
}

/// One entry of a device's audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentAuditEntry {
    /// Position in the device's log: 1 for the first entry, then each one more.
    pub seq: u64,
    /// When the action happened, in milliseconds since the Unix epoch (the device's clock).
    pub at_ms: i64,
    /// A dotted verb such as `agent.started` or `credential.reset`.
    pub action: String,
    /// The action's parameters as JSON text, never holding a secret.
    pub params_json: String,
    /// The console ticket the action was done for, if any.
    pub ticket: Option<u64>,
    pub outcome: AuditOutcome,
    pub prev_hash: [u8; HASH_LEN],
    pub hash: [u8; HASH_LEN],
}

/// An entry field over its limit or out of shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditEntryError {
    #[error("audit {field} too long: {len} > {limit} bytes")]
    TooLong {
        field: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("audit action {0:?} is not a dotted lowercase name")]
    BadAction(String),
    #[error("audit sequence numbers start at 1")]
    ZeroSeq,
    #[error("audit entry {seq} does not match its hash")]
    HashMismatch { seq: u64 },
}

fn check_len(field: &'static str, text: &str, limit: usize) -> Result<(), AuditEntryError> {
    if text.len() > limit {
        return Err(AuditEntryError::TooLong {
            field,
            len: text.len(),
            limit,
        });
    }
    Ok(())
}

/// Whether `action` is a dotted name of lowercase letters, digits, `-` and `_`, such as
/// `agent.started`: no empty parts, nothing to confuse a log reader.
pub fn is_action_name(action: &str) -> bool {
    !action.is_empty()
        && action.len() <= MAX_ACTION
        && action.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

impl AgentAuditEntry {
    /// Makes the entry that follows `prev_hash`, computing its hash.
    pub fn new(
        seq: u64,
        at_ms: i64,
        (action, params_json): (String, String),
        ticket: Option<u64>,
        outcome: AuditOutcome,
        prev_hash: [u8; HASH_LEN],
    ) -> AgentAuditEntry {
        let mut entry = AgentAuditEntry {
            seq,
            at_ms,
            action,
            params_json,
            ticket,
            outcome,
            prev_hash,
            hash: [0; HASH_LEN],
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// The canonical bytes described in the module documentation.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.action.len() + self.params_json.len());
        out.extend_from_slice(DOMAIN);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at_ms.to_be_bytes());
        put_str(&mut out, &self.action);
        put_str(&mut out, &self.params_json);
        match self.ticket {
            None => out.push(0),
            Some(ticket) => {
                out.push(1);
                out.extend_from_slice(&ticket.to_be_bytes());
            }
        }
        match &self.outcome {
            AuditOutcome::Ok => out.push(0),
            AuditOutcome::Refused(reason) => {
                out.push(1);
                put_str(&mut out, reason);
            }
            AuditOutcome::Failed(reason) => {
                out.push(2);
                put_str(&mut out, reason);
            }
        }
        out
    }

    /// SHA-256 over `prev_hash` and the canonical bytes.
    pub fn compute_hash(&self) -> [u8; HASH_LEN] {
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash);
        hasher.update(self.canonical_bytes());
        hasher.finalize().into()
    }

    /// Checks every limit, the action's shape, and that `hash` covers the entry. It cannot
    /// check `prev_hash`: only the holder of the previous entry can.
    pub fn check(&self) -> Result<(), AuditEntryError> {
        if self.seq == 0 {
            return Err(AuditEntryError::ZeroSeq);
        }
        check_len("action", &self.action, MAX_ACTION)?;
        if !is_action_name(&self.action) {
            let shown = self.action.chars().take(MAX_ACTION).collect();
            return Err(AuditEntryError::BadAction(shown));
        }
        check_len("params", &self.params_json, MAX_PARAMS)?;
        check_len("reason", self.outcome.reason().unwrap_or(""), MAX_REASON)?;
        if self.compute_hash() != self.hash {
            return Err(AuditEntryError::HashMismatch { seq: self.seq });
        }
        Ok(())
    }
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    // Every string is capped far below 4 GiB before it gets here; saturate rather than wrap
    // should a caller skip `check`.
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seq: u64, prev_hash: [u8; HASH_LEN]) -> AgentAuditEntry {
        AgentAuditEntry::new(
            seq,
            1_700_000_000_000,
            ("agent.started".into(), r#"{"version":"0.1.0"}"#.into()),
            Some(42),
            AuditOutcome::Ok,
            prev_hash,
        )
    }

    #[test]
    fn a_fresh_entry_passes_its_checks() {
        assert_eq!(sample(1, GENESIS_HASH).check(), Ok(()));
    }

    #[test]
    fn the_hash_follows_the_documented_layout() {
        // Recomputed by hand from the layout in the module documentation, so that a change
        // to the encoding cannot slip through unnoticed.
        let entry = sample(1, GENESIS_HASH);
        let mut bytes = b"hotline agent audit v1\0".to_vec();
        bytes.extend_from_slice(&1u64.to_be_bytes());
        bytes.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        bytes.extend_from_slice(&13u32.to_be_bytes());
        bytes.extend_from_slice(b"agent.started");
        bytes.extend_from_slice(&19u32.to_be_bytes());
        bytes.extend_from_slice(br#"{"version":"0.1.0"}"#);
        bytes.push(1);
        bytes.extend_from_slice(&42u64.to_be_bytes());
        bytes.push(0);
        assert_eq!(entry.canonical_bytes(), bytes);
        let mut hasher = Sha256::new();
        hasher.update(GENESIS_HASH);
        hasher.update(&bytes);
        assert_eq!(entry.hash, <[u8; 32]>::from(hasher.finalize()));
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let entry = sample(1, GENESIS_HASH);
        let edits: [fn(&mut AgentAuditEntry); 7] = [
            |e| e.seq = 2,
            |e| e.at_ms += 1,
            |e| e.action = "agent.stopped".into(),
            |e| e.params_json = "{}".into(),
            |e| e.ticket = None,
            |e| e.outcome = AuditOutcome::Refused(String::new()),
            |e| e.prev_hash = [1; HASH_LEN],
        ];
        for edit in edits {
            let mut edited = entry.clone();
            edit(&mut edited);
            assert!(
                matches!(edited.check(), Err(AuditEntryError::HashMismatch { .. })),
                "{edited:?}"
            );
        }
    }

    #[test]
    fn refused_and_failed_outcomes_hash_differently() {
        let refused = AuditOutcome::Refused("disk full".into());
        let failed = AuditOutcome::Failed("disk full".into());
        let a = AgentAuditEntry::new(
            1,
            0,
            ("a.b".into(), "{}".into()),
            None,
            refused,
            GENESIS_HASH,
        );
        let b = AgentAuditEntry::new(
            1,
            0,
            ("a.b".into(), "{}".into()),
            None,
            failed,
            GENESIS_HASH,
        );
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn oversized_and_malformed_fields_are_refused() {
        let mut entry = sample(1, GENESIS_HASH);
        entry.params_json = "x".repeat(MAX_PARAMS + 1);
        entry.hash = entry.compute_hash();
        assert!(matches!(
            entry.check(),
            Err(AuditEntryError::TooLong {
                field: "params",
                ..
            })
        ));

        for action in [
            "",
            "Agent.started",
            "agent..started",
            "agent.started.",
            "a b",
            "ä",
        ] {
            assert!(!is_action_name(action), "{action:?} accepted");
        }
        assert!(is_action_name("credential.reset"));
        assert_eq!(
            sample(0, GENESIS_HASH).check(),
            Err(AuditEntryError::ZeroSeq)
        );
    }
}
