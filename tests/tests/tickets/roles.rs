//! Roles through the JSON API: the role × action matrix with every refusal on the audit
//! trail, API tokens that cannot outgrow their creator (SimpleHelp CVE-2024-57726), the
//! first-login password change, login rate limiting and the CSRF rule.

use hotline_tests::api::{Api, Reply};
use hotline_tests::console::Console;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

fn started() -> Console {
    let mut console = Console::init();
    console.start();
    console
}

/// An account holding `roles`, logged in with its own password.
fn member(console: &Console, username: &str, roles: &[&str]) -> Api {
    let one_time = console.add_account(username, username, roles);
    Api::first_login(console, username, &one_time, PASSWORD)
}

fn new_ticket() -> Value {
    json!({ "title": "Printer jams", "caller": { "name": "Jo", "contact": "ext 4411" }, "priority": 2 })
}

/// Audit entries as an admin reads them.
fn audit(admin: &Api) -> Vec<Value> {
    let reply = admin.get("/api/audit?limit=1000");
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body.as_array().expect("entries").clone()
}

type Call = fn(&Api, i64, &str) -> Reply;

/// (what, audit action, call, role allowed or None for every role, success status)
const MATRIX: &[(&str, &str, Call, Option<&str>, u16)] = &[
    (
        "list tickets",
        "tickets.view",
        |api, _, _| api.get("/api/tickets?status=new"),
        None,
        200,
    ),
    (
        "show ticket",
        "tickets.view",
        |api, n, _| api.get(&format!("/api/tickets/{n}")),
        None,
        200,
    ),
    (
        "list devices",
        "devices.view",
        |api, _, _| api.get("/api/devices"),
        None,
        200,
    ),
    (
        "read audit",
        "tickets.view",
        |api, n, _| api.get(&format!("/api/audit?ticket={n}")),
        None,
        200,
    ),
    (
        "list accounts",
        "tickets.view",
        |api, _, _| api.get("/api/analysts"),
        None,
        200,
    ),
    (
        "open ticket",
        "ticket.edit",
        |api, _, _| api.post("/api/tickets", &new_ticket()),
        Some("analyst"),
        201,
    ),
    (
        "change ticket",
        "ticket.edit",
        |api, n, _| {
            api.patch(
                &format!("/api/tickets/{n}"),
                &json!({ "status": "waiting", "external_ref": "GLPI-1" }),
            )
        },
        Some("analyst"),
        200,
    ),
    (
        "note ticket",
        "ticket.note",
        |api, n, _| {
            api.post(
                &format!("/api/tickets/{n}/notes"),
                &json!({ "text": "called back" }),
            )
        },
        Some("analyst"),
        201,
    ),
    (
        "add account",
        "accounts.manage",
        |api, _, me| {
            api.post("/api/analysts", &json!({ "username": format!("new-{me}"), "display_name": "N", "roles": ["viewer"] }))
        },
        Some("admin"),
        201,
    ),
    (
        "change account",
        "accounts.manage",
        |api, _, _| api.patch("/api/analysts/the-viewer", &json!({ "roles": ["viewer"] })),
        Some("admin"),
        200,
    ),
    (
        "close ticket",
        "ticket.edit",
        |api, n, _| {
            api.post(
                &format!("/api/tickets/{n}/close"),
                &json!({ "resolution": "new toner" }),
            )
        },
        Some("analyst"),
        200,
    ),
];

#[test]
fn each_role_may_do_its_actions_and_every_refusal_is_recorded_with_its_reason() {
    let console = started();
    // The analyst goes last, so that its close is the only one and comes after the others.
    let roles = ["viewer", "deployer", "admin", "analyst"];
    let clients: Vec<(&str, Api)> = roles
        .iter()
        .map(|r| (*r, member(&console, &format!("the-{r}"), &[r])))
        .collect();
    let analyst = &clients[3].1;
    let created = analyst.post("/api/tickets", &new_ticket());
    assert_eq!(created.status, 201, "{created:?}");
    let n = created.body["number"].as_i64().expect("number");

    let mut refusals = Vec::new();
    for (role, api) in &clients {
        for (what, action, call, allowed, success) in MATRIX {
            let reply = call(api, n, role);
            if allowed.is_none_or(|a| a == *role) {
                assert_eq!(reply.status, *success, "{role} {what}: {reply:?}");
            } else {
                assert_eq!(reply.status, 403, "{role} {what}: {reply:?}");
                assert!(
                    reply.error().contains("needs the"),
                    "{role} {what}: {reply:?}"
                );
                refusals.push((
                    format!("analyst:the-{role}"),
                    *action,
                    reply.error().to_owned(),
                ));
            }
        }
    }
    assert_eq!(
        refusals.len(),
        6 * 3,
        "six analyst/admin actions refused to three roles each"
    );

    let entries = audit(&clients[2].1);
    for (actor, action, reason) in &refusals {
        assert!(
            entries.iter().any(|e| e["actor"] == *actor
                && e["action"] == *action
                && e["outcome"] == "refused"
                && e["reason"] == reason.as_str()),
            "no refusal on record for {actor} {action}: {reason}"
        );
    }
    let shown = analyst.get(&format!("/api/tickets/{n}"));
    assert_eq!(shown.body["ticket"]["status"], "closed");
    assert_eq!(shown.body["ticket"]["external_ref"], "GLPI-1");
    let kinds: Vec<&str> = shown.body["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|item| item["kind"].as_str().unwrap_or_default())
        .collect();
    assert!(
        kinds.contains(&"note") && kinds.contains(&"audit"),
        "{kinds:?}"
    );
    console.cli_ok(&["audit", "verify"]);
}

#[test]
fn an_api_token_never_holds_more_than_its_creator_and_loses_rights_with_it() {
    let console = started();
    let admin = member(&console, "boss", &["admin"]);
    let analyst = member(&console, "ana", &["analyst", "viewer"]);

    let greedy = analyst.post(
        "/api/tokens",
        &json!({ "name": "script", "roles": ["analyst", "admin"] }),
    );
    assert_eq!(greedy.status, 403, "{greedy:?}");
    assert_eq!(
        greedy.error(),
        "a token cannot hold roles its creator lacks: admin"
    );
    assert!(audit(&admin).iter().any(|e| e["action"] == "token.create"
        && e["outcome"] == "refused"
        && e["actor"] == "analyst:ana"));

    let minted = analyst.post(
        "/api/tokens",
        &json!({ "name": "script", "roles": ["analyst"], "expires_in": 3600 }),
    );
    assert_eq!(minted.status, 201, "{minted:?}");
    let mut script = Api::new(&console);
    script.bearer = Some(minted.body["token"].as_str().expect("token").to_owned());
    assert_eq!(script.post("/api/tickets", &new_ticket()).status, 201);
    // The token asked for analyst only, so it cannot do what its creator's viewer role can
    // beyond that, and it cannot mint tokens of its own.
    let nested = script.post("/api/tokens", &json!({ "name": "x", "roles": ["analyst"] }));
    assert_eq!(nested.status, 403, "{nested:?}");

    // The creator loses the analyst role: the token's rights shrink with it at once.
    let demoted = admin.patch("/api/analysts/ana", &json!({ "roles": ["viewer"] }));
    assert_eq!(demoted.status, 200, "{demoted:?}");
    let refused = script.post("/api/tickets", &new_ticket());
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.error(), "ticket.edit needs the analyst role");

    // The creator is disabled: the token stops working.
    assert_eq!(
        admin
            .patch("/api/analysts/ana", &json!({ "disabled": true }))
            .status,
        200
    );
    let gone = script.get("/api/tickets");
    assert_eq!(gone.status, 401, "{gone:?}");
}

#[test]
fn a_session_that_must_change_its_password_can_do_nothing_else() {
    let console = started();
    let one_time = console.add_account("ana", "Ana", &["analyst"]);
    let api = Api::login(&console, "ana", &one_time);

    let me = api.get("/api/me");
    assert_eq!(me.body["must_change_password"], true, "{me:?}");
    for reply in [
        api.get("/api/tickets"),
        api.post("/api/tickets", &new_ticket()),
        api.get("/api/devices"),
    ] {
        assert_eq!(reply.status, 403, "{reply:?}");
        assert!(
            reply.error().starts_with("password change required"),
            "{reply:?}"
        );
    }
    let short = api.post(
        "/api/password",
        &json!({ "current": one_time, "new": "short" }),
    );
    assert_eq!(short.status, 422, "{short:?}");
    let wrong = api.post(
        "/api/password",
        &json!({ "current": "not it at all", "new": PASSWORD }),
    );
    assert_eq!(wrong.status, 403, "{wrong:?}");
    let changed = api.post(
        "/api/password",
        &json!({ "current": one_time, "new": PASSWORD }),
    );
    assert_eq!(changed.status, 204, "{changed:?}");
    assert_eq!(api.get("/api/tickets").status, 200);

    assert_eq!(Api::new(&console).try_login("ana", &one_time).status, 401);
    assert_eq!(api.post("/api/logout", &json!({})).status, 204);
    assert_eq!(api.get("/api/me").status, 401);
}

#[test]
fn failed_logins_are_rate_limited_per_account() {
    let console = started();
    let one_time = console.add_account("ana", "Ana", &["analyst"]);
    let other = console.add_account("bob", "Bob", &["viewer"]);
    let mut api = Api::new(&console);

    let unknown = api.try_login("nobody", "whatever password");
    for _ in 0..5 {
        let reply = api.try_login("ana", "wrong password!");
        assert_eq!(reply.status, 401, "{reply:?}");
        assert_eq!(
            reply.error(),
            unknown.error(),
            "unknown user and wrong password look alike"
        );
    }
    let limited = api.try_login("ana", &one_time);
    assert_eq!(limited.status, 429, "{limited:?}");
    assert!(
        limited.error().contains("too many failed logins"),
        "{limited:?}"
    );
    // Another account from the same address is not locked out by ana's failures.
    assert_eq!(api.try_login("bob", &other).status, 200);
}

#[test]
fn cookie_writes_from_another_origin_or_without_json_are_refused() {
    let console = started();
    let mut api = member(&console, "ana", &["analyst"]);
    api.extra = vec![("origin".into(), "https://evil.example".into())];
    let foreign = api.post("/api/tickets", &new_ticket());
    assert_eq!(foreign.status, 403, "{foreign:?}");
    assert_eq!(foreign.error(), "request from another origin refused");

    api.extra = vec![(
        "origin".into(),
        format!("https://{}", console.https.expect("https")),
    )];
    assert_eq!(api.post("/api/tickets", &new_ticket()).status, 201);

    api.extra = vec![("content-type".into(), "text/plain".into())];
    let form = api.request("POST", "/api/tickets", None);
    assert_eq!(form.status, 403, "{form:?}");
}
