//! Writes a seed corpus for the `frames` target: one well-formed frame of every message
//! variant, and all of them in one stream cut into small chunks, so the fuzzer starts from
//! valid payloads instead of having to guess a length prefix that matches its bytes. For
//! `screen_frames`: a key frame with a fill, followed by a delta frame with a copy and a
//! fill.
//!
//! Run from `protocol/fuzz`: `cargo run --example seed_corpus`.

use std::fs;
use std::path::Path;

use hotline_protocol::audit::{AgentAuditEntry, AuditOutcome, GENESIS_HASH};
use hotline_protocol::codec::{Wire, encode_frame};
use hotline_protocol::enroll::{
    EnrollAccepted, EnrollReply, EnrollRequest, EnrollmentToken, TOKEN_BYTES,
};
use hotline_protocol::inventory::{Display, DisplayKind, Inventory, OsInfo, UserSession};
use hotline_protocol::messages::{
    AgentMessage, Capabilities, ConsoleMessage, Heartbeat, HeartbeatAck, Hello, Refusal, Welcome,
};
use hotline_protocol::{CloseCode, DeviceId, PROTOCOL_VERSION};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let frames = [
        frame(&AgentMessage::Hello(Box::new(hello())))?,
        frame(&AgentMessage::Heartbeat(Heartbeat { seq: 300 }))?,
        frame(&ConsoleMessage::Welcome(Welcome {
            protocol: PROTOCOL_VERSION,
            console_version: "0.1.0".into(),
            device: DeviceId::from_random(7),
            heartbeat_interval_ms: 15_000,
        }))?,
        frame(&ConsoleMessage::HeartbeatAck(HeartbeatAck { seq: 300 }))?,
        frame(&AgentMessage::Audit(Box::new(AgentAuditEntry::new(
            1,
            1_700_000_000_000,
            ("agent.started".into(), r#"{"version":"0.1.0"}"#.into()),
            Some(7),
            AuditOutcome::Refused("no ticket".into()),
            GENESIS_HASH,
        ))))?,
        frame(&ConsoleMessage::AuditAck { up_to: 1 })?,
        frame(&ConsoleMessage::Refused(Refusal::new(
            CloseCode::Revoked,
            "revoked",
        )))?,
        frame(&EnrollRequest {
            protocol: PROTOCOL_VERSION,
            token: EnrollmentToken::from_random([3; TOKEN_BYTES]),
            csr_der: vec![0x30; 64],
            hostname: "ws-1".into(),
        })?,
        frame(&EnrollReply::Accepted(EnrollAccepted {
            device: DeviceId::from_random(7),
            certificate_der: vec![0x30; 32],
            ca_der: vec![0x30; 32],
        }))?,
    ];

    let dir = Path::new("corpus/frames");
    fs::create_dir_all(dir).map_err(|error| format!("creating {}: {error}", dir.display()))?;
    // The target's first byte says how many chunk sizes follow: none, the whole stream at once.
    for (i, frame) in frames.iter().enumerate() {
        write(&dir.join(format!("seed-{i}")), &[&[0], frame])?;
    }
    // Three sizes, 1, 7 and 200 bytes, cycling over every frame in one stream.
    write(
        &dir.join("seed-stream"),
        &[&[3, 1, 7, 200], &frames.concat()],
    )?;
    screen_seeds()
}

/// Two screen frames; the first byte says the first frame is 7·4 = 28 bytes long.
fn screen_seeds() -> Result<(), Box<dyn std::error::Error>> {
    use hotline_protocol::screen::{Rect, ScreenFrame, Update, encode_frame};

    let rect = |x, y, w, h| Rect { x, y, w, h };
    let key = encode_frame(&ScreenFrame {
        key: true,
        width: 64,
        height: 48,
        seq: 1,
        updates: vec![Update::Fill {
            rect: rect(0, 0, 64, 48),
            rgb: [200, 100, 50],
        }],
        pixels: Vec::new(),
    });
    let delta = encode_frame(&ScreenFrame {
        key: false,
        width: 64,
        height: 48,
        seq: 2,
        updates: vec![
            Update::Fill {
                rect: rect(3, 5, 7, 9),
                rgb: [1, 2, 3],
            },
            Update::Copy {
                rect: rect(10, 20, 30, 20),
                src_x: 0,
                src_y: 0,
            },
        ],
        pixels: Vec::new(),
    });
    assert_eq!(
        key.len(),
        28,
        "the seed's cut byte assumes a 28-byte key frame"
    );
    let dir = Path::new("corpus/screen_frames");
    fs::create_dir_all(dir).map_err(|error| format!("creating {}: {error}", dir.display()))?;
    write(&dir.join("seed-key-delta"), &[&[7], &key, &delta])?;
    record_seeds(&key)
}

/// A frame stream's records for `stream_records`, each behind its two-byte length: a key
/// frame, a cursor shape, a position on it, and the pointer hidden.
fn record_seeds(key: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    use hotline_protocol::screen::{
        CursorId, CursorPosition, CursorShape, CursorUpdate, encode_cursor,
    };

    let shape = encode_cursor(&CursorUpdate::Shape(CursorShape {
        id: CursorId(7),
        width: 2,
        height: 3,
        hot_x: 1,
        hot_y: 2,
        rgba: (0..24).collect(),
    }));
    let at = encode_cursor(&CursorUpdate::Position(CursorPosition::Visible {
        id: CursorId(7),
        x: 30,
        y: 40,
    }));
    let hidden = encode_cursor(&CursorUpdate::Position(CursorPosition::Hidden));
    let mut stream = Vec::new();
    for record in [key, &shape, &at, &hidden] {
        let len = u16::try_from(record.len())?;
        stream.extend_from_slice(&len.to_le_bytes());
        stream.extend_from_slice(record);
    }
    let dir = Path::new("corpus/stream_records");
    fs::create_dir_all(dir).map_err(|error| format!("creating {}: {error}", dir.display()))?;
    write(&dir.join("seed-frame-cursor"), &[&stream])
}

fn frame<M: Wire>(message: &M) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    Ok(encode_frame(message)?)
}

fn write(path: &Path, parts: &[&[u8]]) -> Result<(), Box<dyn std::error::Error>> {
    fs::write(path, parts.concat())
        .map_err(|error| format!("writing {}: {error}", path.display()))?;
    Ok(())
}

fn hello() -> Hello {
    Hello {
        protocol: PROTOCOL_VERSION,
        device: DeviceId::from_random(7),
        agent_version: "0.1.0".into(),
        capabilities: Capabilities::INVENTORY.union(Capabilities::SCREEN),
        inventory: Inventory {
            hostname: "ws-0142".into(),
            os: OsInfo {
                family: "linux".into(),
                name: "Debian GNU/Linux 12 (bookworm)".into(),
                version: "6.1.0".into(),
            },
            arch: "x86_64".into(),
            sessions: vec![UserSession {
                user: "alice".into(),
                line: "tty2".into(),
                display: Some(":0".into()),
                since: 1_700_000_000,
            }],
            displays: vec![Display {
                name: ":0".into(),
                kind: DisplayKind::Wayland,
            }],
            time_zone: "Europe/Berlin".into(),
        },
    }
}
