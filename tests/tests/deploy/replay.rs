//! A captured assignment replayed to a device: a console process started from a copy of the
//! data directory (what a thief holding the console's keys has) re-signs the very assignment
//! the device already executed, same nonce and all. The device must refuse it, say why on
//! the stream, and record the refusal in its own audit log.

use std::time::Duration;

use hotline_console::config::Config;
use hotline_console::datadir::DataDir;
use hotline_console::deploy::AssignmentKey;
use hotline_console::tls::{Identity, quic_server};
use hotline_protocol::codec::{FrameDecoder, Wire, encode_frame};
use hotline_protocol::deploy::{
    Assignment, DEPLOY_FRAME_LIMIT, DeployDown, DeployUp, Offer, Outcome,
};
use hotline_protocol::messages::{ConsoleMessage, Welcome};
use hotline_protocol::{DeviceId, PROTOCOL_VERSION};
use sqlx::Row;

use super::fixture::{
    Publisher, agents, console, deploy, local_entries, package, publish_repo, ticket,
    wait_deployment,
};

#[test]
fn a_replayed_assignment_is_refused_and_recorded() {
    let publisher = Publisher::new();
    publisher.publish(&[(
        "hello-1.0.0.hpkg",
        package("hello", "1.0.0", b"hi\n", "true"),
    )]);
    let mut console = console("");
    publish_repo(&console, &publisher);
    let agents = agents(&console, &publisher, 1);
    let agent = &agents[0];
    let number = ticket(&console, &[agent]);
    let id = deploy(&console, &number, "hello@1.0.0", &[agent], &[]);
    wait_deployment(&console, &id, "finished", Duration::from_secs(60));

    let quic = console.quic.expect("QUIC address");
    console.stop();
    let data = DataDir::new(&console.data());
    let device: DeviceId = agent.device.parse().expect("device id");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let report = runtime.block_on(async {
        let assignment = recorded_assignment(&data, &device).await;
        let key = AssignmentKey::load_or_create(&data).expect("the stolen key");
        let offer = Offer {
            signature: key.sign(&assignment).expect("signs"),
            console_key: key.public(),
            metadata: Vec::new(),
            chunk_size: 1024 * 1024,
            patches: Vec::new(),
            assignment,
        };
        impostor(&data, quic, &device, offer).await
    });

    match report {
        DeployUp::Report { outcome, detail } => {
            assert_eq!(outcome, Outcome::RefusedAssignment);
            assert!(detail.contains("replay"), "{detail}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let refused: Vec<_> = local_entries(agent, "deploy.assignment")
        .into_iter()
        .filter(|entry| entry["outcome"] == "refused")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("replay"))
    );
    assert_eq!(
        local_entries(agent, "deploy.result").len(),
        1,
        "installed once, not twice"
    );
}

/// The assignment the console signed, rebuilt field by field from its database.
async fn recorded_assignment(data: &DataDir, device: &DeviceId) -> Assignment {
    let url = format!("sqlite://{}", data.database().display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("database opens");
    let row = sqlx::query(
        "SELECT n.nonce, n.expires_at, d.id, d.ticket_number, d.package, d.version, d.target, \
         d.sha256, d.length FROM assignment_nonces n JOIN deployments d ON d.id = n.deployment_id",
    )
    .fetch_one(&pool)
    .await
    .expect("one assignment was signed");
    let hex32 = |text: String| {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).expect("hex");
        out
    };
    let mut nonce = [0u8; 16];
    hex::decode_to_slice(row.get::<String, _>("nonce"), &mut nonce).expect("hex nonce");
    let number = |name: &str| u64::try_from(row.get::<i64, _>(name)).expect("non-negative");
    let assignment = Assignment {
        device: device.clone(),
        deployment: number("id"),
        ticket: number("ticket_number"),
        package: row.get("package"),
        version: row.get("version"),
        target: row.get("target"),
        sha256: hex32(row.get("sha256")),
        length: number("length"),
        nonce,
        expires_at: number("expires_at"),
    };
    pool.close().await;
    assignment
}

/// A console impostor on the real console's address: welcomes the device, offers `offer`
/// on a deployment stream and returns the device's answer.
async fn impostor(
    data: &DataDir,
    address: std::net::SocketAddr,
    device: &DeviceId,
    offer: Offer,
) -> DeployUp {
    let identity = Identity::load(data).expect("the stolen identity");
    let server = quic_server(&identity, &Config::default()).expect("server config");
    let endpoint = quinn::Endpoint::server(server, address).expect("binds the console's port");
    let connection = tokio::time::timeout(Duration::from_secs(60), async {
        endpoint
            .accept()
            .await
            .expect("a connection")
            .await
            .expect("handshake")
    })
    .await
    .expect("the device reconnects");

    let (mut control, mut control_recv) = connection.accept_bi().await.expect("control stream");
    read_frame(&mut control_recv, 64 * 1024).await;
    let welcome = ConsoleMessage::Welcome(Welcome {
        protocol: PROTOCOL_VERSION,
        console_version: "impostor".to_owned(),
        device: device.clone(),
        heartbeat_interval_ms: 1000,
    });
    control
        .write_all(&encode_frame(&welcome).expect("encodes"))
        .await
        .expect("welcome");

    let (mut send, mut recv) = connection.open_bi().await.expect("deploy stream");
    let frame = encode_frame(&DeployDown::Offer(Box::new(offer))).expect("encodes");
    send.write_all(&frame).await.expect("offer sent");
    let payload = read_frame(&mut recv, DEPLOY_FRAME_LIMIT).await;
    connection.close(0u32.into(), b"done");
    DeployUp::decode_payload(&payload).expect("a deploy reply")
}

/// Reads the first frame on `recv`; the bytes after it are not needed here.
async fn read_frame(recv: &mut quinn::RecvStream, limit: usize) -> Vec<u8> {
    let mut decoder = FrameDecoder::new(limit);
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(30), recv.read(&mut buffer))
            .await
            .expect("the peer answers")
            .expect("stream readable")
            .expect("stream not finished");
        let mut rest = &buffer[..read];
        while !rest.is_empty() {
            let used = decoder.feed(rest).expect("valid frames");
            if let Some(frame) = decoder.take_frame() {
                return frame;
            }
            rest = &rest[used..];
        }
    }
}
