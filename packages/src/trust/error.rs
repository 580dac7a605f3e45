//! Why metadata or a target was refused. Every variant names the role or target, and the
//! number or limit that decided it, so the refusal recorded on a ticket explains itself.

use super::keys::{KeyError, KeyId};
use super::metadata::RoleName;
use crate::names::PackagePath;

/// A refusal of metadata or of a target. All of these are the repository's (or an attacker's)
/// fault, except `State`, which is local.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{role} metadata too large: {size} > {limit} bytes")]
    TooLarge {
        role: RoleName,
        size: u64,
        limit: u64,
    },
    #[error("{role} metadata is not valid")]
    Parse {
        role: RoleName,
        #[source]
        source: serde_json::Error,
    },
    #[error("{role} metadata has type {found:?}")]
    WrongType { role: RoleName, found: String },
    #[error("{role} metadata has no canonical form (non-integer number)")]
    NotCanonical { role: RoleName },
    #[error(
        "{role} metadata has {valid} valid signature(s) from distinct trusted keys, {threshold} required \
         ({untrusted} signature(s) by keys the role does not trust)"
    )]
    Threshold {
        role: RoleName,
        valid: usize,
        threshold: u32,
        untrusted: usize,
    },
    #[error("root lists key {key_id} under an id that is not its own")]
    KeyIdMismatch { key_id: KeyId },
    #[error("root lists key {key_id} which is refused")]
    Key {
        key_id: KeyId,
        #[source]
        source: KeyError,
    },
    #[error("root role {role} is missing, has threshold 0, or names a key root does not list")]
    BadRole { role: RoleName },
    #[error("root role {role} has threshold {threshold} but only {keys} distinct keys")]
    UnreachableThreshold {
        role: RoleName,
        threshold: u32,
        keys: usize,
    },
    #[error("new root has version {found}, expected exactly {expected}")]
    RootVersion { found: u64, expected: u64 },
    #[error("{role} version {found} is older than version {trusted} already trusted (rollback)")]
    Rollback {
        role: RoleName,
        trusted: u64,
        found: u64,
    },
    #[error("{role} metadata expired at {expires}, now is {now} (freeze)")]
    Expired {
        role: RoleName,
        expires: String,
        now: String,
    },
    #[error("{role} {what} is {found}, but {by} says {expected} (mix-and-match)")]
    Mismatch {
        role: RoleName,
        by: RoleName,
        what: &'static str,
        found: String,
        expected: String,
    },
    #[error("{by} metadata does not describe {entry}")]
    MissingMeta { by: RoleName, entry: String },
    #[error("{role} metadata cannot be loaded before trusted {needs} metadata")]
    OutOfOrder { role: RoleName, needs: RoleName },
    #[error("target {name} is not in the signed targets metadata")]
    UnknownTarget { name: PackagePath },
    #[error("target {name} is longer than its signed length {length} bytes (endless data)")]
    TargetTooLong { name: PackagePath, length: u64 },
    #[error("target {name} is {found} bytes, its signed length is {expected}")]
    TargetLength {
        name: PackagePath,
        found: u64,
        expected: u64,
    },
    #[error("target {name} does not match its signed sha-256")]
    TargetDigest { name: PackagePath },
    #[error("target {name} has no signed unpacked digest, so a patch result cannot be checked")]
    NoUnpackedDigest { name: PackagePath },
    #[error("persisted trust state is invalid")]
    State(#[source] serde_json::Error),
}
