//! Rollouts over real agents: every device's result on the ticket, a cut transfer resumed,
//! a device offline through its window served in the next one, and a failing canary pausing
//! the rest.

use std::time::{Duration, Instant};

use hotline_tests::wait_for;

use super::fixture::{
    Publisher, agents, console, deploy, local_entries, noise, package, publish_repo, status,
    ticket, ticket_entries, wait_deployment,
};

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_package_deployed_to_three_agents_lands_on_each_with_its_result_on_the_ticket() {
    let publisher = Publisher::new();
    publisher.publish(&[(
        "hello-1.0.0.hpkg",
        package("hello", "1.0.0", b"hello\n", "true"),
    )]);
    let console = console("");
    publish_repo(&console, &publisher);
    let agents = agents(&console, &publisher, 3);
    let refs: Vec<_> = agents.iter().collect();
    let number = ticket(&console, &refs);

    let id = deploy(&console, &number, "hello@1.0.0", &refs, &[]);
    let done = wait_deployment(&console, &id, "finished", MINUTE);

    for agent in &agents {
        let installed = std::fs::read(agent.install_root().join("hello.txt")).expect("installed");
        assert_eq!(installed, b"hello\n");
    }
    let devices = done["devices"].as_array().expect("devices");
    assert!(
        devices.iter().all(|d| d["outcome"] == "installed"),
        "{done}"
    );
    let results: Vec<_> = ticket_entries(&console, &number)
        .into_iter()
        .filter(|e| e["action"] == "package.install")
        .collect();
    assert_eq!(results.len(), 3, "{results:?}");
    for agent in &agents {
        let entry = results
            .iter()
            .find(|e| e["device"] == agent.device.as_str())
            .expect("an entry for each device");
        assert_eq!(entry["params"]["result"], "installed");
        assert_eq!(entry["outcome"], "ok");
    }
}

#[test]
fn a_transfer_cut_by_a_console_restart_resumes_and_installs_once() {
    // 32 chunks of 64 KiB at 512 KiB/s: four seconds on the wire, long enough to cut.
    let publisher = Publisher::new();
    let big = noise(2 * 1024 * 1024 - 4096);
    publisher.publish(&[("big-1.0.0.hpkg", package("big", "1.0.0", &big, "true"))]);
    let mut console = console("chunk_kib = 64\nbandwidth_kib = 512");
    publish_repo(&console, &publisher);
    let mut agents = agents(&console, &publisher, 1);
    let agent = &mut agents[0];
    let number = ticket(&console, &[agent]);
    let id = deploy(&console, &number, "big@1.0.0", &[agent], &[]);

    // Cut once the device holds a few chunks, by stopping the console.
    let chunks_dir = agent.state().join("deploy").join("chunks");
    wait_for("some chunks on the device", MINUTE, || {
        let dir = std::fs::read_dir(&chunks_dir).ok()?.next()?.ok()?.path();
        (std::fs::read_dir(dir).ok()?.count() >= 6).then_some(())
    });
    let quic = console.quic;
    console.stop();
    console.start_on(quic);

    let done = wait_deployment(&console, &id, "finished", MINUTE);
    let device = &done["devices"][0];
    assert_eq!(device["outcome"], "installed", "{done}");

    let fetches = local_entries(agent, "deploy.fetch");
    assert_eq!(
        fetches.len(),
        2,
        "one fetch before the cut, one after: {fetches:?}"
    );
    let resumed_from = fetches[1]["params"]["from"].as_u64().expect("from");
    let total = fetches[1]["params"]["chunks"].as_u64().expect("chunks");
    assert!(
        resumed_from >= 6 && resumed_from < total,
        "resumed from {resumed_from} of {total}"
    );
    // What crossed the wire: every chunk once, plus at most the one in flight at the cut.
    let sent = device["chunks_sent"].as_u64().expect("chunks_sent");
    assert!(sent <= total + 1, "{sent} chunks sent for {total}");
    assert_eq!(
        local_entries(agent, "deploy.result").len(),
        1,
        "installed once"
    );
    let installed = std::fs::read(agent.install_root().join("hello.txt")).expect("installed");
    assert_eq!(installed, big);
}

#[test]
fn a_device_offline_through_its_window_gets_the_package_in_the_next_one() {
    let publisher = Publisher::new();
    publisher.publish(&[(
        "hello-1.0.0.hpkg",
        package("hello", "1.0.0", b"hi\n", "true"),
    )]);
    let console = console("");
    publish_repo(&console, &publisher);
    let mut agents = agents(&console, &publisher, 1);
    let agent = &mut agents[0];
    let number = ticket(&console, &[agent]);
    agent.stop();
    console.wait_status(&agent.device, "offline", MINUTE);

    // Windows of 3 s every 12 s, the first opening in 2 s.
    let created = Instant::now();
    let id = deploy(
        &console,
        &number,
        "hello@1.0.0",
        &[agent],
        &["--window", "+2s+3s/12s"],
    );
    std::thread::sleep(Duration::from_secs(6));
    agent.start_installing();
    console.wait_status(&agent.device, "online", MINUTE);

    // Online between windows: nothing happens until the next one opens.
    std::thread::sleep(Duration::from_secs(12).saturating_sub(created.elapsed()));
    assert_eq!(status(&console, &id)["devices"][0]["state"], "pending");
    let done = wait_deployment(&console, &id, "finished", MINUTE);
    assert_eq!(done["devices"][0]["outcome"], "installed", "{done}");
    assert!(created.elapsed() >= Duration::from_secs(13));
}

#[test]
fn a_failing_canary_pauses_the_rollout_before_the_rest_starts() {
    let publisher = Publisher::new();
    let broken = package(
        "broken",
        "1.0.0",
        b"x\n",
        "echo 'no driver for this model' >&2; exit 3",
    );
    publisher.publish(&[("broken-1.0.0.hpkg", broken)]);
    let console = console("");
    publish_repo(&console, &publisher);
    let agents = agents(&console, &publisher, 3);
    let refs: Vec<_> = agents.iter().collect();
    let number = ticket(&console, &refs);

    let id = deploy(
        &console,
        &number,
        "broken@1.0.0",
        &refs,
        &["--canary", "5%", "--failure-threshold", "20%"],
    );
    let paused = wait_deployment(&console, &id, "paused", MINUTE);
    assert!(
        paused["reason"]
            .as_str()
            .is_some_and(|r| r.contains("canary")),
        "{paused}"
    );
    let devices = paused["devices"].as_array().expect("devices");
    assert_eq!(devices[0]["outcome"], "failed", "{paused}");
    // The rest never started, and stays so while paused.
    std::thread::sleep(Duration::from_secs(2));
    let devices = status(&console, &id)["devices"]
        .as_array()
        .cloned()
        .expect("devices");
    assert!(
        devices[1..]
            .iter()
            .all(|d| d["attempts"] == 0 && d["state"] == "pending")
    );
    let entries = ticket_entries(&console, &number);
    assert!(entries.iter().any(|e| e["action"] == "deployment.pause"));
    let failed = entries
        .iter()
        .find(|e| e["action"] == "package.install")
        .expect("the canary's result");
    assert_eq!(failed["outcome"], "failed");
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("step")),
        "{failed}"
    );
}

/// The rule a deployment was made under holds at every transfer, not only at `create`: a
/// scheduled deployment whose ticket closed meanwhile pauses with the reason on the ticket
/// and sends nothing.
#[test]
fn a_scheduled_deployment_whose_ticket_closed_pauses_and_sends_nothing() {
    let publisher = Publisher::new();
    publisher.publish(&[(
        "hello-1.0.0.hpkg",
        package("hello", "1.0.0", b"hello\n", "true"),
    )]);
    let console = console("");
    publish_repo(&console, &publisher);
    let agents = agents(&console, &publisher, 1);
    let refs: Vec<_> = agents.iter().collect();
    let number = ticket(&console, &refs);

    let id = deploy(&console, &number, "hello@1.0.0", &refs, &["--at", "+6s"]);
    console.cli_ok(&["ticket", "close", &number, "--resolution", "withdrawn"]);
    let paused = wait_deployment(&console, &id, "paused", MINUTE);

    assert!(
        paused["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not open")),
        "{paused}"
    );
    assert_eq!(paused["devices"][0]["attempts"], 0, "{paused}");
    assert!(!agents[0].install_root().join("hello.txt").exists());
    let pauses: Vec<_> = ticket_entries(&console, &number)
        .into_iter()
        .filter(|e| e["action"] == "deployment.pause")
        .collect();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert_eq!(pauses[0]["outcome"], "refused", "{pauses:?}");
}
