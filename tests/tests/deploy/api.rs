//! Deployments through the JSON API: only a deployer may start or steer one, only for an
//! open ticket that names every device, and each refusal is on the ticket with its reason.

use std::time::Duration;

use hotline_tests::api::Api;
use serde_json::json;

use super::fixture::{Publisher, agents, console, package, publish_repo, ticket, ticket_entries};

const PASSWORD: &str = "correct horse battery staple 42";

#[test]
fn only_a_deployer_with_a_ticket_naming_the_devices_may_deploy_over_the_api() {
    let publisher = Publisher::new();
    publisher.publish(&[(
        "hello-1.0.0.hpkg",
        package("hello", "1.0.0", b"api\n", "true"),
    )]);
    let console = console("");
    publish_repo(&console, &publisher);
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

#[test]
fn only_an_admin_may_change_tags_and_groups_and_deployments_take_them_as_targets() {
    let publisher = Publisher::new();
    publisher.publish(&[(
        "hello-1.0.0.hpkg",
        package("hello", "1.0.0", b"api\n", "true"),
    )]);
    let console = console("");
    publish_repo(&console, &publisher);
    let agents = agents(&console, &publisher, 2);
    let (tagged, grouped) = (&agents[0], &agents[1]);
    let number = ticket(&console, &[tagged, grouped]);
    let member = |name: &str, roles: &[&str]| {
        let one_time = console.add_account(name, name, roles);
        Api::first_login(&console, name, &one_time, PASSWORD)
    };
    let admin = member("adm", &["admin"]);
    let analyst = member("ana", &["analyst"]);
    let deployer = member("dep", &["deployer"]);

    // Changes take an admin; each refusal is on the trail.
    let tags = format!("/api/devices/{}/tags", tagged.device);
    let refused = analyst.post(&tags, &json!({ "tag": "lab" }));
    assert_eq!(refused.status, 403, "{refused:?}");
    let refused = deployer.post("/api/groups", &json!({ "name": "office" }));
    assert_eq!(refused.status, 403, "{refused:?}");
    let invalid = admin.post(&tags, &json!({ "tag": "Lab Floor" }));
    assert_eq!(invalid.status, 422, "{invalid:?}");

    let added = admin.post(&tags, &json!({ "tag": "lab" }));
    assert_eq!(added.status, 200, "{added:?}");
    assert_eq!(added.body["changed"], true);
    let created = admin.post("/api/groups", &json!({ "name": "office" }));
    assert_eq!(created.status, 200, "{created:?}");
    let window =
        json!({ "start": "22:00", "length": "2h", "days": "mon-fri", "zone": "Europe/Berlin" });
    let set = admin.request("PUT", "/api/groups/office/window", Some(&window));
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.body["window"]["days"], "mon,tue,wed,thu,fri", "{set:?}");
    let unknown = json!({ "start": "22:00", "length": "2h", "zone": "Europe/Atlantis" });
    let bad = admin.request("PUT", "/api/groups/office/window", Some(&unknown));
    assert_eq!(bad.status, 422, "{bad:?}");
    let joined = admin.post(
        "/api/groups/office/members",
        &json!({ "device": grouped.device }),
    );
    assert_eq!(joined.status, 200, "{joined:?}");
    let listed = analyst.get("/api/groups");
    assert_eq!(listed.status, 200, "any role reads groups: {listed:?}");
    assert_eq!(listed.body[0]["devices"][0], grouped.device.as_str());

    let trail = |device: &str| -> Vec<(String, String)> {
        let reply = admin.get(&format!("/api/audit?device={device}"));
        reply
            .body
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| {
                let field = |name: &str| e[name].as_str().unwrap_or_default().to_owned();
                (field("action"), field("outcome"))
            })
            .collect()
    };
    let on_tagged = trail(&tagged.device);
    assert!(
        on_tagged.contains(&("devices.manage".into(), "refused".into())),
        "{on_tagged:?}"
    );
    assert!(
        on_tagged.contains(&("device.tag".into(), "ok".into())),
        "{on_tagged:?}"
    );
    assert!(
        trail(&grouped.device).contains(&("group.add".into(), "ok".into())),
        "the membership is on the trail"
    );

    // Deployments name them; each resolves to its devices when it is made.
    let ticket_number = number.parse::<i64>().expect("number");
    let by_tag = deployer.post(
        "/api/deployments",
        &json!({ "ticket": ticket_number, "package": "hello@1.0.0", "tags": ["lab"] }),
    );
    assert_eq!(by_tag.status, 200, "{by_tag:?}");
    let devices = by_tag.body["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 1, "{by_tag:?}");
    assert_eq!(devices[0]["device"], tagged.device.as_str());
    let by_group = deployer.post(
        "/api/deployments",
        &json!({ "ticket": ticket_number, "package": "hello@1.0.0", "groups": ["office"], "window": "group" }),
    );
    assert_eq!(by_group.status, 200, "{by_group:?}");
    assert_eq!(by_group.body["group_windows"], true);
    assert_eq!(
        by_group.body["devices"][0]["device"],
        grouped.device.as_str()
    );
    let missing = deployer.post(
        "/api/deployments",
        &json!({ "ticket": ticket_number, "package": "hello@1.0.0", "groups": ["attic"] }),
    );
    assert_eq!(missing.status, 404, "{missing:?}");
}
