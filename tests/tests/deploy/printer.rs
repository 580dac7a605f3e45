//! The printer example (packages/examples/printer) deployed end to end: built and signed as
//! a publisher would, published to the console, rolled out on a change ticket to a real agent
//! whose package steps talk to a private cupsd, and the queue checked with lpstat.

use std::path::Path;
use std::time::Duration;

use hotline_packages::Limits;
use hotline_packages::archive::build_from_dir;
use hotline_tests::agent::Agent;
use hotline_tests::cupsd::Cupsd;

use super::fixture::{
    Publisher, console, deploy, publish_repo, ticket, ticket_entries, wait_deployment,
};

#[test]
fn the_printer_example_deployed_to_an_agent_adds_the_queue_on_a_real_cupsd() {
    let cupsd = Cupsd::start();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packages/examples/printer");
    let package = build_from_dir(&example, &Limits::default()).expect("example builds");
    let publisher = Publisher::new();
    publisher.publish(&[("office-printer-1.0.0.hpkg", package)]);
    let console = console("");
    publish_repo(&console, &publisher);

    let token = console.enroll_token(&[]);
    let mut agent = Agent::enroll(&token).expect("agent enrolls");
    agent.trust_root(&publisher.root_file());
    agent.start_installing_with(&[format!("CUPS_SERVER={}", cupsd.socket().display())]);
    console.wait_status(&agent.device, "online", Duration::from_secs(20));
    assert!(
        !cupsd.lpstat(&["-p", "HotlineOffice"]).0,
        "queue exists before"
    );

    let number = ticket(&console, &[&agent]);
    let id = deploy(&console, &number, "office-printer@1.0.0", &[&agent], &[]);
    let done = wait_deployment(&console, &id, "finished", Duration::from_secs(90));
    assert_eq!(done["devices"][0]["outcome"], "installed", "{done}");

    let (exists, listing) = cupsd.lpstat(&["-v", "HotlineOffice"]);
    assert!(
        exists && listing.contains("socket://127.0.0.1:9100"),
        "{listing}"
    );
    let ppd = agent
        .install_root()
        .join("usr/share/ppd/hotline/hotline-office.ppd");
    assert!(ppd.is_file());
    let entries = ticket_entries(&console, &number);
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "package.install" && e["params"]["result"] == "installed"),
        "{entries:?}"
    );
}
