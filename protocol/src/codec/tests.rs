use super::*;
use crate::audit::{AgentAuditEntry, AuditOutcome, GENESIS_HASH, MAX_PARAMS, MAX_REASON};
use crate::close::CloseCode;
use crate::credentials::{
    CredentialOperation, CredentialOutcome, CredentialReply, CredentialRequest, RequestId,
    ResetDone, ResetOptions, TemporaryPassword,
};
use crate::enroll::{EnrollAccepted, EnrollmentToken, TOKEN_BYTES};
use crate::ids::DeviceId;
use crate::inventory::{Display, DisplayKind, Inventory, OsInfo, UserSession};
use crate::messages::{Capabilities, Heartbeat, HeartbeatAck, Hello, Refusal, Welcome};
use crate::remote::{SessionControl, SessionId, SessionReport};
use crate::version::{PROTOCOL_VERSION, ProtocolVersion};

fn inventory() -> Inventory {
    Inventory {
        hostname: "ws-0142".into(),
        os: OsInfo {
            family: "linux".into(),
            name: "Debian GNU/Linux 12 (bookworm)".into(),
            version: "6.1.0".into(),
        },
        arch: "x86_64".into(),
        sessions: vec![UserSession {
            user: "jörg".into(),
            line: "tty2".into(),
            display: Some(":0".into()),
            since: 1_700_000_000,
        }],
        displays: vec![Display {
            name: ":0".into(),
            kind: DisplayKind::X11,
        }],
        time_zone: "UTC".into(),
    }
}

fn hello() -> AgentMessage {
    AgentMessage::Hello(Box::new(Hello {
        protocol: PROTOCOL_VERSION,
        device: DeviceId::from_random(42),
        agent_version: "0.1.0".into(),
        capabilities: Capabilities::INVENTORY,
        inventory: inventory(),
    }))
}

/// One value of every variant of every message, so that adding a variant without a sample
/// fails the count checks below.
fn agent_messages() -> Vec<AgentMessage> {
    vec![
        hello(),
        AgentMessage::Heartbeat(Heartbeat { seq: 7 }),
        AgentMessage::Audit(Box::new(audit_entry(3))),
        AgentMessage::Credential(Box::new(CredentialReply {
            id: RequestId([3; 16]),
            outcome: CredentialOutcome::Reset(ResetDone {
                temporary_password: Some(TemporaryPassword::new("ab3dEfGh7jKmNpQr".into())),
                locked: false,
                cleared_failures: 2,
                must_change: true,
            }),
        })),
        AgentMessage::Session(Box::new(SessionReport::Started {
            id: SessionId([9; 16]),
        })),
    ]
}

fn audit_entry(seq: u64) -> AgentAuditEntry {
    AgentAuditEntry::new(
        seq,
        1_700_000_000_000,
        ("credential.reset".into(), r#"{"account":"jörg"}"#.into()),
        Some(1042),
        AuditOutcome::Refused("account locked by an administrator".into()),
        [7; 32],
    )
}

fn console_messages() -> Vec<ConsoleMessage> {
    vec![
        ConsoleMessage::Welcome(Welcome {
            protocol: PROTOCOL_VERSION,
            console_version: "0.1.0".into(),
            device: DeviceId::from_random(42),
            heartbeat_interval_ms: 15_000,
        }),
        ConsoleMessage::HeartbeatAck(HeartbeatAck { seq: 7 }),
        ConsoleMessage::Refused(Refusal::new(CloseCode::Revoked, "device revoked")),
        ConsoleMessage::AuditAck { up_to: 3 },
        ConsoleMessage::Credential(Box::new(CredentialRequest {
            id: RequestId([3; 16]),
            device: DeviceId::from_random(42),
            expires_at_ms: 1_700_000_060_000,
            ticket: 1042,
            analyst: "sam".into(),
            operation: CredentialOperation::Reset {
                account: "jörg".into(),
                options: ResetOptions::default(),
            },
        })),
        ConsoleMessage::Session(Box::new(SessionControl::Ack {
            id: SessionId([9; 16]),
            seq: 1,
        })),
    ]
}

fn enroll_replies() -> Vec<EnrollReply> {
    vec![
        EnrollReply::Accepted(EnrollAccepted {
            device: DeviceId::from_random(1),
            certificate_der: vec![0x30, 0x82, 1, 2],
            ca_der: vec![0x30, 0x82, 3, 4],
        }),
        EnrollReply::Refused(Refusal::new(
            CloseCode::EnrollmentRefused,
            "token already used",
        )),
    ]
}

fn enroll_request() -> EnrollRequest {
    EnrollRequest {
        protocol: PROTOCOL_VERSION,
        token: EnrollmentToken::from_random([9; TOKEN_BYTES]),
        csr_der: vec![0x30; 300],
        hostname: "ws-0142".into(),
    }
}

fn round_trip<M: Wire + PartialEq + std::fmt::Debug>(message: &M) {
    let frame = encode_frame(message).expect("sample encodes");
    let mut decoder = FrameDecoder::new(M::FRAME_LIMIT);
    assert_eq!(decoder.feed(&frame), Ok(frame.len()));
    let payload = decoder.take_frame().expect("one whole frame");
    assert_eq!(
        &M::decode_payload(&payload).expect("sample decodes"),
        message
    );
}

#[test]
fn every_message_round_trips() {
    agent_messages().iter().for_each(round_trip);
    console_messages().iter().for_each(round_trip);
    enroll_replies().iter().for_each(round_trip);
    round_trip(&enroll_request());
}

#[test]
fn samples_cover_every_variant() {
    assert_eq!(Some(agent_messages().len() as u32), AgentMessage::VARIANTS);
    assert_eq!(
        Some(console_messages().len() as u32),
        ConsoleMessage::VARIANTS
    );
    assert_eq!(Some(enroll_replies().len() as u32), EnrollReply::VARIANTS);
}

#[test]
fn a_length_prefix_of_4_gib_is_refused_before_buffering() {
    let mut decoder = FrameDecoder::new(CONTROL_FRAME_LIMIT);
    let error = decoder
        .feed(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
        .unwrap_err();
    assert_eq!(
        error,
        FrameError::TooLarge {
            len: u64::from(u32::MAX),
            limit: CONTROL_FRAME_LIMIT
        }
    );
    assert_eq!(
        error.to_string(),
        "frame too large: 4294967295 > 65536 bytes"
    );
}

#[test]
fn a_zero_length_frame_is_refused() {
    let mut decoder = FrameDecoder::new(CONTROL_FRAME_LIMIT);
    assert_eq!(decoder.feed(&[0, 0, 0, 0]), Err(FrameError::Empty));
}

#[test]
fn a_stream_ending_inside_a_frame_is_truncated() {
    let mut decoder = FrameDecoder::new(CONTROL_FRAME_LIMIT);
    assert_eq!(decoder.feed(&[0, 0, 0, 100, 1, 2, 3]), Ok(7));
    assert_eq!(
        decoder.finish(),
        Err(FrameError::Truncated {
            got: 7,
            expected: 104
        })
    );

    let mut decoder = FrameDecoder::new(CONTROL_FRAME_LIMIT);
    assert_eq!(decoder.feed(&[0, 0]), Ok(2));
    assert_eq!(
        decoder.finish(),
        Err(FrameError::Truncated {
            got: 2,
            expected: 4
        })
    );
}

#[test]
fn frames_split_at_every_byte_reassemble() {
    let mut stream = Vec::new();
    for message in agent_messages() {
        stream.extend(encode_frame(&message).expect("sample encodes"));
    }
    let mut decoder = FrameDecoder::new(CONTROL_FRAME_LIMIT);
    let mut decoded = Vec::new();
    for byte in &stream {
        assert_eq!(decoder.feed(std::slice::from_ref(byte)), Ok(1));
        if let Some(payload) = decoder.take_frame() {
            decoded.push(AgentMessage::decode_payload(&payload).expect("decodes"));
        }
    }
    assert_eq!(decoder.finish(), Ok(()));
    assert_eq!(decoded, agent_messages());
}

#[test]
fn feed_stops_at_the_end_of_each_frame() {
    let mut stream = encode_frame(&AgentMessage::Heartbeat(Heartbeat { seq: 1 })).expect("encodes");
    let first = stream.len();
    stream.extend(encode_frame(&AgentMessage::Heartbeat(Heartbeat { seq: 2 })).expect("encodes"));
    let mut decoder = FrameDecoder::new(CONTROL_FRAME_LIMIT);
    assert_eq!(decoder.feed(&stream), Ok(first));
    assert_eq!(
        decoder.feed(&stream[first..]),
        Ok(0),
        "waits until the frame is taken"
    );
    assert!(decoder.take_frame().is_some());
    assert_eq!(decoder.feed(&stream[first..]), Ok(stream.len() - first));
}

#[test]
fn an_unknown_tag_is_named() {
    let error = AgentMessage::decode_payload(&[200]).unwrap_err();
    assert_eq!(
        error,
        DecodeError::UnknownVariant {
            message: "agent message",
            tag: 200
        }
    );
}

#[test]
fn trailing_bytes_are_refused() {
    let mut payload = AgentMessage::Heartbeat(Heartbeat { seq: 1 })
        .encode_payload()
        .expect("encodes");
    payload.push(0);
    assert_eq!(
        AgentMessage::decode_payload(&payload),
        Err(DecodeError::TrailingBytes {
            message: "agent message",
            trailing: 1
        })
    );
}

#[test]
fn an_inner_length_beyond_the_limit_is_refused_without_allocating() {
    // A refusal whose reason claims 2^32 bytes, in a 12-byte payload.
    let mut payload = vec![2u8, 4]; // Refused, CloseCode::Revoked
    payload.push(252); // varint marker for a u32
    payload.extend_from_slice(&u32::MAX.to_le_bytes());
    payload.extend_from_slice(b"abcde");
    assert_eq!(
        ConsoleMessage::decode_payload(&payload),
        Err(DecodeError::LimitExceeded {
            message: "console message",
            limit: CONTROL_FRAME_LIMIT
        })
    );
}

#[test]
fn bad_utf8_is_a_typed_error() {
    let mut payload = vec![2u8, 4, 2];
    payload.extend_from_slice(&[0xff, 0xfe]);
    assert_eq!(
        ConsoleMessage::decode_payload(&payload),
        Err(DecodeError::InvalidUtf8 {
            message: "console message"
        })
    );
}

#[test]
fn a_truncated_payload_is_a_typed_error() {
    let payload = hello().encode_payload().expect("encodes");
    for cut in 1..payload.len() {
        let error = AgentMessage::decode_payload(&payload[..cut]).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::Truncated { .. } | DecodeError::Malformed { .. }
            ),
            "cut at {cut}: {error}"
        );
    }
}

#[test]
fn the_version_of_a_future_hello_can_be_read() {
    // A hello from protocol 2.3 whose remaining fields this build would not understand.
    let mut payload = vec![0u8];
    payload.extend(
        bincode::serde::encode_to_vec(
            ProtocolVersion { major: 2, minor: 3 },
            config::<CONTROL_FRAME_LIMIT>(),
        )
        .expect("encodes"),
    );
    payload.extend_from_slice(&[0xee; 10]);
    assert_eq!(
        peek_version(&payload, true),
        Some(ProtocolVersion { major: 2, minor: 3 })
    );

    let request = enroll_request().encode_payload().expect("encodes");
    assert_eq!(peek_version(&request, false), Some(PROTOCOL_VERSION));
}

#[test]
fn the_largest_audit_entry_fits_a_control_frame() {
    let entry = AgentAuditEntry::new(
        u64::MAX,
        i64::MIN,
        ("a".repeat(64), "p".repeat(MAX_PARAMS)),
        Some(u64::MAX),
        AuditOutcome::Failed("r".repeat(MAX_REASON)),
        GENESIS_HASH,
    );
    assert_eq!(entry.check(), Ok(()));
    round_trip(&AgentMessage::Audit(Box::new(entry)));
}

#[test]
fn an_audit_entry_with_a_huge_declared_params_length_is_refused() {
    // Audit, seq 1, at_ms 0, action "a", then params claiming 2^32 bytes.
    let mut payload = vec![2u8, 1, 0, 1, b'a', 252];
    payload.extend_from_slice(&u32::MAX.to_le_bytes());
    payload.extend_from_slice(b"{}");
    assert_eq!(
        AgentMessage::decode_payload(&payload),
        Err(DecodeError::LimitExceeded {
            message: "agent message",
            limit: CONTROL_FRAME_LIMIT
        })
    );
}
