//! Both sides of a control stream driven against each other in memory on a virtual clock.

use std::time::{Duration, Instant};

use super::*;
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
    future.protocol = ProtocolVersion { major: 2, minor: 0 };
    let outputs = console.on_frame(&payload(&AgentMessage::Hello(Box::new(future))), now);
    assert_eq!(
        closes(&outputs),
        Some((
            CloseCode::VersionMismatch,
            "agent speaks protocol 2.0, this console speaks 1.0"
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
