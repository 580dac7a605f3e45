//! The four top-level TUF roles as data, the signed envelope around each, and the threshold
//! check. Parsing goes envelope → canonical bytes → signatures → typed role, so a typed value
//! only exists once its signatures held.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};
use serde_json::Value;

use super::canonical::canonical_json;
use super::error::TrustError;
use super::keys::{KeyId, PublicKey, SigningKey};
use crate::digest::Sha256Digest;
use crate::names::PackagePath;

/// The TUF specification version our metadata declares.
pub const SPEC_VERSION: &str = "1.0.31";

/// A top-level role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    Root,
    Targets,
    Snapshot,
    Timestamp,
}

impl RoleName {
    /// The file name clients fetch for this role (root is fetched by version instead).
    pub fn file_name(self) -> &'static str {
        match self {
            RoleName::Root => "root.json",
            RoleName::Targets => "targets.json",
            RoleName::Snapshot => "snapshot.json",
            RoleName::Timestamp => "timestamp.json",
        }
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.file_name().trim_end_matches(".json");
        formatter.write_str(name)
    }
}

/// An expiry instant, written as RFC 3339 in UTC to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry(pub SystemTime);

impl fmt::Display for Expiry {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", humantime::format_rfc3339_seconds(self.0))
    }
}

impl Serialize for Expiry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Expiry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_rfc3339(&text)
            .map(Expiry)
            .map_err(serde::de::Error::custom)
    }
}

/// A signed metadata file: the role's content and the signatures over its canonical form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub signed: Value,
    pub signatures: Vec<SignatureEntry>,
}

/// One signature: which key made it (as claimed; checked against the role) and the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEntry {
    pub keyid: KeyId,
    pub sig: String,
}

/// The keys a role trusts and how many of them must sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleKeys {
    pub keyids: Vec<KeyId>,
    pub threshold: u32,
}

/// Root: the keys and thresholds of every role, including its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: Expiry,
    pub consistent_snapshot: bool,
    pub keys: BTreeMap<KeyId, PublicKey>,
    pub roles: BTreeMap<RoleName, RoleKeys>,
}

/// The version, and optionally length and hash, of one metadata file as another role saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaFile {
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<Hashes>,
}

/// Digests of a file. Only SHA-256 is produced and required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hashes {
    pub sha256: Sha256Digest,
}

/// Timestamp: names the current snapshot. Short-lived, re-signed often by an online key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timestamp {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: Expiry,
    pub meta: BTreeMap<String, MetaFile>,
}

/// Snapshot: the version of every targets metadata file published together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: Expiry,
    pub meta: BTreeMap<String, MetaFile>,
}

/// Targets: every installable file with its exact length and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: Expiry,
    pub targets: BTreeMap<PackagePath, TargetDescription>,
}

/// What the targets role says about one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetDescription {
    pub length: u64,
    pub hashes: Hashes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<TargetCustom>,
}

/// Hotline's additions: for a package, the length and digest of the tar inside, which a
/// delta patch must reproduce exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetCustom {
    pub unpacked_length: u64,
    pub unpacked_sha256: Sha256Digest,
}

/// Common to every role.
pub trait Role: Serialize + DeserializeOwned {
    const NAME: RoleName;
    fn kind(&self) -> &str;
    fn version(&self) -> u64;
    fn expires(&self) -> Expiry;
}

macro_rules! role {
    ($type:ident, $name:expr) => {
        impl Role for $type {
            const NAME: RoleName = $name;
            fn kind(&self) -> &str {
                &self.kind
            }
            fn version(&self) -> u64 {
                self.version
            }
            fn expires(&self) -> Expiry {
                self.expires
            }
        }
    };
}

role!(Root, RoleName::Root);
role!(Timestamp, RoleName::Timestamp);
role!(Snapshot, RoleName::Snapshot);
role!(Targets, RoleName::Targets);

/// Parses an envelope after checking its size: the cap comes before any parsing.
pub fn parse_envelope(role: RoleName, bytes: &[u8], limit: u64) -> Result<Envelope, TrustError> {
    let size = bytes.len() as u64;
    if size > limit {
        return Err(TrustError::TooLarge { role, size, limit });
    }
    serde_json::from_slice(bytes).map_err(|source| TrustError::Parse { role, source })
}

/// Turns a verified envelope into its typed role, checking the `_type` field so one role's
/// file cannot be passed off as another's.
pub fn decode_role<T: Role>(envelope: &Envelope) -> Result<T, TrustError> {
    let role = T::NAME;
    let value: T = serde_json::from_value(envelope.signed.clone())
        .map_err(|source| TrustError::Parse { role, source })?;
    if value.kind() != role.to_string() {
        return Err(TrustError::WrongType {
            role,
            found: value.kind().chars().take(40).collect(),
        });
    }
    Ok(value)
}

/// Checks that `threshold` distinct keys among `role_keys` signed the envelope. Each key counts
/// once however many signatures carry its id; signatures by keys the role does not list (for
/// example a revoked key) count for nothing.
pub fn verify_threshold(
    role: RoleName,
    envelope: &Envelope,
    role_keys: &RoleKeys,
    keys: &BTreeMap<KeyId, PublicKey>,
) -> Result<(), TrustError> {
    let message =
        canonical_json(&envelope.signed).map_err(|_| TrustError::NotCanonical { role })?;
    let trusted: BTreeSet<&KeyId> = role_keys.keyids.iter().collect();
    let mut valid: BTreeSet<&KeyId> = BTreeSet::new();
    let mut untrusted = 0usize;

    for signature in &envelope.signatures {
        let Some(key) = keys
            .get(&signature.keyid)
            .filter(|_| trusted.contains(&signature.keyid))
        else {
            untrusted += 1;
            continue;
        };
        if valid.contains(&signature.keyid) {
            tracing::debug!(%role, key = %signature.keyid, "second signature by one key ignored");
            continue;
        }
        match key.verify(&message, &signature.sig) {
            Ok(()) => {
                valid.insert(&signature.keyid);
            }
            Err(error) => {
                tracing::debug!(%role, key = %signature.keyid, %error, "signature refused")
            }
        }
    }

    let threshold = role_keys.threshold;
    if role_keys.threshold == 0 || (valid.len() as u64) < u64::from(threshold) {
        return Err(TrustError::Threshold {
            role,
            valid: valid.len(),
            threshold,
            untrusted,
        });
    }
    Ok(())
}

/// Signs `signed` with every key in `keys`.
pub fn sign<T: Serialize>(signed: &T, keys: &[&SigningKey]) -> Result<Envelope, TrustError> {
    let value = serde_json::to_value(signed).map_err(|source| TrustError::Parse {
        role: RoleName::Root,
        source,
    })?;
    let mut envelope = Envelope {
        signed: value,
        signatures: Vec::new(),
    };
    for key in keys {
        add_signature(&mut envelope, key)?;
    }
    Ok(envelope)
}

/// Adds (or replaces) `key`'s signature on an envelope, for roles whose threshold needs
/// several people signing in turn.
pub fn add_signature(envelope: &mut Envelope, key: &SigningKey) -> Result<(), TrustError> {
    let message = canonical_json(&envelope.signed).map_err(|_| TrustError::NotCanonical {
        role: RoleName::Root,
    })?;
    let keyid = key.public().key_id();
    envelope.signatures.retain(|entry| entry.keyid != keyid);
    envelope.signatures.push(SignatureEntry {
        keyid,
        sig: key.sign_hex(&message),
    });
    Ok(())
}

/// The encoded form of an envelope as written to a repository.
pub fn envelope_bytes(envelope: &Envelope) -> Vec<u8> {
    // Serialising a Value-based structure to a Vec cannot fail.
    serde_json::to_vec_pretty(envelope).unwrap_or_default()
}
