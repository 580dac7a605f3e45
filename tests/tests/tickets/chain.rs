//! The audit hash chain against tampering with the SQLite file: `audit verify` exits 0 on a
//! whole chain and names the first entry that does not fit after an edit, a deletion, an
//! insertion, a swap or a cut tail. Concurrent appends from several processes never fork it.

use std::process::Output;

use hotline_console::audit::{AuditRecord, GENESIS, Outcome, entry_hash};
use hotline_tests::console::Console;
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

/// A console whose chain holds 8 entries: the first admin, a ticket, five notes, a close.
fn console_with_entries() -> Console {
    let console = Console::init();
    console.cli_ok(&[
        "ticket",
        "open",
        "--title",
        "VPN down",
        "--caller-name",
        "Kim",
        "--caller-contact",
        "ext 12",
    ]);
    for n in 1..=5 {
        console.cli_ok(&["ticket", "note", "1", &format!("step {n}")]);
    }
    console.cli_ok(&[
        "ticket",
        "close",
        "1",
        "--resolution",
        "restarted the client",
    ]);
    console
}

/// Runs SQL statements on the console's database file, as someone with the file would.
fn tamper(console: &Console, statements: &[&str]) {
    let url = format!("sqlite://{}", console.data().join("hotline.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut db = SqliteConnection::connect(&url)
            .await
            .expect("database opens");
        for statement in statements {
            sqlx::query(statement)
                .execute(&mut db)
                .await
                .expect("tampering statement");
        }
        db.close().await.expect("closes");
    });
}

fn verify(console: &Console) -> Output {
    console.cli(&["audit", "verify"])
}

/// Asserts that verification failed and names `seq` as the first entry that does not fit.
fn assert_broken_at(output: &Output, seq: i64, hint: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "verify passed a tampered chain");
    assert!(
        stderr.contains(&format!("audit entry {seq}:")),
        "expected entry {seq}: {stderr}"
    );
    assert!(stderr.contains(hint), "expected {hint:?}: {stderr}");
}

#[test]
fn a_whole_chain_verifies() {
    let console = console_with_entries();
    let out = console.cli_ok(&["audit", "verify"]);
    assert!(
        out.starts_with("audit chain whole: 8 entries, head "),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn an_edited_entry_is_found() {
    let console = console_with_entries();
    tamper(
        &console,
        &["UPDATE audit_log SET actor = 'analyst:someone' WHERE seq = 4"],
    );
    assert_broken_at(&verify(&console), 4, "edited");
}

#[test]
fn an_edited_refusal_reason_is_found() {
    let console = console_with_entries();
    tamper(
        &console,
        &["UPDATE audit_log SET outcome = 'failed', reason = 'x' WHERE seq = 8"],
    );
    assert_broken_at(&verify(&console), 8, "edited");
}

#[test]
fn a_deleted_entry_is_found() {
    let console = console_with_entries();
    tamper(&console, &["DELETE FROM audit_log WHERE seq = 5"]);
    assert_broken_at(&verify(&console), 5, "missing");
}

#[test]
fn a_deleted_and_renumbered_entry_is_found() {
    let console = console_with_entries();
    tamper(
        &console,
        &[
            "DELETE FROM audit_log WHERE seq = 5",
            "UPDATE audit_log SET seq = seq + 1000 WHERE seq > 5",
            "UPDATE audit_log SET seq = seq - 1001 WHERE seq > 1000",
            "UPDATE audit_head SET seq = seq - 1",
        ],
    );
    assert_broken_at(&verify(&console), 5, "does not link");
}

#[test]
fn an_inserted_entry_is_found_even_with_a_correct_hash() {
    let console = console_with_entries();
    // Forge a well-formed entry 3 that links to entry 2, shifting the rest up by one.
    let hash_of_2 = {
        let text = String::from_utf8(
            console
                .cli(&["audit", "export", "--ticket", "1", "--json"])
                .stdout,
        )
        .expect("UTF-8");
        let export: serde_json::Value = serde_json::from_str(&text).expect("export JSON");
        let hash = export["audit"][0]["hash"]
            .as_str()
            .expect("hash of entry 2")
            .to_owned();
        assert_eq!(export["audit"][0]["seq"], 2);
        hash
    };
    let mut prev = GENESIS;
    hex::decode_to_slice(&hash_of_2, &mut prev).expect("hex");
    let mut forged = AuditRecord {
        seq: 3,
        prev_hash: prev,
        hash: [0; 32],
        actor: "analyst:mallory".into(),
        action: "ticket.note".into(),
        params_json: "{}".into(),
        device: None,
        ticket: Some(1),
        outcome: Outcome::Ok,
        at_ms: 1,
        recorded_at_ms: 1,
    };
    forged.hash = entry_hash(&prev, &forged);
    let insert = format!(
        "INSERT INTO audit_log (seq, prev_hash, hash, actor, action, params, outcome, \
         ticket_number, at_ms, recorded_at_ms) VALUES (3, '{}', '{}', 'analyst:mallory', \
         'ticket.note', '{{}}', 'ok', 1, 1, 1)",
        hex::encode(forged.prev_hash),
        hex::encode(forged.hash)
    );
    tamper(
        &console,
        &[
            "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 3",
            "UPDATE audit_log SET seq = seq - 999 WHERE seq > 1000",
            &insert,
            "UPDATE audit_head SET seq = seq + 1",
        ],
    );
    assert_broken_at(&verify(&console), 4, "does not link");
}

#[test]
fn swapped_entries_are_found() {
    let console = console_with_entries();
    tamper(
        &console,
        &[
            "UPDATE audit_log SET seq = -1 WHERE seq = 5",
            "UPDATE audit_log SET seq = 5 WHERE seq = 6",
            "UPDATE audit_log SET seq = 6 WHERE seq = -1",
        ],
    );
    assert_broken_at(&verify(&console), 5, "");
}

#[test]
fn a_cut_tail_is_found() {
    let console = console_with_entries();
    tamper(&console, &["DELETE FROM audit_log WHERE seq >= 7"]);
    assert_broken_at(&verify(&console), 7, "removed from the end");
}

#[test]
fn concurrent_appends_from_several_processes_keep_one_chain() {
    let mut console = console_with_entries();
    console.start();
    console.cli_ok(&[
        "ticket",
        "open",
        "--title",
        "Busy",
        "--caller-name",
        "Lee",
        "--caller-contact",
        "x",
    ]);
    let data = console.data();
    let children: Vec<_> = (0..6)
        .map(|i| {
            let data = data.clone();
            std::thread::spawn(move || {
                for j in 0..4 {
                    let status = std::process::Command::new(
                        hotline_tests::bin_dir().join("hotline-console"),
                    )
                    .arg("--data")
                    .arg(&data)
                    .args(["ticket", "note", "2", &format!("writer {i} note {j}")])
                    .status()
                    .expect("CLI runs");
                    assert!(status.success());
                }
            })
        })
        .collect();
    for child in children {
        child.join().expect("writer finished");
    }
    let out = console.cli_ok(&["audit", "verify"]);
    assert!(out.starts_with("audit chain whole: 33 entries"), "{out}");
}
