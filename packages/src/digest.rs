//! SHA-256 digests as a value type, so a digest is never confused with an arbitrary hex string
//! and always compares in constant form (lowercase bytes, not text).

use std::fmt;
use std::io::{self, Read};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest, written as 64 lowercase hex characters in every file format.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest([u8; 32]);

/// A string that is not 64 hex characters.
#[derive(Debug, thiserror::Error)]
#[error("invalid sha-256 digest {shown:?}: expected 64 hex characters")]
pub struct DigestParseError {
    shown: String,
}

impl Sha256Digest {
    /// Digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Digest of everything `reader` yields, with the number of bytes read.
    pub fn of_reader(reader: &mut impl Read) -> io::Result<(Self, u64)> {
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let read = reader.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            total += read as u64;
        }
        Ok((Self(hasher.finalize().into()), total))
    }

    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex characters (either case).
    pub fn from_hex(text: &str) -> Result<Self, DigestParseError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| DigestParseError {
            // Cap what we echo back: the text may come from a hostile file.
            shown: text.chars().take(80).collect(),
        })?;
        Ok(Self(bytes))
    }

    /// The digest as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Sha256Digest({})", self.to_hex())
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// A hasher that can be fed while bytes stream past, for files too large to hold twice.
#[derive(Default)]
pub(crate) struct StreamingDigest(Sha256);

impl StreamingDigest {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub(crate) fn finish(self) -> Sha256Digest {
        Sha256Digest(self.0.finalize().into())
    }
}

impl fmt::Debug for StreamingDigest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("StreamingDigest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_of_empty_input() {
        assert_eq!(
            Sha256Digest::of(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hex_round_trip_and_refusal() {
        let digest = Sha256Digest::of(b"hotline");
        assert_eq!(Sha256Digest::from_hex(&digest.to_hex()).ok(), Some(digest));
        assert!(Sha256Digest::from_hex("abc").is_err());
        assert!(Sha256Digest::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn reader_digest_matches_slice_digest() {
        let data = vec![7u8; 200_000];
        let (digest, length) = Sha256Digest::of_reader(&mut data.as_slice()).expect("in memory");
        assert_eq!(digest, Sha256Digest::of(&data));
        assert_eq!(length, 200_000);
    }
}
