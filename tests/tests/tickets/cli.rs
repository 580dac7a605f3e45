//! Tickets and accounts from the server's shell while `serve` runs: every command works,
//! `--json` output parses, actions are recorded as `cli:<user>`, and `init` prints the
//! first admin's one-time password, which must be changed at first login.

use hotline_tests::api::Api;
use hotline_tests::console::{Console, one_time_password};
use serde_json::Value;

fn json(console: &Console, args: &[&str]) -> Value {
    serde_json::from_str(&console.cli_ok(args)).expect("JSON output")
}

#[test]
fn tickets_are_opened_noted_listed_shown_and_closed_from_the_cli_while_serving() {
    let mut console = Console::init();
    console.start();
    let opened = console.cli_ok(&[
        "ticket",
        "open",
        "--title",
        "Outlook crashes",
        "--caller-name",
        "Sam",
        "--caller-contact",
        "sam@example.org",
        "--priority",
        "1",
        "--external-ref",
        "INC-9",
    ]);
    assert_eq!(opened.trim(), "opened ticket 1");
    console.cli_ok(&["ticket", "note", "1", "reinstalled the add-in"]);

    let listed = json(&console, &["ticket", "list", "--status", "new", "--json"]);
    assert_eq!(listed[0]["title"], "Outlook crashes");
    assert_eq!(listed[0]["priority"], 1);
    assert_eq!(listed[0]["external_ref"], "INC-9");
    let shown = json(&console, &["ticket", "show", "1", "--json"]);
    let timeline = shown["timeline"].as_array().expect("timeline");
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[1]["kind"], "note");
    assert_eq!(timeline[1]["text"], "reinstalled the add-in");
    assert!(
        timeline[0]["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("cli:"))
    );

    console.cli_ok(&["ticket", "close", "1", "--resolution", "fixed"]);
    let refused = console.cli(&["ticket", "note", "1", "late"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ticket 1 is closed"));
    assert_eq!(
        json(
            &console,
            &["ticket", "list", "--status", "closed", "--json"]
        )[0]["resolution"],
        "fixed"
    );
    assert!(
        console
            .cli(&["ticket", "show", "99"])
            .stderr
            .starts_with(b"error: no ticket 99")
    );

    let export = json(&console, &["audit", "export", "--ticket", "1", "--json"]);
    let actions: Vec<&str> = export["audit"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, ["ticket.open", "ticket.note", "ticket.close"]);
    console.cli_ok(&["audit", "verify"]);
}

#[test]
fn accounts_are_added_listed_and_disabled_from_the_cli() {
    let mut console = Console::init();
    console.start();
    let password = console.add_account("ana", "Ana Analyst", &["analyst", "viewer"]);
    assert_eq!(password.len(), 20);
    let listed = json(&console, &["analyst", "list", "--json"]);
    let ana = listed
        .as_array()
        .expect("list")
        .iter()
        .find(|a| a["username"] == "ana")
        .expect("ana")
        .clone();
    assert_eq!(ana["roles"], serde_json::json!(["viewer", "analyst"]));
    assert_eq!(ana["must_change_password"], true);

    let api = Api::first_login(&console, "ana", &password, "a long new password");
    assert_eq!(api.get("/api/tickets").status, 200);
    console.cli_ok(&["analyst", "disable", "ana"]);
    assert_eq!(
        api.get("/api/tickets").status,
        401,
        "a disabled account's session ends"
    );

    let dup = console.cli(&["analyst", "add", "ana", "--name", "x", "--role", "viewer"]);
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let bad = console.cli(&[
        "analyst", "add", "Bad Name", "--name", "x", "--role", "viewer",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid user name"));
}

#[test]
fn init_prints_the_first_admins_one_time_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let output = std::process::Command::new(hotline_tests::bin_dir().join("hotline-console"))
        .arg("--data")
        .arg(&data)
        .arg("init")
        .output()
        .expect("init runs");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(stdout.contains("first admin: admin"), "{stdout}");
    let password = one_time_password(&stdout);

    let mut console = Console::init();
    // Reuse the helper's process management on the directory `init` just made.
    std::fs::remove_dir_all(console.data()).expect("cleared");
    std::fs::rename(&data, console.data()).expect("moved");
    console.start();
    let admin = Api::login(&console, "admin", &password);
    assert_eq!(
        admin.get("/api/me").body["roles"],
        serde_json::json!(["admin"])
    );
    assert_eq!(
        admin.get("/api/analysts").status,
        403,
        "not before the password change"
    );
}
