//! The outbound webhook against a local HTTP receiver: every audit entry arrives in order,
//! signed with HMAC-SHA256 over the timestamp and the exact body, carrying the help desk's
//! own ticket id; an entry answered with 500 is retried until it is taken.

use std::time::Duration;

use hmac::{Hmac, Mac};
use hotline_tests::api::{Received, Receiver};
use hotline_tests::console::Console;
use hotline_tests::wait_for;
use serde_json::Value;
use sha2::Sha256;

const SECRET: &str = "a shared secret of some length";

/// Checks the signature as a receiver should: HMAC over "<timestamp>.<body>".
fn signature_valid(request: &Received) -> bool {
    let (Some(timestamp), Some(signature)) = (
        request.header("x-hotline-timestamp"),
        request.header("x-hotline-signature"),
    ) else {
        return false;
    };
    let Some(hex_mac) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_mac) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    mac.verify_slice(&expected).is_ok()
}

fn body(request: &Received) -> Value {
    serde_json::from_slice(&request.body).expect("JSON body")
}

#[test]
fn a_receiver_gets_signed_entries_in_order_and_a_retry_after_answering_500() {
    let receiver = Receiver::start(1);
    let mut console = Console::init();
    let secret_file = console.root().join("webhook-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("secret written");
    let url = format!("http://{}/hotline/hook", receiver.address);
    console.cli_ok(&[
        "webhook",
        "set",
        &url,
        "--secret-file",
        secret_file.to_str().expect("path"),
    ]);
    console.start();

    console.cli_ok(&[
        "ticket",
        "open",
        "--title",
        "Printer",
        "--caller-name",
        "Jo",
        "--caller-contact",
        "x1",
        "--external-ref",
        "ZAMMAD-4711",
    ]);
    console.cli_ok(&["ticket", "note", "1", "toner replaced"]);

    // Entries from the set on: the open and the note (the first admin and the set itself
    // predate the webhook).
    let requests = wait_for("two entries delivered", Duration::from_secs(20), || {
        let got = receiver.received();
        (got.iter().filter(|r| r.answered == 200).count() >= 2).then_some(got)
    });
    assert!(
        requests.iter().all(signature_valid),
        "every request is signed"
    );

    // The first attempt was answered 500, then the same entry came again, before the next.
    assert_eq!(requests[0].answered, 500);
    assert_eq!(requests[1].answered, 200);
    assert_eq!(
        requests[0].body, requests[1].body,
        "a retry sends the same entry"
    );
    assert_eq!(
        requests[0].header("x-hotline-delivery"),
        requests[1].header("x-hotline-delivery")
    );
    let delivered: Vec<Value> = requests
        .iter()
        .filter(|r| r.answered == 200)
        .map(body)
        .collect();
    let seqs: Vec<i64> = delivered
        .iter()
        .map(|b| b["entry"]["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, vec![3, 4], "in order, once each");
    assert_eq!(delivered[0]["entry"]["action"], "ticket.open");
    assert_eq!(delivered[1]["entry"]["action"], "ticket.note");
    assert_eq!(delivered[1]["ticket"]["external_ref"], "ZAMMAD-4711");
    assert_eq!(
        delivered[1]["entry"]["hash"].as_str().map(str::len),
        Some(64)
    );

    // A tampered body fails the receiver's check.
    let mut forged = requests[1].clone();
    forged.body.push(b' ');
    assert!(!signature_valid(&forged));

    let status = console.cli_ok(&["webhook", "status"]);
    assert!(status.contains("delivered: 2  pending: 0"), "{status}");
    console.stop();
}

#[test]
fn a_webhook_needs_a_usable_url_and_secret() {
    let console = Console::init();
    let short = console.root().join("short");
    std::fs::write(&short, "tiny").expect("written");
    let out = console.cli(&[
        "webhook",
        "set",
        "http://127.0.0.1:9/",
        "--secret-file",
        short.to_str().expect("p"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be 16 to 1024 bytes"));
    let out = console.cli(&[
        "webhook",
        "set",
        "ftp://x/",
        "--secret-file",
        short.to_str().expect("p"),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("http:// or https://"));
}
