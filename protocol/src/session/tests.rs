//! Both sides of a control stream driven against each other in memory on a virtual clock.

use std::time::{Duration, Instant};

use super::*;
use crate::audit::{AgentAuditEntry, AuditOutcome, GENESIS_HASH};
use crate::codec::encode_frame;
use crate::inventory::{Inventory, OsInfo};
use crate::messages::{Capabilities, Heartbeat};
use crate::session::agent::{AgentOutput, AgentSession};
use crate::version::ProtocolVersion;

const INTERVAL: Duration = Duration::from_secs(15);

fn policy() -> ConsolePolicy {
    ConsolePolicy {
        heartbeat_interval: INTERVAL,
        hello_timeout: Duration::from_secs(10),
        console_version: "test".into(),
    }
}

fn hello(device: DeviceId) -> Hello {
    Hello {
        protocol: PROTOCOL_VERSION,
        device,
        agent_version: "test".into(),
        capabilities: Capabilities::INVENTORY,
        inventory: Inventory {
            hostname: "ws-1".into(),
            os: OsInfo {
                family: "linux".into(),
                name: "Debian".into(),
                version: "6.1".into(),
            },
            arch: "x86_64".into(),
            sessions: Vec::new(),
            displays: Vec::new(),
            time_zone: "UTC".into(),
        },
    }
}

fn payload<M: Wire>(message: &M) -> Vec<u8> {
    message.encode_payload().expect("encodes")
}

/// Delivers the agent's outputs to the console and returns the console's outputs.
fn to_console(
    console: &mut DeviceSession,
    outputs: Vec<AgentOutput>,
    now: Instant,
) -> Vec<ConsoleOutput> {
    outputs
        .into_iter()
        .flat_map(|output| match output {
            AgentOutput::Send(message) => console.on_frame(&payload(&message), now),
            _ => Vec::new(),
        })
        .collect()
}

fn to_agent(
    agent: &mut AgentSession,
    outputs: Vec<ConsoleOutput>,
    now: Instant,
) -> Vec<AgentOutput> {
    outputs
        .into_iter()
        .flat_map(|output| match output {
            ConsoleOutput::Send(message) => agent.on_frame(&payload(&message), now),
            _ => Vec::new(),
        })
        .collect()
}

fn closes(outputs: &[ConsoleOutput]) -> Option<(CloseCode, &str)> {
    outputs.iter().find_map(|output| match output {
        ConsoleOutput::Close { code, reason } => Some((*code, reason.as_str())),
        _ => None,
    })
}

#[test]
fn hello_welcome_and_an_hour_of_heartbeats() {
    let device = DeviceId::from_random(5);
    let mut now = Instant::now();
    let mut console = DeviceSession::new(device.clone(), policy(), now);
    let (mut agent, first) = AgentSession::start(hello(device), now, Duration::from_secs(10));

    let replies = console.on_frame(&payload(&first), now);
    assert!(matches!(replies[1], ConsoleOutput::Established(_)));
    let established = to_agent(&mut agent, replies, now);
    assert!(matches!(established[0], AgentOutput::Established(_)));

    // Step the virtual clock one second at a time; both sides must stay up.
    for _ in 0..3600 {
        now += Duration::from_secs(1);
        let sent = agent.poll(now);
        let replies = to_console(&mut console, sent, now);
        assert_eq!(closes(&replies), None);
        assert!(to_agent(&mut agent, replies, now).is_empty());
        assert!(console.poll(now).is_empty());
    }
    assert!(agent.is_established());
}

#[test]
fn a_silent_device_times_out_after_three_intervals() {
    let device = DeviceId::from_random(5);
    let start = Instant::now();
    let mut console = DeviceSession::new(device.clone(), policy(), start);
    console.on_frame(
        &payload(&AgentMessage::Hello(Box::new(hello(device)))),
        start,
    );

    assert!(
        console
            .poll(start + INTERVAL * 3 - Duration::from_millis(1))
            .is_empty()
    );
    assert_eq!(console.next_deadline(), Some(start + INTERVAL * 3));
    let outputs = console.poll(start + INTERVAL * 3);
    assert_eq!(
        closes(&outputs).map(|(code, _)| code),
        Some(CloseCode::Timeout)
    );
    assert_eq!(console.next_deadline(), None);
}

#[test]
fn a_silent_console_times_out_on_the_agent() {
    let device = DeviceId::from_random(5);
    let start = Instant::now();
    let mut console = DeviceSession::new(device.clone(), policy(), start);
    let (mut agent, first) = AgentSession::start(hello(device), start, Duration::from_secs(10));
    to_agent(&mut agent, console.on_frame(&payload(&first), start), start);

    // Heartbeats go out but nothing comes back.
    let mut now = start;
    let mut closed = None;
    while closed.is_none() && now < start + INTERVAL * 10 {
        now = agent.next_deadline().expect("a deadline while established");
        closed = agent.poll(now).into_iter().find_map(|output| match output {
            AgentOutput::Close { code, .. } => Some(code),
            _ => None,
        });
    }
    assert_eq!(closed, Some(CloseCode::Timeout));
    assert_eq!(now, start + INTERVAL * 3);
}

#[test]
fn no_hello_within_the_timeout_closes() {
    let start = Instant::now();
    let mut console = DeviceSession::new(DeviceId::from_random(1), policy(), start);
    assert_eq!(
        console.next_deadline(),
        Some(start + Duration::from_secs(10))
    );
    let outputs = console.poll(start + Duration::from_secs(10));
    assert_eq!(
        closes(&outputs).map(|(code, _)| code),
        Some(CloseCode::Timeout)
    );
}

#[test]
fn a_hello_claiming_another_device_is_refused() {
    let now = Instant::now();
    let mut console = DeviceSession::new(DeviceId::from_random(1), policy(), now);
    let claim = AgentMessage::Hello(Box::new(hello(DeviceId::from_random(2))));
    let outputs = console.on_frame(&payload(&claim), now);
    let (code, reason) = closes(&outputs).expect("closes");
    assert_eq!(code, CloseCode::IdentityMismatch);
    assert!(reason.contains("certificate is for device"), "{reason}");
}

#[test]
fn another_major_version_is_named_in_the_refusal() {
    let device = DeviceId::from_random(1);
    let now = Instant::now();
    let mut console = DeviceSession::new(device.clone(), policy(), now);
    let mut future = hello(device);
    future.protocol = ProtocolVersion {
        major: PROTOCOL_VERSION.major + 1,
        minor: 0,
    };
    let outputs = console.on_frame(&payload(&AgentMessage::Hello(Box::new(future))), now);
    assert_eq!(
        closes(&outputs),
        Some((
            CloseCode::VersionMismatch,
            "agent speaks protocol 3.0, this console speaks 2.0"
        ))
    );
}

#[test]
fn a_heartbeat_before_hello_is_a_violation() {
    let now = Instant::now();
    let mut console = DeviceSession::new(DeviceId::from_random(1), policy(), now);
    let outputs = console.on_frame(
        &payload(&AgentMessage::Heartbeat(Heartbeat { seq: 1 })),
        now,
    );
    assert_eq!(
        closes(&outputs),
        Some((CloseCode::ProtocolViolation, "heartbeat before hello"))
    );
}

#[test]
fn garbage_after_hello_closes_with_the_decode_error() {
    let device = DeviceId::from_random(1);
    let now = Instant::now();
    let mut console = DeviceSession::new(device.clone(), policy(), now);
    console.on_frame(&payload(&AgentMessage::Hello(Box::new(hello(device)))), now);
    let outputs = console.on_frame(&[77], now);
    assert_eq!(
        closes(&outputs),
        Some((
            CloseCode::ProtocolViolation,
            "unknown agent message variant 77"
        ))
    );
    // Framing is the IO layer's business, but the frame it would carry must still encode.
    assert!(encode_frame(&AgentMessage::Heartbeat(Heartbeat { seq: 1 })).is_ok());
}

/// A console and an agent that have exchanged hello and welcome at `now`.
fn established(now: Instant) -> (DeviceSession, AgentSession) {
    let device = DeviceId::from_random(5);
    let mut console = DeviceSession::new(device.clone(), policy(), now);
    let (mut agent, first) = AgentSession::start(hello(device), now, Duration::from_secs(10));
    to_agent(&mut agent, console.on_frame(&payload(&first), now), now);
    assert!(agent.is_established());
    (console, agent)
}

fn audit_chain(count: u64) -> Vec<AgentAuditEntry> {
    let mut prev = GENESIS_HASH;
    (1..=count)
        .map(|seq| {
            let params = format!(r#"{{"n":{seq}}}"#);
            let entry = AgentAuditEntry::new(
                seq,
                1_700_000_000_000,
                ("agent.started".into(), params),
                None,
                AuditOutcome::Ok,
                prev,
            );
            prev = entry.hash;
            entry
        })
        .collect()
}

#[test]
fn audit_entries_reach_the_console_and_acks_reach_the_agent() {
    let now = Instant::now();
    let (mut console, mut agent) = established(now);
    for entry in audit_chain(3) {
        let message = agent.send_audit(entry.clone()).expect("established");
        let outputs = console.on_frame(&payload(&message), now);
        assert_eq!(outputs, vec![ConsoleOutput::Audit(Box::new(entry))]);
    }
    assert_eq!(agent.audit_sent(), 3);

    // The IO layer stores the entries and acknowledges; a repeated ack is not news.
    let ack = |up_to| vec![ConsoleOutput::Send(ConsoleMessage::AuditAck { up_to })];
    assert_eq!(
        to_agent(&mut agent, ack(2), now),
        vec![AgentOutput::AuditAcked(2)]
    );
    assert!(to_agent(&mut agent, ack(2), now).is_empty());
    assert_eq!(
        to_agent(&mut agent, ack(3), now),
        vec![AgentOutput::AuditAcked(3)]
    );
}

#[test]
fn audit_entries_wait_for_the_welcome() {
    let now = Instant::now();
    let (mut agent, _) = AgentSession::start(
        hello(DeviceId::from_random(5)),
        now,
        Duration::from_secs(10),
    );
    assert_eq!(agent.send_audit(audit_chain(1).remove(0)), None);

    let mut console = DeviceSession::new(DeviceId::from_random(5), policy(), now);
    let early = AgentMessage::Audit(Box::new(audit_chain(1).remove(0)));
    assert_eq!(
        closes(&console.on_frame(&payload(&early), now)),
        Some((CloseCode::ProtocolViolation, "audit entry before hello"))
    );
}

#[test]
fn an_ack_for_an_entry_never_sent_closes_the_agent_side() {
    let now = Instant::now();
    let (_, mut agent) = established(now);
    agent.send_audit(audit_chain(1).remove(0));
    let outputs = agent.on_frame(&payload(&ConsoleMessage::AuditAck { up_to: 5 }), now);
    assert_eq!(
        outputs,
        vec![AgentOutput::Close {
            code: CloseCode::ProtocolViolation,
            reason: "ack for audit entry 5 but only up to 1 sent".into()
        }]
    );
}

#[test]
fn an_audit_entry_that_does_not_match_its_hash_is_a_violation() {
    let now = Instant::now();
    let (mut console, _) = established(now);
    let mut entry = audit_chain(1).remove(0);
    entry.action = "agent.stopped".into();
    let outputs = console.on_frame(&payload(&AgentMessage::Audit(Box::new(entry))), now);
    assert_eq!(
        closes(&outputs),
        Some((
            CloseCode::ProtocolViolation,
            "audit entry 1: audit entry 1 does not match its hash"
        ))
    );
}

#[test]
fn audit_traffic_keeps_both_sides_alive_on_the_virtual_clock() {
    let start = Instant::now();
    let (mut console, mut agent) = established(start);
    let mut chain = audit_chain(200).into_iter();

    // One entry a second for 200 s, heartbeats as usual: nobody times out.
    let mut now = start;
    for _ in 0..200 {
        now += Duration::from_secs(1);
        let mut sent = agent.poll(now);
        let entry = chain.next().expect("entry");
        let up_to = entry.seq;
        sent.push(AgentOutput::Send(agent.send_audit(entry).expect("sent")));
        let replies = to_console(&mut console, sent, now);
        assert_eq!(closes(&replies), None);
        let mut replies: Vec<_> = replies
            .into_iter()
            .filter(|output| !matches!(output, ConsoleOutput::Audit(_)))
            .collect();
        replies.push(ConsoleOutput::Send(ConsoleMessage::AuditAck { up_to }));
        let heard = to_agent(&mut agent, replies, now);
        assert!(heard.contains(&AgentOutput::AuditAcked(up_to)), "{heard:?}");
        assert!(console.poll(now).is_empty());
    }
    assert!(agent.is_established());
}

#[test]
fn credential_requests_and_replies_pass_only_on_an_established_session() {
    use crate::credentials::{
        CredentialOperation, CredentialOutcome, CredentialReply, CredentialRequest, RequestId,
    };
    let now = Instant::now();
    let request = CredentialRequest {
        id: RequestId([9; 16]),
        device: DeviceId::from_random(1),
        expires_at_ms: 0,
        ticket: 1,
        analyst: "sam".into(),
        operation: CredentialOperation::ListAccounts,
    };
    let message = ConsoleMessage::Credential(Box::new(request.clone()));
    let (mut console, mut agent) = established(now);
    assert_eq!(
        agent.on_frame(&payload(&message), now),
        vec![AgentOutput::Credential(Box::new(request))]
    );
    let reply = CredentialReply {
        id: RequestId([9; 16]),
        outcome: CredentialOutcome::Refused("x".repeat(1000)),
    };
    let outputs = console.on_frame(&payload(&AgentMessage::Credential(Box::new(reply))), now);
    assert!(matches!(
        closes(&outputs),
        Some((CloseCode::ProtocolViolation, reason)) if reason.contains("reason too long")
    ));

    let mut fresh = DeviceSession::new(DeviceId::from_random(1), policy(), now);
    let early = AgentMessage::Credential(Box::new(CredentialReply {
        id: RequestId([9; 16]),
        outcome: CredentialOutcome::Accounts(Vec::new()),
    }));
    assert_eq!(
        closes(&fresh.on_frame(&payload(&early), now)),
        Some((
            CloseCode::ProtocolViolation,
            "credential reply before hello"
        ))
    );
}
