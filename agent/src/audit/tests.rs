//! The audit log against crashes, tampering, compaction and a full disk. The full disk is
//! an injected write error (`LogFile::fail_writes`) that first writes half the record, as a
//! write cut short by ENOSPC does.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;

use serde_json::json;
use tempfile::TempDir;

use super::format::{self, Base};
use super::*;

fn log_path(root: &TempDir) -> PathBuf {
    audit_dir(root.path()).join("log")
}

fn append_n(audit: &Audit, count: u64) {
    for n in 0..count {
        audit
            .append("agent.started", &json!({ "n": n }), None, Outcome::Ok)
            .expect("appends");
    }
}

/// A fresh log holding `count` entries, and its entries.
fn log_with(count: u64) -> (TempDir, Vec<AgentAuditEntry>) {
    let root = tempfile::tempdir().expect("tempdir");
    let audit = Audit::open(root.path()).expect("opens");
    append_n(&audit, count);
    let entries = inspect(root.path()).expect("inspects").entries;
    (root, entries)
}

/// Writes a log holding exactly `entries`, framed correctly, on a genesis base.
fn rewrite(root: &TempDir, entries: &[AgentAuditEntry]) {
    let mut bytes = format::header(Base {
        seq: 0,
        hash: hotline_protocol::audit::GENESIS_HASH,
    });
    for entry in entries {
        bytes.extend(format::record(entry));
    }
    fs::write(log_path(root), bytes).expect("rewritten");
}

fn corrupt_detail(root: &TempDir) -> String {
    match inspect(root.path()) {
        Err(AuditError::Corrupt { detail, .. }) => detail,
        other => panic!("expected a corrupt log, got {other:?}"),
    }
}

#[test]
fn entries_survive_reopening_in_order_with_private_modes() {
    let (root, entries) = log_with(5);
    let seqs: Vec<u64> = entries.iter().map(|entry| entry.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);

    let audit = Audit::open(root.path()).expect("reopens");
    assert_eq!(audit.last_seq(), 5);
    assert_eq!(audit.entries_from(4, 10).expect("reads"), entries[3..]);
    let dir_mode = fs::metadata(audit_dir(root.path())).expect("dir").mode() & 0o777;
    let file_mode = fs::metadata(log_path(&root)).expect("log").mode() & 0o777;
    assert_eq!((dir_mode, file_mode), (0o700, 0o600));
}

#[test]
fn a_torn_tail_is_cut_and_never_read() {
    let (root, entries) = log_with(3);
    let whole = fs::read(log_path(&root)).expect("log");
    let next = format::record(&entries[0]);
    let tails: [Vec<u8>; 4] = [
        next[..3].to_vec(),                       // inside the length prefix
        next[..next.len() / 2].to_vec(),          // inside the payload
        vec![0; 200],                             // grown, never written
        [&next[..next.len() - 1], b"X"].concat(), // whole length, bad checksum
    ];
    for tail in tails {
        fs::write(log_path(&root), [whole.as_slice(), &tail].concat()).expect("torn");
        assert_eq!(
            inspect(root.path()).expect("readable").torn_bytes,
            tail.len() as u64
        );

        let audit = Audit::open(root.path()).expect("recovers");
        assert_eq!(audit.last_seq(), 3);
        assert_eq!(fs::read(log_path(&root)).expect("log"), whole);
    }

    // The next entry continues the chain where the whole records ended.
    let audit = Audit::open(root.path()).expect("opens");
    append_n(&audit, 1);
    assert_eq!(inspect(root.path()).expect("verifies").entries.len(), 4);
}

#[test]
fn damage_with_data_after_it_is_not_mistaken_for_a_torn_tail() {
    let (root, _) = log_with(3);
    let mut bytes = fs::read(log_path(&root)).expect("log");
    let second = format::scan(&bytes).expect("scans").records[1].0 as usize;
    bytes[second + format::FRAME_LEN + 2] ^= 0x20;
    fs::write(log_path(&root), bytes).expect("damaged");
    let detail = corrupt_detail(&root);
    assert!(
        detail.contains(&format!("damaged record at byte {second}")),
        "{detail}"
    );
    assert!(matches!(
        Audit::open(root.path()),
        Err(AuditError::Corrupt { .. })
    ));
}

#[test]
fn an_edited_record_is_found_even_with_a_fixed_checksum() {
    let (root, mut entries) = log_with(4);
    entries[1].action = "agent.stopped".into();
    rewrite(&root, &entries);
    let detail = corrupt_detail(&root);
    assert!(
        detail.contains("entry 2 does not match its hash"),
        "{detail}"
    );
}

#[test]
fn a_deleted_record_is_found() {
    let (root, mut entries) = log_with(4);
    entries.remove(1);
    rewrite(&root, &entries);
    let detail = corrupt_detail(&root);
    assert!(
        detail.contains("entry 3 follows entry 1 (expected 2)"),
        "{detail}"
    );
}

#[test]
fn reordered_and_inserted_records_are_found() {
    let (root, mut entries) = log_with(4);
    entries.swap(1, 2);
    rewrite(&root, &entries);
    assert!(corrupt_detail(&root).contains("entry 3 follows entry 1"));

    let (root, mut entries) = log_with(4);
    let copy = entries[1].clone();
    entries.insert(2, copy);
    rewrite(&root, &entries);
    assert!(corrupt_detail(&root).contains("entry 2 follows entry 2"));
}

#[test]
fn compaction_drops_acknowledged_entries_and_keeps_the_chain() {
    let root = tempfile::tempdir().expect("tempdir");
    let limits = AuditLimits {
        compact_at: 2048,
        ..AuditLimits::default()
    };
    let audit = Audit::open_with(root.path(), limits).expect("opens");
    append_n(&audit, 40);
    let before = fs::metadata(log_path(&root)).expect("log").len();
    let tail = audit.entries_from(31, 100).expect("reads");

    audit.acknowledge(30).expect("acknowledges");
    let after = fs::metadata(log_path(&root)).expect("log").len();
    assert!(after < before / 2, "{after} >= {before} / 2");
    let seen = inspect(root.path()).expect("verifies");
    assert_eq!((seen.base_seq, seen.acked), (30, 30));
    assert_eq!(seen.entries, tail);
    assert_eq!(audit.entries_from(1, 100).expect("reads"), tail);

    // The chain goes on from the compacted base, also after reopening.
    append_n(&audit, 5);
    drop(audit);
    let audit = Audit::open_with(root.path(), limits).expect("reopens");
    assert_eq!((audit.last_seq(), audit.acked()), (45, 30));
    assert_eq!(inspect(root.path()).expect("verifies").entries.len(), 15);
}

#[test]
fn a_full_disk_refuses_the_append_and_leaves_no_gap() {
    let (root, _) = log_with(2);
    let audit = Audit::open(root.path()).expect("opens");
    audit.lock().fail_writes = Some(ErrorKind::StorageFull);
    let error = audit
        .append(
            "credential.reset",
            &json!({ "account": "jörg" }),
            Some(7),
            Outcome::Ok,
        )
        .expect_err("refused");
    assert!(matches!(error, AuditError::DiskFull { .. }), "{error:?}");
    assert!(
        error.to_string().contains("disk full; refusing the action"),
        "{error}"
    );
    assert_eq!(inspect(root.path()).expect("verifies").torn_bytes, 0);

    audit.lock().fail_writes = None;
    let entry = audit
        .append(
            "credential.reset",
            &json!({ "account": "jörg" }),
            Some(7),
            Outcome::Ok,
        )
        .expect("appends once there is room");
    assert_eq!(entry.seq, 3);
    assert_eq!(inspect(root.path()).expect("verifies").entries.len(), 3);
}

#[test]
fn an_unreachable_console_fills_the_queue_and_an_ack_empties_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let limits = AuditLimits {
        max_unacked: 3,
        ..AuditLimits::default()
    };
    let audit = Audit::open_with(root.path(), limits).expect("opens");
    append_n(&audit, 3);
    let error = audit
        .append("agent.started", &json!({}), None, Outcome::Ok)
        .expect_err("refused");
    assert!(
        error.to_string().starts_with("audit queue full: 3 entries"),
        "{error}"
    );
    audit.acknowledge(3).expect("acknowledges");
    append_n(&audit, 1);
}

#[test]
fn the_watermark_persists_and_never_moves_back() {
    let (root, _) = log_with(5);
    let audit = Audit::open(root.path()).expect("opens");
    audit.acknowledge(3).expect("acknowledges");
    audit.acknowledge(2).expect("ignored");
    audit.acknowledge(99).expect("clamped to the last entry");
    drop(audit);
    assert_eq!(Audit::open(root.path()).expect("reopens").acked(), 5);
    let mode = fs::metadata(audit_dir(root.path()).join("acked"))
        .expect("acked")
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A watermark beyond the end means acknowledged entries went missing.
    fs::write(audit_dir(root.path()).join("acked"), "9\n").expect("written");
    let detail = corrupt_detail(&root);
    assert!(
        detail.contains("acknowledged entry 9 but the log ends at 5"),
        "{detail}"
    );
}

#[test]
fn secrets_and_malformed_entries_are_refused_before_writing() {
    let (root, _) = log_with(1);
    let audit = Audit::open(root.path()).expect("opens");
    let secret = json!({ "account": "jörg", "details": { "New_Password": "hunter2" } });
    let refused = [
        audit.append("credential.reset", &secret, None, Outcome::Ok),
        audit.append("Credential Reset", &json!({}), None, Outcome::Ok),
        audit.append("credential.reset", &json!("text"), None, Outcome::Ok),
        audit.append("a.b", &json!({ "x": "y".repeat(5000) }), None, Outcome::Ok),
    ];
    for result in refused {
        assert!(result.is_err(), "{result:?}");
    }
    assert_eq!(audit.last_seq(), 1);
    let log = fs::read_to_string(log_path(&root)).unwrap_or_default();
    assert!(!log.contains("hunter2"));

    let long = Outcome::Failed("x".repeat(1000));
    let entry = audit
        .append("a.b", &json!({}), None, long)
        .expect("cut, not refused");
    assert_eq!(entry.outcome.reason().map(str::len), Some(MAX_REASON));
}
