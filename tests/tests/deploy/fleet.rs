//! Deployments by tag and by group: a tag reaches the tagged devices only, and a deployment
//! held to group windows installs where the group's window is open now in its zone (a named
//! zone, or the device's own as its agent reports it) and waits where it opens later.

use std::time::Duration;

use hotline_tests::agent::Agent;
use hotline_tests::console::Console;
use jiff::tz::TimeZone;
use serde_json::Value;

use super::fixture::{
    Publisher, agents, console, package, publish_repo, status, ticket, ticket_entries,
    wait_deployment,
};

const MINUTE: Duration = Duration::from_secs(60);

/// A console with `hello@1.0.0` published by `publisher`.
fn console_with_hello(publisher: &Publisher) -> Console {
    publisher.publish(&[(
        "hello-1.0.0.hpkg",
        package("hello", "1.0.0", b"fleet\n", "true"),
    )]);
    let console = console("");
    publish_repo(&console, publisher);
    console
}

/// The wall-clock time in `zone`, `minutes` from now, as HH:MM.
fn time_of_day(zone: &str, minutes: i64) -> String {
    let tz = TimeZone::get(zone).expect("zone");
    let at = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_mins(minutes))
        .expect("time")
        .to_zoned(tz);
    at.strftime("%H:%M").to_string()
}

fn device_entry<'a>(status: &'a Value, agent: &Agent) -> &'a Value {
    status["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["device"] == agent.device.as_str())
        .expect("the device is in the deployment")
}

#[test]
fn a_deployment_by_tag_reaches_the_tagged_devices_only() {
    let publisher = Publisher::new();
    let console = console_with_hello(&publisher);
    let agents = agents(&console, &publisher, 3);
    let refs: Vec<_> = agents.iter().collect();
    // The ticket names all three: only the tag keeps the third out.
    let number = ticket(&console, &refs);
    for agent in &agents[..2] {
        let out = console.cli_ok(&["device", "tag", &agent.device, "add", "lab"]);
        assert!(out.contains("tagged"), "{out}");
    }
    let again = console.cli_ok(&["device", "tag", &agents[0].device, "add", "lab"]);
    assert!(again.contains("already has"), "{again}");
    let bad = console.cli(&["device", "tag", &agents[0].device, "add", "Lab!"]);
    assert!(!bad.status.success(), "an invalid tag is refused");

    let out = console.cli_ok(&[
        "deploy",
        "create",
        "--ticket",
        &number,
        "--package",
        "hello@1.0.0",
        "--tag",
        "lab",
    ]);
    assert!(out.contains("for 2 devices"), "{out}");
    let id = out.split_whitespace().nth(1).expect("id").to_owned();
    let done = wait_deployment(&console, &id, "finished", MINUTE);

    let devices = done["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2, "{done}");
    assert_eq!(done["targets"]["tags"][0], "lab", "{done}");
    for agent in &agents[..2] {
        assert_eq!(device_entry(&done, agent)["outcome"], "installed", "{done}");
        assert!(agent.install_root().join("hello.txt").exists());
    }
    assert!(
        !agents[2].install_root().join("hello.txt").exists(),
        "the untagged device got nothing"
    );
    let listed: Value =
        serde_json::from_str(&console.cli_ok(&["devices", "--json"])).expect("devices JSON");
    let third = listed
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["id"] == agents[2].device.as_str())
        .expect("third device");
    assert_eq!(third["tags"], serde_json::json!([]), "{third}");
    let created = ticket_entries(&console, &number)
        .into_iter()
        .find(|e| e["action"] == "deployment.create")
        .expect("the creation on the ticket");
    assert_eq!(created["params"]["targets"]["tags"][0], "lab", "{created}");
}

/// Enrolls an agent whose environment says it lives in `zone`, and starts it.
fn agent_in_zone(console: &Console, publisher: &Publisher, zone: &str) -> Agent {
    let token = console.enroll_token(&[]);
    let mut agent = Agent::enroll(&token).expect("agent enrolls");
    agent.env.push(("TZ".to_owned(), zone.to_owned()));
    agent.trust_root(&publisher.root_file());
    agent.start_installing();
    console.wait_status(&agent.device, "online", Duration::from_secs(20));
    agent
}

#[test]
fn group_windows_install_where_open_now_in_their_zone_and_wait_where_they_open_later() {
    let publisher = Publisher::new();
    let console = console_with_hello(&publisher);
    // One device in a group whose window is open now in Kolkata (UTC+5:30); one that says
    // it is in Tokyo, in a group whose window is open now in each device's own zone; one in
    // a group whose window opens in three hours in Shanghai; one in no group. The zones
    // keep no daylight saving time, so no run lands in a repeated hour (the window
    // arithmetic across changes of clocks is unit-tested in the console).
    let fleet = agents(&console, &publisher, 2);
    let tokyo = agent_in_zone(&console, &publisher, "Asia/Tokyo");
    let (kolkata, later) = (&fleet[0], &fleet[1]);
    let loose = agent_in_zone(&console, &publisher, "Asia/Shanghai");
    // The agent reports the zone its environment names.
    let device = console.device(&tokyo.device).expect("listed");
    assert_eq!(device["inventory"]["time_zone"], "Asia/Tokyo", "{device}");

    let groups = [
        (
            "kolkata",
            kolkata,
            time_of_day("Asia/Kolkata", -10),
            "Asia/Kolkata",
        ),
        ("own-zone", &tokyo, time_of_day("Asia/Tokyo", -10), "local"),
        (
            "later",
            later,
            time_of_day("Asia/Shanghai", 180),
            "Asia/Shanghai",
        ),
    ];
    for (name, member, start, zone) in &groups {
        console.cli_ok(&["group", "create", name]);
        let set = console.cli_ok(&[
            "group",
            "set-window",
            name,
            "--start",
            start,
            "--length",
            "1h",
            "--zone",
            zone,
        ]);
        assert!(set.contains(start.as_str()), "{set}");
        console.cli_ok(&["group", "add", name, &member.device]);
    }
    let moved = console.cli(&["group", "add", "later", &kolkata.device]);
    assert!(!moved.status.success(), "a device is in at most one group");
    assert!(
        String::from_utf8_lossy(&moved.stderr).contains("kolkata"),
        "the refusal names the device's group"
    );
    let all = [kolkata, &tokyo, later, &loose];
    let number = ticket(&console, &all);

    // A device with no group window cannot be held to one: refused at creation, by name.
    let refused = console.cli(&[
        "deploy",
        "create",
        "--ticket",
        &number,
        "--package",
        "hello@1.0.0",
        "--device",
        &loose.device,
        "--device",
        &kolkata.device,
        "--window",
        "group",
    ]);
    assert!(!refused.status.success());
    let reason = String::from_utf8_lossy(&refused.stderr);
    assert!(
        reason.contains(&loose.device) && !reason.contains(&kolkata.device),
        "{reason}"
    );

    let out = console.cli_ok(&[
        "deploy",
        "create",
        "--ticket",
        &number,
        "--package",
        "hello@1.0.0",
        "--group",
        "kolkata",
        "--group",
        "own-zone",
        "--group",
        "later",
        "--window",
        "group",
    ]);
    assert!(out.contains("for 3 devices"), "{out}");
    let id = out.split_whitespace().nth(1).expect("id").to_owned();

    let installed = hotline_tests::wait_for("the open windows' devices to install", MINUTE, || {
        let now = status(&console, &id);
        let done = [kolkata, &tokyo]
            .iter()
            .all(|a| device_entry(&now, a)["outcome"] == "installed");
        done.then_some(now)
    });
    assert_eq!(installed["group_windows"], true, "{installed}");
    let waiting = device_entry(&installed, later);
    assert_eq!(waiting["state"], "pending", "{installed}");
    assert_eq!(waiting["attempts"], 0, "{installed}");
    // The status says when its window opens: in about three hours.
    let opens: jiff::Timestamp = waiting["next_window"]
        .as_str()
        .expect("next_window")
        .parse()
        .expect("RFC 3339");
    let ahead = opens.duration_since(jiff::Timestamp::now());
    assert!(
        ahead > jiff::SignedDuration::from_mins(150)
            && ahead <= jiff::SignedDuration::from_mins(181),
        "{installed}"
    );
    assert!(!later.install_root().join("hello.txt").exists());
    assert_eq!(
        installed["status"], "active",
        "still waiting for Shanghai's window"
    );

    // Moving the window to now lets the last device in, on a later pass.
    let start = time_of_day("Asia/Shanghai", -10);
    console.cli_ok(&[
        "group",
        "set-window",
        "later",
        "--start",
        &start,
        "--length",
        "1h",
        "--zone",
        "Asia/Shanghai",
    ]);
    let done = wait_deployment(&console, &id, "finished", MINUTE);
    assert_eq!(device_entry(&done, later)["outcome"], "installed", "{done}");
}
