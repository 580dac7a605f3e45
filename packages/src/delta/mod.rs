//! Delta patches between two versions of a package's tar (or any two files). Two encoders:
//! zstd with the old file as a referenced prefix (what `zstd --patch-from` does) and bsdiff
//! (through qbsdiff). `Choice::Auto` builds both, when memory allows, and keeps the smaller.
//!
//! A patch carries the length and SHA-256 of both ends. Applying checks the old end before
//! starting and the new end after; the agent then checks the result against the digest the
//! targets role signed, and on any mismatch discards it and fetches the full package.

mod update;

use std::io::{self, Read, Write};

use zstd::stream::raw::CParameter;

pub use update::{UpdateError, Via, update_via_patch};

use crate::digest::Sha256Digest;

const MAGIC: &[u8; 8] = b"HLPATCH1";
const HEADER_LEN: usize = 8 + 4 + 8 + 32 + 8 + 32;
/// zstd level for patches, as for packages: slow once at the publisher, fast everywhere else.
const ZSTD_LEVEL: i32 = 19;
/// zstd's smallest chain and hash tables (`ZSTD_CHAINLOG_MIN`, `ZSTD_HASHLOG_MIN`).
const ZSTD_TABLE_LOG_MIN: u32 = 6;
/// Long-distance matching pays off once inputs outgrow the level's own match window.
const LONG_DISTANCE_FROM: usize = 16 * 1024 * 1024;

/// The encoder a patch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Zstd,
    Bsdiff,
}

/// Which encoder(s) to try when making a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Auto,
    Zstd,
    Bsdiff,
}

/// Bounds on making and applying patches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchLimits {
    /// Largest result a patch may declare.
    pub max_output_bytes: u64,
    /// bsdiff's suffix sort needs several times the old file in memory; above this size only
    /// zstd is tried.
    pub max_bsdiff_source_bytes: u64,
    /// Largest zstd window (log2 bytes) a patch may ask the decoder for.
    pub max_window_log: u32,
}

impl Default for PatchLimits {
    fn default() -> Self {
        Self {
            max_output_bytes: 2 << 30,
            max_bsdiff_source_bytes: 256 << 20,
            max_window_log: 31,
        }
    }
}

/// The fixed header of a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchHeader {
    pub algorithm: Algorithm,
    pub window_log: u32,
    pub old_len: u64,
    pub old_sha256: Sha256Digest,
    pub new_len: u64,
    pub new_sha256: Sha256Digest,
}

/// Why a patch could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("zstd encoding failed")]
    Zstd(#[source] io::Error),
    #[error("bsdiff encoding failed")]
    Bsdiff(#[source] io::Error),
    #[error("old file of {size} bytes is above the bsdiff limit of {limit} bytes")]
    TooLargeForBsdiff { size: u64, limit: u64 },
}

/// Why a patch could not be applied. Every case means: discard, use the full package.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("patch is truncated or has no hotline patch header")]
    Header,
    #[error("patch uses unknown algorithm {found}")]
    Algorithm { found: u8 },
    #[error(
        "patch is for an old file of {expected} bytes with sha-256 {expected_sha256}, not this one"
    )]
    WrongBase {
        expected: u64,
        expected_sha256: Sha256Digest,
    },
    #[error("patch declares a result of {size} bytes, above the limit of {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("patch asks for a zstd window of 2^{found}, above the limit of 2^{limit}")]
    Window { found: u32, limit: u32 },
    #[error("patch body is corrupt")]
    Body(#[source] io::Error),
    #[error("patch result is {found} bytes, expected {expected}")]
    Length { found: u64, expected: u64 },
    #[error("patch result does not match the sha-256 in the patch")]
    Digest,
}

/// Makes a patch turning `old` into `new`.
pub fn make(
    old: &[u8],
    new: &[u8],
    choice: Choice,
    limits: &PatchLimits,
) -> Result<Vec<u8>, DiffError> {
    let bsdiff_allowed = old.len() as u64 <= limits.max_bsdiff_source_bytes;
    match choice {
        Choice::Zstd => make_zstd(old, new),
        Choice::Bsdiff if !bsdiff_allowed => Err(DiffError::TooLargeForBsdiff {
            size: old.len() as u64,
            limit: limits.max_bsdiff_source_bytes,
        }),
        Choice::Bsdiff => make_bsdiff(old, new),
        Choice::Auto => {
            let zstd = make_zstd(old, new)?;
            if !bsdiff_allowed {
                return Ok(zstd);
            }
            let bsdiff = make_bsdiff(old, new)?;
            Ok(if bsdiff.len() < zstd.len() {
                bsdiff
            } else {
                zstd
            })
        }
    }
}

/// Reads a patch's header.
pub fn header(patch: &[u8]) -> Result<PatchHeader, PatchError> {
    if patch.len() < HEADER_LEN || &patch[..8] != MAGIC {
        return Err(PatchError::Header);
    }
    let algorithm = match patch[8] {
        1 => Algorithm::Zstd,
        2 => Algorithm::Bsdiff,
        found => return Err(PatchError::Algorithm { found }),
    };
    let u64_at = |at: usize| u64::from_le_bytes(patch[at..at + 8].try_into().unwrap_or_default());
    let digest_at =
        |at: usize| Sha256Digest::from_bytes(patch[at..at + 32].try_into().unwrap_or_default());
    Ok(PatchHeader {
        algorithm,
        window_log: u32::from(patch[9]),
        old_len: u64_at(12),
        old_sha256: digest_at(20),
        new_len: u64_at(52),
        new_sha256: digest_at(60),
    })
}

/// Applies `patch` to `old`, checking both ends against the patch header.
pub fn apply(old: &[u8], patch: &[u8], limits: &PatchLimits) -> Result<Vec<u8>, PatchError> {
    let header = header(patch)?;
    if header.old_len != old.len() as u64 || header.old_sha256 != Sha256Digest::of(old) {
        return Err(PatchError::WrongBase {
            expected: header.old_len,
            expected_sha256: header.old_sha256,
        });
    }
    if header.new_len > limits.max_output_bytes {
        return Err(PatchError::TooLarge {
            size: header.new_len,
            limit: limits.max_output_bytes,
        });
    }
    let body = &patch[HEADER_LEN..];
    let mut out = CappedWriter {
        buffer: Vec::new(),
        cap: header.new_len,
    };
    match header.algorithm {
        Algorithm::Zstd => {
            if header.window_log > limits.max_window_log {
                return Err(PatchError::Window {
                    found: header.window_log,
                    limit: limits.max_window_log,
                });
            }
            let mut decoder = zstd::stream::read::Decoder::with_ref_prefix(body, old)
                .map_err(PatchError::Body)?;
            decoder
                .window_log_max(header.window_log)
                .map_err(PatchError::Body)?;
            io::copy(&mut decoder.take(header.new_len + 1), &mut out).map_err(PatchError::Body)?;
        }
        Algorithm::Bsdiff => {
            let patcher = qbsdiff::Bspatch::new(body).map_err(PatchError::Body)?;
            if patcher.hint_target_size() != header.new_len {
                return Err(PatchError::Length {
                    found: patcher.hint_target_size(),
                    expected: header.new_len,
                });
            }
            patcher.apply(old, &mut out).map_err(PatchError::Body)?;
        }
    }

    let result = out.buffer;
    if result.len() as u64 != header.new_len {
        return Err(PatchError::Length {
            found: result.len() as u64,
            expected: header.new_len,
        });
    }
    if Sha256Digest::of(&result) != header.new_sha256 {
        return Err(PatchError::Digest);
    }
    Ok(result)
}

fn make_zstd(old: &[u8], new: &[u8]) -> Result<Vec<u8>, DiffError> {
    // The window must span the old file and the new one, so every match is reachable.
    let span = (old.len() + new.len()).max(1 << 10);
    let window_log = (usize::BITS - (span - 1).leading_zeros()).clamp(10, 31);
    let mut patch = header_bytes(Algorithm::Zstd, window_log, old, new);
    let mut encoder = zstd::stream::write::Encoder::with_ref_prefix(&mut patch, ZSTD_LEVEL, old)
        .map_err(DiffError::Zstd)?;
    encoder
        .set_pledged_src_size(Some(new.len() as u64))
        .map_err(DiffError::Zstd)?;
    encoder.window_log(window_log).map_err(DiffError::Zstd)?;
    // Level 19 sizes its match finder for the level, not the input: 2^24 chain and 2^22 hash
    // entries of 4 bytes, 80 MiB even for a few megabytes of package. Tables an eighth and
    // a sixteenth of the window keep the encoder below bsdiff's suffix array (about eight bytes
    // per old byte), so `Auto` never needs more memory than bsdiff alone, and cost little in
    // size: the old file is a referenced prefix, so its matches are long and easy to find.
    let (chain_log, hash_log) = match_tables(window_log);
    encoder
        .set_parameter(CParameter::ChainLog(chain_log))
        .map_err(DiffError::Zstd)?;
    encoder
        .set_parameter(CParameter::HashLog(hash_log))
        .map_err(DiffError::Zstd)?;
    encoder
        .long_distance_matching(span >= LONG_DISTANCE_FROM)
        .map_err(DiffError::Zstd)?;
    encoder.include_checksum(false).map_err(DiffError::Zstd)?;
    encoder.write_all(new).map_err(DiffError::Zstd)?;
    encoder.finish().map_err(DiffError::Zstd)?;
    Ok(patch)
}

/// The zstd chain and hash table sizes (log2 entries) for a window of `2^window_log` bytes:
/// at most level 19's own sizes, at least zstd's minimum.
fn match_tables(window_log: u32) -> (u32, u32) {
    let chain_log = window_log.saturating_sub(3).clamp(ZSTD_TABLE_LOG_MIN, 24);
    let hash_log = window_log.saturating_sub(4).clamp(ZSTD_TABLE_LOG_MIN, 22);
    (chain_log, hash_log)
}

fn make_bsdiff(old: &[u8], new: &[u8]) -> Result<Vec<u8>, DiffError> {
    let mut patch = header_bytes(Algorithm::Bsdiff, 0, old, new);
    qbsdiff::Bsdiff::new(old, new)
        .compression_level(9)
        .compare(&mut patch)
        .map_err(DiffError::Bsdiff)?;
    Ok(patch)
}

fn header_bytes(algorithm: Algorithm, window_log: u32, old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + new.len() / 8);
    bytes.extend_from_slice(MAGIC);
    bytes.push(match algorithm {
        Algorithm::Zstd => 1,
        Algorithm::Bsdiff => 2,
    });
    bytes.push(window_log as u8);
    bytes.extend_from_slice(&[0, 0]);
    bytes.extend_from_slice(&(old.len() as u64).to_le_bytes());
    bytes.extend_from_slice(Sha256Digest::of(old).as_bytes());
    bytes.extend_from_slice(&(new.len() as u64).to_le_bytes());
    bytes.extend_from_slice(Sha256Digest::of(new).as_bytes());
    bytes
}

/// A writer that refuses to grow past the declared result size, so a hostile patch body
/// cannot expand without bound.
struct CappedWriter {
    buffer: Vec<u8>,
    cap: u64,
}

impl Write for CappedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buffer.len() as u64 + bytes.len() as u64 > self.cap {
            return Err(io::Error::other("patch output exceeds its declared length"));
        }
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Vec<u8>, Vec<u8>) {
        let old: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i * 7919 % 65_521).to_le_bytes())
            .collect();
        let mut new = old.clone();
        new[1000..1010].copy_from_slice(b"0123456789");
        new.extend_from_slice(b"appended in version two");
        (old, new)
    }

    #[test]
    fn both_algorithms_round_trip_and_are_small() {
        let (old, new) = pair();
        for choice in [Choice::Zstd, Choice::Bsdiff, Choice::Auto] {
            let patch = make(&old, &new, choice, &PatchLimits::default()).expect("patch");
            assert!(patch.len() < 2_000, "{choice:?}: {} bytes", patch.len());
            assert_eq!(
                apply(&old, &patch, &PatchLimits::default()).expect("applies"),
                new
            );
        }
    }

    #[test]
    fn wrong_base_is_refused_before_decoding() {
        let (old, new) = pair();
        let patch = make(&old, &new, Choice::Zstd, &PatchLimits::default()).expect("patch");
        let error = apply(&new, &patch, &PatchLimits::default()).expect_err("wrong base");
        assert!(matches!(error, PatchError::WrongBase { .. }));
    }

    #[test]
    fn corrupt_body_or_header_is_refused() {
        let (old, new) = pair();
        let mut patch = make(&old, &new, Choice::Zstd, &PatchLimits::default()).expect("patch");
        let last = patch.len() - 3;
        patch[last] ^= 0xff;
        assert!(apply(&old, &patch, &PatchLimits::default()).is_err());
        assert!(matches!(
            apply(&old, b"short", &PatchLimits::default()),
            Err(PatchError::Header)
        ));
    }

    #[test]
    fn declared_size_is_capped() {
        let (old, new) = pair();
        let patch = make(&old, &new, Choice::Zstd, &PatchLimits::default()).expect("patch");
        let limits = PatchLimits {
            max_output_bytes: 10,
            ..PatchLimits::default()
        };
        assert!(matches!(
            apply(&old, &patch, &limits),
            Err(PatchError::TooLarge { .. })
        ));
    }
}
