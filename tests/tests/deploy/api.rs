//! Deployments through the JSON API: only a deployer may start or steer one, only for an
//! open ticket that names every device, and each refusal is on the ticket with its reason.

use std::time::Duration;

use hotline_tests::api::Api;
use serde_json::json;

use super::fixture::{Publisher, agents, console, package, ticket, ticket_entries};

const PASSWORD: &str = "correct horse battery staple 42";

#[test]
fn only_a_deployer_with_a_ticket_naming_the_devices_may_deploy_over_the_api() {
    let publisher = Publisher::new();
    publisher.publish(&[(
        "hello-1.0.0.hpkg",
        package("hello", "1.0.0", b"api\n", "true"),
    )]);
    let console = console("");
    let repo = publisher.repo_dir();
    console.cli_ok(&[
        "package",
        "publish",
        "--repo",
        repo.to_str().expect("utf-8"),
    ]);
    let agents = agents(&console, &publisher, 2);
    let (named, unnamed) = (&agents[0], &agents[1]);
    let number = ticket(&console, &[named]);
    let member = |name: &str, roles: &[&str]| {
        let one_time = console.add_account(name, name, roles);
        Api::first_login(&console, name, &one_time, PASSWORD)
    };
    let analyst = member("ana", &["analyst"]);
    let deployer = member("dep", &["deployer"]);
    let body = |device: &str| json!({ "ticket": number.parse::<i64>().expect("number"), "package": "hello@1.0.0", "devices": [device] });

    let refused = analyst.post("/api/deployments", &body(&named.device));
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.error().contains("deployer"), "{}", refused.error());
    let refused = deployer.post("/api/deployments", &body(&unnamed.device));
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(
        refused.error().contains("does not name"),
        "{}",
        refused.error()
    );
    let refusals: Vec<_> = ticket_entries(&console, &number)
        .into_iter()
        .filter(|e| e["action"] == "package.deploy" && e["outcome"] == "refused")
        .collect();
    assert_eq!(
        refusals.len(),
        2,
        "both refusals on the ticket: {refusals:?}"
    );

    let created = deployer.post("/api/deployments", &body(&named.device));
    assert_eq!(created.status, 200, "{created:?}");
    let id = created.body["id"].as_i64().expect("id");
    let path = format!("/api/deployments/{id}");
    hotline_tests::wait_for("the deployment to finish", Duration::from_secs(60), || {
        let reply = deployer.get(&path);
        (reply.body["status"] == "finished").then_some(())
    });
    let done = deployer.get(&path);
    assert_eq!(done.body["devices"][0]["outcome"], "installed", "{done:?}");
    let late = deployer.post(&format!("{path}/state"), &json!({ "status": "paused" }));
    assert_eq!(
        late.status, 409,
        "a finished deployment cannot be paused: {late:?}"
    );
}
