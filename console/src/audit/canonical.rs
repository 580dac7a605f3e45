//! The exact bytes an audit entry's hash covers.
//!
//! `hash = SHA-256(prev_hash ‖ canonical_bytes(entry))`, where `prev_hash` is the previous
//! entry's 32-byte hash (`GENESIS`, 32 zero bytes, for the first entry) and
//! `canonical_bytes` is this sequence, with no separators and no padding:
//!
//! | field | encoding |
//! | --- | --- |
//! | version | the 8 ASCII bytes `HLAUDIT1` |
//! | seq | 8 bytes, big-endian signed |
//! | actor, action, params | each a string (below) |
//! | device, ticket | each an option (below); ticket as its decimal digits |
//! | outcome | a string: `ok`, `refused` or `failed` |
//! | reason | an option |
//! | at_ms, recorded_at_ms | 8 bytes each, big-endian signed |
//!
//! A string is its UTF-8 length as 4 bytes big-endian followed by the bytes; an option is
//! the byte `0` when absent, or `1` followed by the string. `params` is the JSON text as
//! stored, byte for byte, so the hash never depends on how a JSON library orders keys.
//! Because the length of every variable field is written, no two different entries encode
//! to the same bytes; because `seq` is inside, swapping two rows' contents breaks both.

use sha2::{Digest, Sha256};

use super::AuditRecord;

/// The `prev_hash` of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

const VERSION: &[u8; 8] = b"HLAUDIT1";

fn put_string(out: &mut Vec<u8>, text: &str) {
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn put_option(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            put_string(out, text);
        }
    }
}

/// The canonical encoding of `record` (its `prev_hash` and `hash` fields are not part of it).
pub fn canonical_bytes(record: &AuditRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + record.params_json.len());
    out.extend_from_slice(VERSION);
    out.extend_from_slice(&record.seq.to_be_bytes());
    put_string(&mut out, &record.actor);
    put_string(&mut out, &record.action);
    put_string(&mut out, &record.params_json);
    put_option(&mut out, record.device.as_deref());
    put_option(&mut out, record.ticket.map(|n| n.to_string()).as_deref());
    put_string(&mut out, record.outcome.name());
    put_option(&mut out, record.outcome.reason());
    out.extend_from_slice(&record.at_ms.to_be_bytes());
    out.extend_from_slice(&record.recorded_at_ms.to_be_bytes());
    out
}

/// The hash `record` should carry after `prev_hash`.
pub fn entry_hash(prev_hash: &[u8; 32], record: &AuditRecord) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(canonical_bytes(record));
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Outcome;

    fn record() -> AuditRecord {
        AuditRecord {
            seq: 1,
            prev_hash: GENESIS,
            hash: [0; 32],
            actor: "analyst:alice".into(),
            action: "ticket.note".into(),
            params_json: "{}".into(),
            device: None,
            ticket: Some(7),
            outcome: Outcome::Ok,
            at_ms: 1000,
            recorded_at_ms: 1001,
        }
    }

    #[test]
    fn the_encoding_is_length_prefixed_and_stable() {
        let bytes = canonical_bytes(&record());
        assert!(bytes.starts_with(b"HLAUDIT1\0\0\0\0\0\0\0\x01\0\0\0\x0danalyst:alice"));
        assert_eq!(
            hex::encode(entry_hash(&GENESIS, &record())),
            hex::encode(Sha256::digest([GENESIS.as_slice(), &bytes].concat()))
        );
    }

    #[test]
    fn moving_text_between_fields_changes_the_hash() {
        let mut a = record();
        a.actor = "analyst:al".into();
        a.action = "iceticket.note".into();
        assert_ne!(entry_hash(&GENESIS, &a), entry_hash(&GENESIS, &record()));
    }

    #[test]
    fn the_refusal_reason_is_covered() {
        let mut a = record();
        a.outcome = Outcome::Refused("x".into());
        let mut b = record();
        b.outcome = Outcome::Refused("y".into());
        assert_ne!(entry_hash(&GENESIS, &a), entry_hash(&GENESIS, &b));
    }
}
