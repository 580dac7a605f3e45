//! The agent–console link end to end: real console and agent processes, real QUIC and mutual
//! TLS on loopback, real SQLite, and hand-driven hostile clients.

use std::time::{Duration, Instant};

use hotline_protocol::{CloseCode, DeviceId};
use hotline_tests::agent::Agent;
use hotline_tests::console::Console;
use hotline_tests::raw::{Closed, RawClient, hello_frame, load_state};
use hotline_tests::wait_for;

const SOON: Duration = Duration::from_secs(10);

fn started_console() -> Console {
    let mut console = Console::init();
    console.start();
    console
}

fn online_agent(console: &Console) -> Agent {
    let mut agent = Agent::enroll(&console.enroll_token(&[])).expect("enrolls");
    agent.start();
    console.wait_status(&agent.device, "online", SOON);
    agent
}

fn closed_by_console(client: &RawClient) -> (CloseCode, String) {
    match client.closed(SOON) {
        Some(Closed::ByConsole { code, reason }) => {
            (CloseCode::from_u32(code).expect("known code"), reason)
        }
        other => panic!("expected the console to close the connection, got {other:?}"),
    }
}

#[test]
fn an_enrolled_agent_shows_online_with_its_inventory_then_offline_when_stopped() {
    let console = started_console();
    let mut agent = online_agent(&console);

    let device = console.device(&agent.device).expect("listed");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(device["hostname"], hostname.trim());
    assert_eq!(device["inventory"]["os"]["family"], "linux");
    assert_eq!(device["agent_version"], env!("CARGO_PKG_VERSION"));
    let table = console.cli_ok(&["devices"]);
    assert!(
        table.contains(&agent.device) && table.contains("online"),
        "{table}"
    );

    // Heartbeats flow: the console's view of the device's last contact moves forward.
    let first_seen = device["last_seen"].clone();
    wait_for("a newer heartbeat on record", SOON, || {
        (console.device(&agent.device)?["last_seen"] != first_seen).then_some(())
    });
    assert!(agent.log().matches("connected to the console").count() == 1);

    agent.stop();
    console.wait_status(&agent.device, "offline", Duration::from_secs(5));
}

#[test]
fn a_token_works_once() {
    let console = started_console();
    let token = console.enroll_token(&[]);
    Agent::enroll(&token).expect("first use enrolls");
    let error = Agent::enroll(&token).expect_err("second use is refused");
    assert!(error.contains("enrollment token already used"), "{error}");
    assert!(
        console
            .events()
            .iter()
            .any(|(kind, detail)| kind == "enroll-refused" && detail.contains("already used"))
    );
}

#[test]
fn an_expired_token_is_refused() {
    let console = started_console();
    let token = console.enroll_token(&["--expires", "1s"]);
    std::thread::sleep(Duration::from_millis(2100));
    let error = Agent::enroll(&token).expect_err("refused");
    assert!(error.contains("enrollment token expired"), "{error}");
}

#[test]
fn a_guessed_token_is_refused_and_guessing_is_rate_limited() {
    let console = started_console();
    let real = console.enroll_token(&[]);
    let guess = |n: u32| {
        let (head, _) = real.rsplit_once("token=").expect("token parameter");
        format!("{head}token={n:032x}")
    };
    for n in 0..10 {
        let error = Agent::enroll(&guess(n)).expect_err("refused");
        assert!(error.contains("enrollment token unknown"), "{error}");
    }
    // The address is now blocked, and even the real token waits.
    let error = Agent::enroll(&real).expect_err("blocked");
    assert!(
        error.contains("too many failed enrollment attempts"),
        "{error}"
    );
}

#[test]
fn an_agent_pinned_to_another_ca_refuses_the_console() {
    let console = started_console();
    let other = started_console();

    // Enrollment with the other console's CA fingerprint never sends the token anywhere.
    let token = console.enroll_token(&[]);
    let other_ca = other.enroll_token(&[]);
    let (_, other_fingerprint) = other_ca.split_once("ca=").expect("ca parameter");
    let other_fingerprint = &other_fingerprint[..64];
    let (head, tail) = token.split_once("ca=").expect("ca parameter");
    let mixed = format!("{head}ca={other_fingerprint}{}", &tail[64..]);
    let error = Agent::enroll(&mixed).expect_err("refused");
    assert!(
        error.contains("does not contain the CA with fingerprint"),
        "{error}"
    );
    // The token was never presented, so it still works.
    Agent::enroll(&token).expect("token still valid");

    // An enrolled agent pointed at a console of another CA keeps refusing it and retrying.
    let mut agent = Agent::enroll(&other.enroll_token(&[])).expect("enrolls");
    agent.set_console(&console.quic.expect("bound").to_string());
    agent.start();
    wait_for("two failed attempts", SOON, || {
        (agent.log().matches("reconnecting").count() >= 2).then_some(())
    });
    let log = agent.log();
    assert!(log.contains("invalid peer certificate"), "{log}");
    assert!(!log.contains("connected to the console"), "{log}");
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let console = started_console();
    let other = started_console();
    let stranger = Agent::enroll(&other.enroll_token(&[])).expect("enrolls elsewhere");

    // The stranger trusts this console's CA, so only the console's check can stop it.
    let mut state = load_state(&stranger.state());
    state.ca = hotline_console_ca(&console);
    let outcome = RawClient::connect(&state, console.quic.expect("bound"));
    let closed = match outcome {
        Err(closed) => closed,
        Ok(mut client) => {
            client.send(&hello_frame(&state.device));
            client.closed(SOON).expect("closed")
        }
    };
    match closed {
        Closed::Other(reason) => assert!(reason.contains("certificate"), "{reason}"),
        Closed::ByConsole { .. } => panic!("handshake should fail, not reach the application"),
    }
    assert!(console.devices().is_empty());
}

fn hotline_console_ca(console: &Console) -> rustls::pki_types::CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(console.ca_cert()).expect("CA PEM")
}

#[test]
fn a_revoked_device_is_disconnected_at_once_and_refused_later() {
    let console = started_console();
    let agent = online_agent(&console);

    let revoked_at = Instant::now();
    let said = console.cli_ok(&["devices", "revoke", &agent.device]);
    assert!(said.contains("revoked"));
    console.wait_status(&agent.device, "revoked", SOON);
    wait_for("the agent to hear it was revoked", SOON, || {
        agent.log().contains("revoked").then_some(())
    });
    assert!(revoked_at.elapsed() < Duration::from_secs(3));

    // It keeps trying (an admin may undo this later) and keeps being refused.
    wait_for("a refused reconnect", Duration::from_secs(20), || {
        console
            .events()
            .iter()
            .any(|(kind, detail)| kind == "refused" && detail.contains("is revoked"))
            .then_some(())
    });
    let state = load_state(&agent.state());
    let mut client = RawClient::connect(&state, console.quic.expect("bound")).expect("handshake");
    client.send(&hello_frame(&state.device));
    assert_eq!(closed_by_console(&client).0, CloseCode::Revoked);
}

#[test]
fn a_hello_claiming_another_device_is_refused() {
    let console = started_console();
    let agent = Agent::enroll(&console.enroll_token(&[])).expect("enrolls");
    let victim = Agent::enroll(&console.enroll_token(&[])).expect("enrolls");

    let state = load_state(&agent.state());
    let mut client = RawClient::connect(&state, console.quic.expect("bound")).expect("handshake");
    client.send(&hello_frame(
        &victim.device.parse::<DeviceId>().expect("id"),
    ));
    let (code, reason) = closed_by_console(&client);
    assert_eq!(code, CloseCode::IdentityMismatch);
    assert!(
        reason.contains(&format!("certificate is for device {}", agent.device)),
        "{reason}"
    );
    assert_eq!(
        console.device(&victim.device).expect("listed")["status"],
        "offline"
    );
}

#[test]
fn the_agent_is_back_within_5_s_of_the_console_restarting() {
    let mut console = started_console();
    let agent = online_agent(&console);
    let quic = console.quic;

    console.stop();
    std::thread::sleep(Duration::from_secs(2));
    console.start_on(quic);
    let back = Instant::now();
    console.wait_status(&agent.device, "online", Duration::from_secs(5));
    assert!(back.elapsed() < Duration::from_secs(5));
}

#[test]
fn hostile_frames_close_only_their_own_connection() {
    let console = started_console();
    let bystander = online_agent(&console);
    let attacker = Agent::enroll(&console.enroll_token(&[])).expect("enrolls");
    let state = load_state(&attacker.state());
    let address = console.quic.expect("bound");

    // A 4 GiB length prefix.
    let mut client = RawClient::connect(&state, address).expect("handshake");
    client.send(&[0xff, 0xff, 0xff, 0xff, 0, 0]);
    assert_eq!(
        closed_by_console(&client),
        (
            CloseCode::ProtocolViolation,
            "frame too large: 4294967295 > 65536 bytes".to_owned()
        )
    );

    // A frame cut short by the end of the stream.
    let mut client = RawClient::connect(&state, address).expect("handshake");
    client.send(&[0, 0, 0, 100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    client.finish();
    assert_eq!(
        closed_by_console(&client),
        (
            CloseCode::ProtocolViolation,
            "truncated frame: stream ended after 14 of 104 bytes".to_owned()
        )
    );

    // A message tag no version of the protocol has used.
    let mut client = RawClient::connect(&state, address).expect("handshake");
    client.send(&[0, 0, 0, 1, 200]);
    assert_eq!(
        closed_by_console(&client),
        (
            CloseCode::ProtocolViolation,
            "unknown agent message variant 200".to_owned()
        )
    );

    // The well-behaved agent never noticed.
    assert_eq!(
        console.device(&bystander.device).expect("listed")["status"],
        "online"
    );
    assert_eq!(
        bystander.log().matches("connected to the console").count(),
        1
    );
    assert!(!bystander.log().contains("connection to the console lost"));
}

#[test]
fn a_second_connection_with_one_certificate_replaces_the_first_and_is_flagged() {
    let console = started_console();
    let agent = Agent::enroll(&console.enroll_token(&[])).expect("enrolls");
    let state = load_state(&agent.state());
    let address = console.quic.expect("bound");

    let mut first = RawClient::connect(&state, address).expect("handshake");
    first.send(&hello_frame(&state.device));
    console.wait_status(&agent.device, "online", SOON);
    let mut second = RawClient::connect(&state, address).expect("handshake");
    second.send(&hello_frame(&state.device));

    assert_eq!(closed_by_console(&first).0, CloseCode::Replaced);
    assert!(
        console
            .events()
            .iter()
            .any(|(kind, _)| kind == "possible-clone")
    );
    assert_eq!(second.closed(Duration::from_millis(500)), None);
}
