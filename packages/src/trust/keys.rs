//! ed25519 keys as TUF describes them: a public key in JSON, its key id (the SHA-256 of that
//! JSON in canonical form), strict verification, and a signing key that never prints itself.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use super::canonical::canonical_json;
use crate::digest::Sha256Digest;

/// The identifier of a key: hex SHA-256 of the key's canonical JSON. We always recompute it
/// from the key itself and never trust an id that a metadata file merely states.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyId(Sha256Digest);

impl fmt::Display for KeyId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight bytes are plenty to tell keys apart in messages.
        formatter.write_str(&self.0.to_hex()[..16])
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "KeyId({})", self.0.to_hex())
    }
}

/// Why a public key or signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("key type {found:?} is not supported, only ed25519")]
    Unsupported { found: String },
    #[error("public key is not 32 hex-encoded bytes")]
    Encoding,
    #[error("public key is not a valid curve point")]
    NotOnCurve,
    #[error("public key is a weak (small-order) ed25519 key")]
    Weak,
    #[error("signature is not 64 hex-encoded bytes")]
    SignatureEncoding,
    #[error("signature does not verify")]
    BadSignature,
}

/// An ed25519 public key that is on the curve and not of small order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Accepts 32 key bytes, refusing points off the curve and weak (small-order) keys, for
    /// which forged signatures are trivial under lax verification.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotOnCurve)?;
        if key.is_weak() {
            return Err(KeyError::Weak);
        }
        Ok(Self(key))
    }

    /// The 32 key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key id, computed from the key.
    pub fn key_id(&self) -> KeyId {
        let json = serde_json::to_value(KeyJson::from(self)).unwrap_or_default();
        // The value holds only strings, so canonical encoding cannot fail.
        KeyId(Sha256Digest::of(&canonical_json(&json).unwrap_or_default()))
    }

    /// Verifies `signature` over `message` strictly: non-canonical signatures and small-order
    /// components are refused (the checks that plain ed25519 verification skips).
    pub fn verify(&self, message: &[u8], signature_hex: &str) -> Result<(), KeyError> {
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(signature_hex, &mut bytes).map_err(|_| KeyError::SignatureEncoding)?;
        let signature = Signature::from_bytes(&bytes);
        self.0
            .verify_strict(message, &signature)
            .map_err(|_| KeyError::BadSignature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "PublicKey({})", hex::encode(self.to_bytes()))
    }
}

/// The JSON form of a key, as TUF writes it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyJson {
    keytype: String,
    scheme: String,
    keyval: KeyValue,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyValue {
    public: String,
}

impl From<&PublicKey> for KeyJson {
    fn from(key: &PublicKey) -> Self {
        KeyJson {
            keytype: "ed25519".to_owned(),
            scheme: "ed25519".to_owned(),
            keyval: KeyValue {
                public: hex::encode(key.to_bytes()),
            },
        }
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        KeyJson::from(self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = KeyJson::deserialize(deserializer)?;
        PublicKey::try_from(json).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<KeyJson> for PublicKey {
    type Error = KeyError;

    fn try_from(json: KeyJson) -> Result<Self, KeyError> {
        if json.keytype != "ed25519" || json.scheme != "ed25519" {
            return Err(KeyError::Unsupported {
                found: format!("{}/{}", json.keytype, json.scheme),
            });
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&json.keyval.public, &mut bytes).map_err(|_| KeyError::Encoding)?;
        PublicKey::from_bytes(&bytes)
    }
}

/// A private ed25519 key. Its seed is wiped from memory on drop and never printed.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())?;
        Ok(Self::from_seed(&seed))
    }

    /// The key for a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The seed, for writing to a key file.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `message`, returning the signature in hex.
    pub fn sign_hex(&self, message: &[u8]) -> String {
        hex::encode(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "SigningKey(public {})", self.public().key_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let key = SigningKey::from_seed(&[3; 32]);
        let signature = key.sign_hex(b"message");
        assert_eq!(key.public().verify(b"message", &signature), Ok(()));
        assert_eq!(
            key.public().verify(b"other", &signature),
            Err(KeyError::BadSignature)
        );
        assert_eq!(
            key.public().verify(b"message", "00"),
            Err(KeyError::SignatureEncoding)
        );
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point: every "signature" (R = identity, s = 0) verifies under lax rules.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::Weak));
        // A point of order 2 (y = -1).
        let mut order_two = [0xffu8; 32];
        order_two[0] = 0xec;
        order_two[31] = 0x7f;
        assert_eq!(PublicKey::from_bytes(&order_two), Err(KeyError::Weak));
    }

    #[test]
    fn key_json_round_trip_and_stable_id() {
        let public = SigningKey::from_seed(&[9; 32]).public();
        let json = serde_json::to_string(&public).expect("serialises");
        let parsed: PublicKey = serde_json::from_str(&json).expect("parses");
        assert_eq!(parsed, public);
        assert_eq!(parsed.key_id(), public.key_id());
        assert_ne!(
            SigningKey::from_seed(&[8; 32]).public().key_id(),
            public.key_id()
        );
    }

    #[test]
    fn debug_never_shows_the_seed() {
        let key = SigningKey::from_seed(&[0xab; 32]);
        assert!(!format!("{key:?}").contains("abab"));
    }
}
