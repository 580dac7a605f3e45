//! The agent's audit queue end to end: entries made while the console is down (clean stops
//! and a SIGKILL included) reach it after it returns, once each and in order; and a device
//! that forwards entries out of order, off its chain, or rewritten is refused and recorded.

use std::time::Duration;

use hotline_agent::audit::inspect;
use hotline_protocol::CloseCode;
use hotline_protocol::audit::{AgentAuditEntry, AuditOutcome};
use hotline_protocol::codec::{Wire, encode_frame};
use hotline_protocol::messages::{AgentMessage, ConsoleMessage};
use hotline_tests::agent::Agent;
use hotline_tests::console::Console;
use hotline_tests::raw::{Closed, RawClient, hello_frame, load_state};
use hotline_tests::wait_for;
use serde_json::Value;

const SOON: Duration = Duration::from_secs(20);

fn actions(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| entry["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Starts the agent and waits until its `agent.started` entry is on disk.
fn start_and_wait_for_entry(agent: &mut Agent, before: usize) {
    agent.start();
    wait_for("the agent.started entry", SOON, || {
        (agent.audit_list().len() > before).then_some(())
    });
}

#[test]
fn entries_made_while_the_console_is_down_arrive_once_each_in_order() {
    let mut console = Console::init();
    console.start();
    let quic = console.quic;
    let mut agent = Agent::enroll(&console.enroll_token(&[])).expect("enrolls");
    console.stop();

    // Three clean runs, then one killed right after it recorded its start.
    for _ in 0..3 {
        let before = agent.audit_list().len();
        start_and_wait_for_entry(&mut agent, before);
        agent.stop();
    }
    let before = agent.audit_list().len();
    start_and_wait_for_entry(&mut agent, before);
    agent.kill();
    let expected = [
        "agent.enrolled",
        "agent.started",
        "agent.stopped",
        "agent.started",
        "agent.stopped",
        "agent.started",
        "agent.stopped",
        "agent.started",
    ];
    let queued = agent.audit_list();
    assert_eq!(actions(&queued), expected);
    assert!(queued.iter().all(|entry| entry["acked"] == false));

    // The console returns on the same port; the agent starts once more and catches up.
    console.start_on(quic);
    agent.start();
    let local = wait_for("every entry acknowledged", SOON, || {
        let local = agent.audit_list();
        local
            .iter()
            .all(|entry| entry["acked"] == true)
            .then_some(local)
    });
    assert_eq!(local.len(), expected.len() + 1, "{local:?}");

    let stored = console.agent_audit(&agent.device);
    let stored_view: Vec<(u64, String, String)> = stored
        .iter()
        .map(|row| (row.seq as u64, row.action.clone(), row.hash.clone()))
        .collect();
    let local_view: Vec<(u64, String, String)> = local
        .iter()
        .map(|entry| {
            (
                entry["seq"].as_u64().expect("seq"),
                entry["action"].as_str().expect("action").to_owned(),
                entry["hash"].as_str().expect("hash").to_owned(),
            )
        })
        .collect();
    assert_eq!(stored_view, local_view);
    let seqs: Vec<u64> = stored_view.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(seqs, (1..=local.len() as u64).collect::<Vec<_>>());

    // In the console's own chain too: in the same order, and the chain is whole.
    let console_seqs: Vec<i64> = stored.iter().map(|row| row.console_seq).collect();
    assert!(
        console_seqs.windows(2).all(|pair| pair[0] < pair[1]),
        "{console_seqs:?}"
    );
    let verified = console.cli(&["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );

    // Stopping and starting again sends only what is new.
    agent.stop();
    agent.start();
    wait_for("the newest entries stored", SOON, || {
        (console.agent_audit(&agent.device).len() == local.len() + 2).then_some(())
    });
    let actions_stored: Vec<String> = console
        .agent_audit(&agent.device)
        .into_iter()
        .map(|row| row.action)
        .collect();
    assert_eq!(
        actions_stored[local.len()..],
        ["agent.stopped".to_owned(), "agent.started".to_owned()]
    );
}

/// A raw connection with the device's own certificate, past hello and welcome.
fn raw_session(console: &Console, agent: &Agent) -> RawClient {
    let state = load_state(&agent.state());
    let mut client = RawClient::connect(&state, console.quic.expect("bound")).expect("handshake");
    client.send(&hello_frame(&state.device));
    let welcome = client.read_frame(SOON).expect("welcome");
    assert!(matches!(
        ConsoleMessage::decode_payload(&welcome),
        Ok(ConsoleMessage::Welcome(_))
    ));
    client
}

fn send_entry(client: &mut RawClient, entry: AgentAuditEntry) {
    client.send(&encode_frame(&AgentMessage::Audit(Box::new(entry))).expect("encodes"));
}

fn forged(seq: u64, prev_hash: [u8; 32]) -> AgentAuditEntry {
    AgentAuditEntry::new(
        seq,
        1_700_000_000_000,
        ("credential.reset".into(), r#"{"account":"root"}"#.into()),
        None,
        AuditOutcome::Ok,
        prev_hash,
    )
}

fn refused_with(client: &RawClient, console: &Console, expected: &str) {
    match client.closed(SOON) {
        Some(Closed::ByConsole { code, reason }) => {
            assert_eq!(
                CloseCode::from_u32(code),
                Some(CloseCode::ProtocolViolation)
            );
            assert!(reason.contains(expected), "{reason}");
        }
        other => panic!("expected a protocol violation, got {other:?}"),
    }
    assert!(
        console
            .events()
            .iter()
            .any(|(kind, detail)| kind == "audit-refused" && detail.contains(expected)),
        "{:?}",
        console.events()
    );
}

#[test]
fn forged_out_of_order_and_duplicate_entries_are_handled_as_specified() {
    let mut console = Console::init();
    console.start();
    let mut agent = Agent::enroll(&console.enroll_token(&[])).expect("enrolls");
    agent.start();
    wait_for("enrolled and started stored", SOON, || {
        (console.agent_audit(&agent.device).len() == 2).then_some(())
    });
    agent.stop();
    let local = inspect(&agent.state()).expect("log verifies").entries;
    let stored = console.agent_audit(&agent.device);

    // A resend of a stored entry is acknowledged again and stored nowhere twice.
    let mut client = raw_session(&console, &agent);
    send_entry(&mut client, local[0].clone());
    let ack = client.read_frame(SOON).expect("ack");
    assert_eq!(
        ConsoleMessage::decode_payload(&ack),
        Ok(ConsoleMessage::AuditAck { up_to: 1 })
    );

    // An entry that skips one.
    send_entry(&mut client, forged(4, local[1].hash));
    refused_with(
        &client,
        &console,
        "audit entry 4 out of order: the console holds up to 2",
    );

    // The next number, but not continuing the stored chain.
    let mut client = raw_session(&console, &agent);
    send_entry(&mut client, forged(3, [9; 32]));
    refused_with(&client, &console, "audit entry 3 breaks the device's chain");

    // A stored number with other contents: the device rewriting its history.
    let mut client = raw_session(&console, &agent);
    send_entry(&mut client, forged(2, local[0].hash));
    refused_with(
        &client,
        &console,
        "audit entry 2 differs from the one already stored",
    );

    assert_eq!(console.agent_audit(&agent.device), stored);
}
