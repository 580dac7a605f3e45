//! The audit log's bytes: a header, then framed records, and the scan that reads them back,
//! cuts a torn tail and verifies the chain. Nothing here touches a file.

use hotline_protocol::audit::{AgentAuditEntry, HASH_LEN};
use sha2::{Digest, Sha256};

/// First bytes of every log file; the `1` is the format version.
pub(super) const MAGIC: &[u8; 8] = b"HLAUDIT1";
/// Magic, base seq, base hash.
pub(super) const HEADER_LEN: usize = 8 + 8 + HASH_LEN;
/// Length prefix and checksum in front of each record's payload.
pub(super) const FRAME_LEN: usize = 4 + HASH_LEN;
/// Largest record payload. An entry's fields are capped far below this (4 KiB of
/// parameters), so a larger length can only be damage.
pub(super) const MAX_PAYLOAD: usize = 64 * 1024;

/// Where the chain starts: the seq and hash of the last entry compacted away, or 0 and the
/// genesis hash for a log that was never compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Base {
    pub(super) seq: u64,
    pub(super) hash: [u8; HASH_LEN],
}

pub(super) fn header(base: Base) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&base.seq.to_be_bytes());
    out.extend_from_slice(&base.hash);
    out
}

/// One record: payload length (u32, big-endian), SHA-256 of the payload, the payload (the
/// entry as JSON).
pub(super) fn record(entry: &AgentAuditEntry) -> Vec<u8> {
    // Serialising a struct of strings, integers and arrays cannot fail.
    let payload = serde_json::to_vec(entry).unwrap_or_default();
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(FRAME_LEN + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&Sha256::digest(&payload));
    out.extend_from_slice(&payload);
    out
}

/// What a scan of a whole log found.
#[derive(Debug)]
pub(super) struct Scan {
    pub(super) base: Base,
    /// Each whole record's offset and entry, in file order.
    pub(super) records: Vec<(u64, AgentAuditEntry)>,
    /// Where the whole records end; bytes beyond are a torn tail.
    pub(super) good_len: u64,
}

impl Scan {
    pub(super) fn last(&self) -> Base {
        self.records.last().map_or(self.base, |(_, entry)| Base {
            seq: entry.seq,
            hash: entry.hash,
        })
    }
}

/// A log that cannot be trusted, with the first place it goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("not an audit log (bad header)")]
    BadHeader,
    #[error("damaged record at byte {offset} with more data after it: {detail}")]
    Damaged { offset: u64, detail: String },
    #[error("entry at byte {offset} breaks the chain: {detail}")]
    Chain { offset: u64, detail: String },
}

/// Reads a whole log. A damaged record at the very end (shorter than its frame, or running
/// to the end of the file with a bad checksum, or trailing zeros) is what a crash in the
/// middle of an append leaves: it is reported through `good_len` and never read as an entry.
/// A damaged record with data after it, or a whole record that does not continue the chain
/// (edited, deleted, inserted or reordered), is an error.
pub(super) fn scan(bytes: &[u8]) -> Result<Scan, ScanError> {
    let base = parse_header(bytes)?;
    let mut scan = Scan {
        base,
        records: Vec::new(),
        good_len: HEADER_LEN as u64,
    };
    let mut pos = HEADER_LEN;
    let mut prev = base;

    while pos < bytes.len() {
        let offset = pos as u64;
        let payload = match frame_at(bytes, pos) {
            Frame::Whole(payload) => payload,
            Frame::Torn => break,
            Frame::Damaged(detail) => return Err(ScanError::Damaged { offset, detail }),
        };
        let entry = decode(payload).map_err(|detail| ScanError::Chain { offset, detail })?;
        check_link(prev, &entry).map_err(|detail| ScanError::Chain { offset, detail })?;
        prev = Base {
            seq: entry.seq,
            hash: entry.hash,
        };
        pos += FRAME_LEN + payload.len();
        scan.records.push((offset, entry));
        scan.good_len = pos as u64;
    }
    Ok(scan)
}

fn parse_header(bytes: &[u8]) -> Result<Base, ScanError> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(ScanError::BadHeader);
    }
    let mut seq = [0; 8];
    seq.copy_from_slice(&bytes[8..16]);
    let mut hash = [0; HASH_LEN];
    hash.copy_from_slice(&bytes[16..HEADER_LEN]);
    Ok(Base {
        seq: u64::from_be_bytes(seq),
        hash,
    })
}

enum Frame<'a> {
    Whole(&'a [u8]),
    Torn,
    Damaged(String),
}

fn frame_at(bytes: &[u8], pos: usize) -> Frame<'_> {
    let rest = &bytes[pos..];
    match parse_frame(rest) {
        // A crash after the file grew but before the data reached the disk leaves zeros.
        Frame::Damaged(_) if rest.iter().all(|&b| b == 0) => Frame::Torn,
        frame => frame,
    }
}

fn parse_frame(rest: &[u8]) -> Frame<'_> {
    if rest.len() < FRAME_LEN {
        return Frame::Torn;
    }
    let mut len = [0; 4];
    len.copy_from_slice(&rest[..4]);
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_PAYLOAD {
        return Frame::Damaged(format!("record length {len} outside 1..={MAX_PAYLOAD}"));
    }
    if rest.len() < FRAME_LEN + len {
        return Frame::Torn;
    }
    let payload = &rest[FRAME_LEN..FRAME_LEN + len];
    if Sha256::digest(payload).as_slice() != &rest[4..FRAME_LEN] {
        if rest.len() == FRAME_LEN + len {
            return Frame::Torn;
        }
        return Frame::Damaged("checksum does not match".into());
    }
    Frame::Whole(payload)
}

fn decode(payload: &[u8]) -> Result<AgentAuditEntry, String> {
    serde_json::from_slice(payload).map_err(|error| format!("unreadable entry: {error}"))
}

/// Checks that `entry` is the one that follows `prev`.
pub(super) fn check_link(prev: Base, entry: &AgentAuditEntry) -> Result<(), String> {
    if entry.seq != prev.seq + 1 {
        return Err(format!(
            "entry {} follows entry {} (expected {})",
            entry.seq,
            prev.seq,
            prev.seq + 1
        ));
    }
    if entry.prev_hash != prev.hash {
        return Err(format!(
            "entry {} does not name the hash of entry {}",
            entry.seq, prev.seq
        ));
    }
    entry
        .check()
        .map_err(|error| format!("entry {}: {error}", entry.seq))
}
