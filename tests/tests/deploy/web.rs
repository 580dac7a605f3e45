//! The deployment pages in a real browser (headless Chromium) over a real console and real
//! agents: a deployer starts a rollout from a change ticket's form, an API error shows beside
//! the form without losing what was entered, the deployment page follows every device to its
//! result without a reload (a failing install with its reason), and Pause, Resume and Cancel
//! steer a scheduled rollout, a refusal shown with its reason. Then the API the pages use:
//! the list, the packages, who may steer (a viewer sees no buttons), and the live socket's
//! origin and session checks.

use std::time::Duration;

use hotline_tests::agent::Agent;
use hotline_tests::api::Api;
use hotline_tests::browser::{self, Browser};
use hotline_tests::console::Console;
use serde_json::{Value, json};

use super::fixture::{Publisher, console, package, publish_repo, status, ticket};

const PASSWORD: &str = "correct horse battery staple 42";
const MINUTE: Duration = Duration::from_secs(60);
/// The install step fails where the agent runs with `HELLO_FAIL=1`.
const STEP: &str = "if [ \"${HELLO_FAIL:-0}\" = 1 ]; then echo 'no driver' >&2; exit 3; fi";

fn base(console: &Console) -> String {
    format!("https://{}", console.https.expect("console started"))
}

/// A console with `hello@1.0.0` published.
fn published() -> (Publisher, Console) {
    let publisher = Publisher::new();
    publisher.publish(&[(
        "hello-1.0.0.hpkg",
        package("hello", "1.0.0", b"web\n", STEP),
    )]);
    let console = console("");
    publish_repo(&console, &publisher);
    (publisher, console)
}

/// Enrolls and starts one agent per entry of `failing`, the `true` ones failing the install.
fn agents(console: &Console, publisher: &Publisher, failing: &[bool]) -> Vec<Agent> {
    let token = console.enroll_token(&["--uses", &failing.len().to_string()]);
    failing
        .iter()
        .map(|fails| {
            let mut agent = Agent::enroll(&token).expect("agent enrolls");
            agent.trust_root(&publisher.root_file());
            if *fails {
                agent.start_installing_with(&["HELLO_FAIL=1".to_owned()]);
            } else {
                agent.start_installing();
            }
            console.wait_status(&agent.device, "online", MINUTE);
            agent
        })
        .collect()
}

/// Waits, for up to a minute (installs take a while on a loaded machine), until `script`
/// returns a truthy value in the page.
fn wait_long(page: &Browser, what: &str, script: &str) -> Value {
    hotline_tests::wait_for(what, MINUTE, || {
        let value = page.eval(script);
        (!matches!(value, Value::Null | Value::Bool(false))).then_some(value)
    })
}

/// A script: whether the deployment page shows `device` with progress `word`.
fn shows_progress(device: &str, word: &str) -> String {
    format!(
        "const p = document.querySelector('[data-device=\"{device}\"] [data-progress]'); \
         return p !== null && p.dataset.progress === '{word}'"
    )
}

/// Sets the form control `id` to `value` as a person typing would, firing `change`.
fn set(page: &Browser, id: &str, value: &str) {
    page.eval(&format!(
        "const c = document.getElementById('{id}'); c.value = {}; \
         c.dispatchEvent(new Event('change', {{ bubbles: true }})); return true",
        serde_json::to_string(value).expect("string")
    ));
}

/// Submits the new deployment form and returns the id of the deployment page it leads to.
fn submit_form(page: &Browser) -> i64 {
    page.click("#deploy-submit");
    let id = page.wait_until(
        "the new deployment's page",
        "const m = location.pathname.match(/^\\/deployments\\/(\\d+)$/); return m && Number(m[1])",
    );
    id.as_i64().expect("deployment id")
}

fn shown_status(page: &Browser) -> String {
    page.eval(
        "const p = document.querySelector('#deployment-status [data-deployment-status]'); \
         return p && p.dataset.deploymentStatus",
    )
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

#[test]
fn a_deployer_starts_a_rollout_from_the_ticket_and_watches_each_device_report_live() {
    let (publisher, console) = published();
    let agents = agents(&console, &publisher, &[false, false, true]);
    let refs: Vec<&Agent> = agents.iter().collect();
    let number = ticket(&console, &refs);
    let stranger = Agent::enroll(&console.enroll_token(&[])).expect("agent enrolls");
    let one_time = console.add_account("ada", "Ada Admin", &["admin", "deployer"]);
    let colleague = {
        let one_time = console.add_account("bea", "Bea Analyst", &["analyst"]);
        Api::first_login(&console, "bea", &one_time, PASSWORD)
    };
    let page = browser::shared();
    page.first_sign_in(&base(&console), "ada", &one_time, PASSWORD);

    // From the ticket to its form, which ticks the ticket's devices.
    page.goto(&format!("{}/tickets/{number}", base(&console)));
    page.click("#ticket-new-deployment");
    page.wait_until(
        "the ticket's three devices ticked",
        "return document.querySelectorAll('[data-target]:checked').length === 3",
    );
    assert_eq!(
        page.eval("return document.getElementById('deploy-package').value"),
        json!("hello@1.0.0")
    );

    // The API's refusal shows beside the form, which keeps what was entered: here a device
    // the ticket does not name.
    set(&page, "deploy-threshold", "50");
    let outsider = format!("[data-target=\"{}\"]", stranger.device);
    page.click(&outsider);
    page.click("#deploy-submit");
    let error = page.wait_until(
        "the API's refusal beside the form",
        "return document.getElementById('deploy-error').textContent || null",
    );
    assert!(
        error.as_str().is_some_and(|e| e.contains("does not name")),
        "{error}"
    );
    let kept = page.eval(
        "return [location.pathname, document.getElementById('deploy-ticket').value, \
         document.getElementById('deploy-threshold').value, \
         document.querySelectorAll('[data-target]:checked').length]",
    );
    assert_eq!(kept, json!(["/deployments/new", number, "50", 4]));

    // One failure in three stays under a 50% gate, so the rollout runs to its end.
    page.click(&outsider);
    page.eval("window.__same_page = true; return true");
    let id = submit_form(&page);
    page.wait_until(
        "the deployment page to go live",
        "return document.getElementById('live-state')?.classList.contains('live')",
    );
    for agent in &agents[..2] {
        wait_long(
            &page,
            &format!("{} shown installed", agent.device),
            &shows_progress(&agent.device, "installed"),
        );
    }
    let failing = &agents[2].device;
    wait_long(
        &page,
        "the failing device shown failed",
        &shows_progress(failing, "failed"),
    );
    let reason = page.eval(&format!(
        "return document.querySelector('[data-device=\"{failing}\"] [data-reason]').textContent"
    ));
    assert!(
        reason.as_str().is_some_and(|r| r.contains("failed with")),
        "{reason}"
    );
    wait_long(
        &page,
        "the deployment shown finished",
        "const p = document.querySelector('#deployment-status [data-deployment-status]'); \
         return p && p.dataset.deploymentStatus === 'finished'",
    );
    let counts = page.eval(
        "return ['installed', 'failed', 'pending'].map((w) => \
         document.querySelector(`section.wave [data-count=\"${w}\"] strong`).textContent)",
    );
    assert_eq!(counts, json!(["2", "1", "0"]));
    assert_eq!(
        page.eval("return window.__same_page === true"),
        json!(true),
        "the page reloaded instead of following the rollout live"
    );
    assert_eq!(
        page.eval("return document.querySelectorAll('[data-steer]').length"),
        json!(0),
        "a finished deployment offers no Pause, Resume or Cancel"
    );
    for agent in &agents[..2] {
        let installed = std::fs::read(agent.install_root().join("hello.txt")).expect("installed");
        assert_eq!(installed, b"web\n");
    }
    assert_eq!(status(&console, &id.to_string())["status"], "finished");

    // A rollout scheduled an hour ahead waits; Pause, Resume and Cancel steer it.
    page.goto(&format!(
        "{}/deployments/new?ticket={number}",
        base(&console)
    ));
    page.wait_until(
        "the form with the ticket's devices",
        "return document.querySelectorAll('[data-target]:checked').length === 3",
    );
    page.click("#deploy-later");
    page.eval(
        "const d = new Date(Date.now() + 3600e3); const p = (n) => String(n).padStart(2, '0'); \
         document.getElementById('deploy-at').value = `${d.getFullYear()}-${p(d.getMonth() + 1)}-\
         ${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`; return true",
    );
    let later = submit_form(&page).to_string();
    page.wait_until(
        "the scheduled deployment active",
        "return document.querySelector('[data-steer=\"paused\"]') !== null",
    );
    page.click("[data-steer=\"paused\"]");
    page.wait_until(
        "the deployment shown paused",
        "return document.querySelector('[data-deployment-status=\"paused\"]') !== null",
    );
    assert_eq!(status(&console, &later)["status"], "paused");
    page.click("[data-steer=\"active\"]");
    page.wait_until(
        "the deployment shown active again",
        "return document.querySelector('[data-deployment-status=\"active\"]') !== null",
    );

    // Rights are decided on every click: once the ticket is someone else's, Pause is refused
    // and the page says why.
    let path = format!("/api/tickets/{number}");
    let taken = colleague.patch(&path, &json!({ "assignee": "bea" }));
    assert_eq!(taken.status, 200, "{taken:?}");
    page.click("[data-steer=\"paused\"]");
    let refusal = page.wait_until(
        "the refusal beside the buttons",
        "return document.getElementById('deployment-error').textContent || null",
    );
    assert!(
        refusal
            .as_str()
            .is_some_and(|r| r.contains("assigned to bea")),
        "{refusal}"
    );
    assert_eq!(status(&console, &later)["status"], "active");
    let released = colleague.patch(&path, &json!({ "assignee": null }));
    assert_eq!(released.status, 200, "{released:?}");

    page.click("[data-steer=\"cancelled\"]");
    page.wait_until(
        "the deployment shown cancelled",
        "return document.querySelector('[data-deployment-status=\"cancelled\"]') !== null",
    );
    let later_status = status(&console, &later);
    assert_eq!(later_status["status"], "cancelled");
    assert!(
        later_status["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .all(|d| d["attempts"] == 0),
        "a scheduled rollout sent nothing before its time: {later_status}"
    );
    assert_eq!(shown_status(&page), "cancelled");

    // The list shows both, newest first.
    page.goto(&format!("{}/deployments", base(&console)));
    let listed = page.wait_until(
        "the deployment list",
        "const rows = [...document.querySelectorAll('table.list tbody tr')]; \
         return rows.length === 2 && rows.map((r) => r.cells[0].textContent)",
    );
    assert_eq!(listed, json!([later, id.to_string()]));

    // The ticket lists its deployments.
    page.goto(&format!("{}/tickets/{number}", base(&console)));
    let on_ticket = page.wait_until(
        "the ticket's deployments",
        "const links = [...document.querySelectorAll('#ticket-deployments a')]; \
         return links.length === 2 && links.map((a) => a.getAttribute('href'))",
    );
    assert_eq!(
        on_ticket,
        json!([
            format!("/deployments/{later}"),
            format!("/deployments/{id}")
        ])
    );
}

#[test]
fn the_pages_api_lists_deployments_and_packages_says_who_may_steer_and_guards_the_live_socket() {
    let (_publisher, console) = published();
    let agent = Agent::enroll(&console.enroll_token(&[])).expect("agent enrolls");
    let number = ticket(&console, &[&agent]);
    let member = |name: &str, roles: &[&str]| {
        let one_time = console.add_account(name, name, roles);
        Api::first_login(&console, name, &one_time, PASSWORD)
    };
    let deployer = member("dep", &["deployer"]);
    let mut viewer = member("vic", &["viewer"]);

    let created = deployer.post(
        "/api/deployments",
        &json!({
            "ticket": number.parse::<i64>().expect("number"),
            "package": "hello@1.0.0",
            "devices": [agent.device],
            "canary": "50%",
            "at": "+1h",
        }),
    );
    assert_eq!(created.status, 200, "{created:?}");
    let body = &created.body;
    assert_eq!(body["may_steer"], true, "{body}");
    assert_eq!(body["waves"][0]["name"], "canary", "{body}");
    assert_eq!(body["waves"][0]["counts"]["pending"], 1, "{body}");
    assert_eq!(body["counts"]["installed"], 0, "{body}");
    assert_eq!(body["devices"][0]["progress"], "pending", "{body}");
    assert_eq!(body["gate"]["canary_percent"], 50, "{body}");
    assert!(body["schedule"]["not_before"].is_string(), "{body}");
    let id = body["id"].as_i64().expect("id");

    // A viewer sees it all but may not steer it, and asking is not a refusal on the ticket.
    let shown = viewer.get(&format!("/api/deployments/{id}"));
    assert_eq!(shown.status, 200, "{shown:?}");
    assert_eq!(shown.body["may_steer"], false);
    assert!(
        shown.body["steer_refusal"]
            .as_str()
            .is_some_and(|r| r.contains("deployer")),
        "{shown:?}"
    );
    let refusals = super::fixture::ticket_entries(&console, &number)
        .into_iter()
        .filter(|e| e["outcome"] == "refused")
        .count();
    assert_eq!(refusals, 0, "showing the page recorded a refusal");
    let list = viewer.get("/api/deployments");
    assert_eq!(list.status, 200, "{list:?}");
    assert_eq!(list.body[0]["id"], id, "{list:?}");
    assert_eq!(
        (&list.body[0]["total"], &list.body[0]["done"]),
        (&json!(1), &json!(0))
    );
    assert_eq!(list.body[0]["counts"]["pending"], 1, "{list:?}");
    assert_eq!(
        viewer
            .get(&format!("/api/deployments?ticket={number}"))
            .body[0]["id"],
        id
    );
    assert_eq!(viewer.get("/api/deployments?ticket=99999").body, json!([]));
    let packages = viewer.get("/api/packages");
    assert_eq!(
        packages.body,
        json!([{
            "package": "hello@1.0.0", "name": "hello", "version": "1.0.0",
            "target": "hello-1.0.0.hpkg",
            "length": packages.body[0]["length"], "sha256": packages.body[0]["sha256"],
        }])
    );

    // The pages carry the console's security headers: scripts only from the console.
    let shell = viewer.get(&format!("/deployments/{id}"));
    assert_eq!(shell.status, 200, "{shell:?}");
    let policy = shell.header("content-security-policy").unwrap_or_default();
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
        "{policy}"
    );
    assert_eq!(shell.header("x-frame-options"), Some("DENY"));

    // In the browser, a viewer sees the deployment but no Pause or Cancel, and why.
    let one_time = console.add_account("val", "Val Viewer", &["viewer"]);
    let page = browser::shared();
    page.first_sign_in(&base(&console), "val", &one_time, PASSWORD);
    page.goto(&format!("{}/deployments/{id}", base(&console)));
    page.find("#deployment-facts");
    let hint = page.wait_until(
        "the reason the viewer cannot steer",
        "return document.getElementById('deployment-actions').textContent || null",
    );
    assert!(
        hint.as_str().is_some_and(|h| h.contains("deployer")),
        "{hint}"
    );
    assert_eq!(
        page.eval("return document.querySelectorAll('[data-steer]').length"),
        json!(0)
    );
    drop(page);

    // The live socket: the console's own origin upgrades; another origin, none, or a
    // deployment that does not exist do not.
    let path = format!("/api/deployments/{id}/live");
    for (name, value) in [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ] {
        viewer.extra.push((name.to_owned(), value.to_owned()));
    }
    viewer.extra.push(("Origin".into(), base(&console)));
    assert_eq!(viewer.get(&path).status, 101);
    assert_eq!(viewer.get("/api/deployments/99999/live").status, 404);
    viewer.extra.pop();
    viewer
        .extra
        .push(("Origin".into(), "https://evil.example".into()));
    let refused = viewer.get(&path);
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.error().contains("origin"), "{refused:?}");
    viewer.extra.pop();
    assert_eq!(viewer.get(&path).status, 403);
}
