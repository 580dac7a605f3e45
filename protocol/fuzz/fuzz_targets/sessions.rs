//! The control-stream state machines under hostile input: a console's `DeviceSession` and an
//! agent's `AgentSession` take arbitrary and well-formed payloads on a virtual clock that the
//! input advances, and neither panics, a Close ends its batch and leaves the session closed
//! for good, and polling never asks to be woken again at or before the present. Audit
//! entries, well-formed, tampered or out of order, and their acks ride along.

#![no_main]

use std::time::{Duration, Instant};

use hotline_protocol::audit::{AgentAuditEntry, AuditOutcome, GENESIS_HASH};
use hotline_protocol::codec::Wire;
use hotline_protocol::inventory::{Inventory, OsInfo};
use hotline_protocol::messages::{
    AgentMessage, Capabilities, ConsoleMessage, Heartbeat, HeartbeatAck, Hello, Refusal, Welcome,
};
use hotline_protocol::session::agent::{AgentOutput, AgentSession};
use hotline_protocol::session::console::{ConsoleOutput, ConsolePolicy, DeviceSession};
use hotline_protocol::{CloseCode, DeviceId, PROTOCOL_VERSION, ProtocolVersion};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// One thing that happens to the pair of sessions.
#[derive(Debug, Arbitrary)]
enum Step {
    /// The virtual clock moves on by up to about 18 minutes, then both sides poll.
    Wait { millis: u16, scale: u8 },
    /// Both sides receive what the other sent since the last exchange.
    Exchange,
    /// Arbitrary bytes arrive at the console.
    RawToConsole(Vec<u8>),
    /// Arbitrary bytes arrive at the agent.
    RawToAgent(Vec<u8>),
    /// A well-formed hello arrives at the console, claiming this device or another.
    Hello {
        other_device: bool,
        protocol: (u16, u16),
        hostname_len: u16,
    },
    /// A well-formed heartbeat arrives at the console.
    Heartbeat { seq: u64 },
    /// A well-formed welcome arrives at the agent.
    Welcome {
        other_device: bool,
        protocol: (u16, u16),
        interval_ms: u32,
    },
    /// A well-formed heartbeat ack arrives at the agent.
    Ack { seq: u64 },
    /// A refusal arrives at the agent, with a code that may be one this build does not know
    /// (sent as `Normal`, since a refusal can only carry a known code).
    Refused { code: u8, reason: String },
    /// The agent sends its next audit entries (to be delivered by a later `Exchange`).
    AgentAudit { count: u8 },
    /// An audit entry arrives at the console with any seq, and maybe a wrong hash or an
    /// action name out of shape.
    Audit {
        seq: u64,
        tamper: bool,
        action: String,
        params_len: u16,
    },
    /// An audit ack arrives at the agent, for any seq.
    AuditAck { up_to: u64 },
}

fuzz_target!(|steps: Vec<Step>| {
    let mut pair = Pair::new();
    for step in steps {
        pair.step(step);
    }
});

fn certified_device() -> DeviceId {
    DeviceId::from_random(0x5eed)
}

fn impostor_device() -> DeviceId {
    DeviceId::from_random(0xbad)
}

fn hello(device: DeviceId, protocol: ProtocolVersion, hostname_len: usize) -> Hello {
    Hello {
        protocol,
        device,
        agent_version: "fuzz".into(),
        capabilities: Capabilities::INVENTORY,
        inventory: Inventory {
            hostname: "h".repeat(hostname_len),
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

fn entry(seq: u64, action: String, params: String, prev: [u8; 32]) -> AgentAuditEntry {
    AgentAuditEntry::new(
        seq,
        1_700_000_000_000,
        (action, params),
        None,
        AuditOutcome::Ok,
        prev,
    )
}

fn version((major, minor): (u16, u16)) -> ProtocolVersion {
    // Mostly the version this build speaks, so that the fuzzer gets past the version check.
    let major = if major % 4 == 0 {
        major
    } else {
        PROTOCOL_VERSION.major
    };
    ProtocolVersion { major, minor }
}

fn payload<M: Wire>(message: &M) -> Vec<u8> {
    message
        .encode_payload()
        .expect("messages built here fit their frame limit")
}

/// A console and an agent on one virtual clock, with what each has sent and the other has
/// not yet received, and whether each has closed.
struct Pair {
    now: Instant,
    console: DeviceSession,
    agent: AgentSession,
    to_console: Vec<Vec<u8>>,
    to_agent: Vec<Vec<u8>>,
    console_closed: bool,
    agent_closed: bool,
    /// The agent's audit chain so far: last seq and hash.
    audit_seq: u64,
    audit_hash: [u8; 32],
}

impl Pair {
    fn new() -> Pair {
        let now = Instant::now();
        let policy = ConsolePolicy {
            heartbeat_interval: Duration::from_secs(15),
            hello_timeout: Duration::from_secs(10),
            console_version: "fuzz".into(),
        };
        let console = DeviceSession::new(certified_device(), policy, now);
        let first = hello(certified_device(), PROTOCOL_VERSION, 8);
        let (agent, first) = AgentSession::start(first, now, Duration::from_secs(10));
        Pair {
            now,
            console,
            agent,
            to_console: vec![payload(&first)],
            to_agent: Vec::new(),
            console_closed: false,
            agent_closed: false,
            audit_seq: 0,
            audit_hash: GENESIS_HASH,
        }
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Wait { millis, scale } => self.wait(millis, scale),
            Step::Exchange => {
                for frame in std::mem::take(&mut self.to_console) {
                    self.console_frame(&frame);
                }
                for frame in std::mem::take(&mut self.to_agent) {
                    self.agent_frame(&frame);
                }
            }
            Step::RawToConsole(bytes) => self.console_frame(&bytes),
            Step::RawToAgent(bytes) => self.agent_frame(&bytes),
            Step::Hello {
                other_device,
                protocol,
                hostname_len,
            } => {
                let claimed = if other_device {
                    impostor_device()
                } else {
                    certified_device()
                };
                let hello = hello(claimed, version(protocol), usize::from(hostname_len % 512));
                self.console_frame(&payload(&AgentMessage::Hello(Box::new(hello))));
            }
            Step::Heartbeat { seq } => {
                self.console_frame(&payload(&AgentMessage::Heartbeat(Heartbeat { seq })));
            }
            Step::Welcome {
                other_device,
                protocol,
                interval_ms,
            } => {
                let welcome = Welcome {
                    protocol: version(protocol),
                    console_version: "fuzz".into(),
                    device: if other_device {
                        impostor_device()
                    } else {
                        certified_device()
                    },
                    heartbeat_interval_ms: interval_ms,
                };
                self.agent_frame(&payload(&ConsoleMessage::Welcome(welcome)));
            }
            Step::Ack { seq } => {
                self.agent_frame(&payload(&ConsoleMessage::HeartbeatAck(HeartbeatAck {
                    seq,
                })));
            }
            Step::Refused { code, reason } => {
                let code = CloseCode::from_u32(u32::from(code % 12)).unwrap_or(CloseCode::Normal);
                let refusal = Refusal::new(code, &reason);
                self.agent_frame(&payload(&ConsoleMessage::Refused(refusal)));
            }
            Step::AgentAudit { count } => self.agent_audit(count % 8),
            Step::Audit {
                seq,
                tamper,
                action,
                params_len,
            } => {
                let params = "p".repeat(usize::from(params_len % 5000));
                let mut entry = entry(seq, action, params, self.audit_hash);
                if tamper {
                    entry.hash[0] ^= 1;
                }
                self.console_frame(&payload(&AgentMessage::Audit(Box::new(entry))));
            }
            Step::AuditAck { up_to } => {
                self.agent_frame(&payload(&ConsoleMessage::AuditAck { up_to }));
            }
        }
    }

    fn agent_audit(&mut self, count: u8) {
        for _ in 0..count {
            let next = entry(
                self.audit_seq + 1,
                "agent.started".into(),
                "{}".into(),
                self.audit_hash,
            );
            let Some(message) = self.agent.send_audit(next.clone()) else {
                assert!(
                    !self.agent.is_established(),
                    "established agent sent no entry"
                );
                return;
            };
            self.audit_seq = next.seq;
            self.audit_hash = next.hash;
            self.to_console.push(payload(&message));
        }
    }

    fn wait(&mut self, millis: u16, scale: u8) {
        // Multiplying by up to 16 reaches past every timeout in a few steps, while small
        // steps still land just before and just after a deadline.
        let millis = u64::from(millis) * u64::from(scale % 16 + 1);
        self.now += Duration::from_millis(millis);

        let deadline = self.console.next_deadline();
        let outputs = self.console.poll(self.now);
        if deadline.is_none_or(|deadline| self.now < deadline) {
            assert!(
                outputs.is_empty(),
                "console acted before its deadline: {outputs:?}"
            );
        }
        self.console_outputs(outputs);
        let next = self.console.next_deadline();
        assert!(
            next.is_none_or(|next| next > self.now),
            "console would spin"
        );

        let deadline = self.agent.next_deadline();
        let outputs = self.agent.poll(self.now);
        if deadline.is_none_or(|deadline| self.now < deadline) {
            assert!(
                outputs.is_empty(),
                "agent acted before its deadline: {outputs:?}"
            );
        }
        self.agent_outputs(outputs);
        let next = self.agent.next_deadline();
        assert!(next.is_none_or(|next| next > self.now), "agent would spin");
    }

    fn console_frame(&mut self, frame: &[u8]) {
        let outputs = self.console.on_frame(frame, self.now);
        self.console_outputs(outputs);
    }

    fn agent_frame(&mut self, frame: &[u8]) {
        let outputs = self.agent.on_frame(frame, self.now);
        self.agent_outputs(outputs);
    }

    fn console_outputs(&mut self, outputs: Vec<ConsoleOutput>) {
        let closes_at = outputs
            .iter()
            .position(|output| matches!(output, ConsoleOutput::Close { .. }));
        check_close_position(closes_at, outputs.len());
        self.console_closed |= closes_at.is_some();
        if self.console_closed {
            assert_eq!(
                self.console.next_deadline(),
                None,
                "closed console wants polling"
            );
        }

        for output in outputs {
            match output {
                ConsoleOutput::Send(message) => self.to_agent.push(payload(&message)),
                ConsoleOutput::Established(_) => {
                    assert!(!self.console_closed, "console re-established after closing");
                }
                ConsoleOutput::Audit(entry) => {
                    assert!(entry.check().is_ok(), "console passed on a bad entry");
                }
                ConsoleOutput::Seen
                | ConsoleOutput::Close { .. }
                | ConsoleOutput::Credential(_)
                | ConsoleOutput::Session(_) => {}
            }
        }
    }

    fn agent_outputs(&mut self, outputs: Vec<AgentOutput>) {
        let closes_at = outputs
            .iter()
            .position(|output| matches!(output, AgentOutput::Close { .. }));
        check_close_position(closes_at, outputs.len());
        self.agent_closed |= closes_at.is_some();
        if self.agent_closed {
            assert_eq!(
                self.agent.next_deadline(),
                None,
                "closed agent wants polling"
            );
            assert!(
                !self.agent.is_established(),
                "closed agent claims to be established"
            );
        }

        for output in outputs {
            match output {
                AgentOutput::Send(message) => self.to_console.push(payload(&message)),
                AgentOutput::Established(_) => {
                    assert!(!self.agent_closed, "agent re-established after closing");
                }
                AgentOutput::AuditAcked(up_to) => {
                    assert!(up_to <= self.agent.audit_sent(), "ack beyond what was sent");
                }
                AgentOutput::Close { .. }
                | AgentOutput::Credential(_)
                | AgentOutput::Session(_) => {}
            }
        }
    }
}

/// The IO layers act on outputs in order and stop at a Close, so anything after one would be
/// silently dropped.
fn check_close_position(closes_at: Option<usize>, len: usize) {
    if let Some(at) = closes_at {
        assert_eq!(
            at + 1,
            len,
            "a Close followed by {} more outputs",
            len - at - 1
        );
    }
}
