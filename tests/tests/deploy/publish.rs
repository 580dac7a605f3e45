//! Publishing over the console's HTTPS API: `package publish --console` from a machine
//! without the console's data directory, with a deployer's API token; what it publishes a
//! device then installs, stored once. A role that may not publish, a tampered package, a
//! file over the size limit and a file name that is not a plain name are refused, on the
//! audit trail, and publish nothing; a browser session uploads only from the console's
//! origin.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use hotline_tests::api::Api;
use hotline_tests::console::Console;
use serde_json::{Value, json};

use super::fixture::{Publisher, agents, console, deploy, noise, package, ticket, wait_deployment};

const PASSWORD: &str = "correct horse battery staple 42";

/// An API client of `console` as a new account holding `roles`, and a file holding an API
/// token of that account for those roles.
fn member(console: &Console, name: &str, roles: &[&str], dir: &Path) -> (Api, PathBuf) {
    let one_time = console.add_account(name, name, roles);
    let api = Api::first_login(console, name, &one_time, PASSWORD);
    let created = api.post("/api/tokens", &json!({ "name": "publish", "roles": roles }));
    assert_eq!(created.status, 201, "{created:?}");
    let token = created.body["token"].as_str().expect("token");
    let file = dir.join(format!("{name}.token"));
    std::fs::write(&file, token).expect("token file");
    (api, file)
}

/// `package publish --console` from an empty data directory, as on a publisher's machine.
fn publish_remotely(console: &Console, repo: &Path, token_file: &Path, elsewhere: &Path) -> Output {
    let url = format!(
        "https://localhost:{}",
        console.https.expect("console started").port()
    );
    Command::new(hotline_tests::bin_dir().join("hotline-console"))
        .arg("--data")
        .arg(elsewhere)
        .args(["package", "publish", "--repo"])
        .arg(repo)
        .args(["--console", &url, "--token-file"])
        .arg(token_file)
        .arg("--ca-cert")
        .arg(console.ca_cert())
        .output()
        .expect("console CLI runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The audit entries for publishing.
fn publish_entries(api: &Api) -> Vec<Value> {
    let listed = api.get("/api/audit?limit=1000");
    assert_eq!(listed.status, 200, "{listed:?}");
    listed
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["action"] == "package.publish")
        .cloned()
        .collect()
}

fn staging_is_empty(console: &Console) -> bool {
    std::fs::read_dir(console.data().join("repository").join("staging"))
        .map(|mut entries| entries.next().is_none())
        .unwrap_or(true)
}

#[test]
fn a_deployer_publishes_over_https_and_a_device_installs_the_package_stored_once() {
    let publisher = Publisher::new();
    publisher.publish(&[(
        "hello-1.0.0.hpkg",
        package("hello", "1.0.0", b"uploaded\n", "true"),
    )]);
    let console = console("");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (api, token) = member(&console, "pub", &["deployer"], scratch.path());

    let out = publish_remotely(&console, &publisher.repo_dir(), &token, scratch.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("published 1 target(s) (0 already stored) and 4 metadata file(s)"),
        "{printed}"
    );
    assert!(printed.contains("hello-1.0.0.hpkg"), "{printed}");
    let packages = api.get("/api/packages");
    assert!(packages.body.to_string().contains("hello"), "{packages:?}");

    // The same bytes again are stored once.
    let again = publish_remotely(&console, &publisher.repo_dir(), &token, scratch.path());
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("(1 already stored)"),
        "{}",
        text(&again.stdout)
    );
    let blobs = std::fs::read_dir(console.data().join("repository").join("blobs"))
        .expect("blobs")
        .count();
    assert_eq!(blobs, 1);
    assert!(staging_is_empty(&console));
    let published = publish_entries(&api);
    assert_eq!(
        published.iter().filter(|e| e["outcome"] == "ok").count(),
        2,
        "{published:?}"
    );

    let agents = agents(&console, &publisher, 1);
    let number = ticket(&console, &[&agents[0]]);
    let id = deploy(&console, &number, "hello@1.0.0", &[&agents[0]], &[]);
    wait_deployment(&console, &id, "finished", Duration::from_secs(60));
    let installed = std::fs::read(agents[0].install_root().join("hello.txt")).expect("installed");
    assert_eq!(installed, b"uploaded\n");
}

#[test]
fn a_role_that_may_not_publish_is_refused_and_the_refusal_is_audited() {
    let publisher = Publisher::new();
    publisher.publish(&[(
        "hello-1.0.0.hpkg",
        package("hello", "1.0.0", b"no\n", "true"),
    )]);
    let console = console("");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (admin, token) = member(&console, "boss", &["admin", "analyst"], scratch.path());

    let out = publish_remotely(&console, &publisher.repo_dir(), &token, scratch.path());
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(said.contains("403") && said.contains("deployer"), "{said}");

    let mut script = Api::new(&console);
    script.bearer = Some(std::fs::read_to_string(&token).expect("token"));
    let refused = script.post("/api/repository/uploads", &json!({}));
    assert_eq!(refused.status, 403, "{refused:?}");

    let refusals: Vec<_> = publish_entries(&admin)
        .into_iter()
        .filter(|e| e["outcome"] == "refused")
        .collect();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(
        refusals.iter().all(|e| e["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("deployer")),
        "{refusals:?}"
    );
    let packages = admin.get("/api/packages");
    assert_eq!(packages.body, json!([]), "{packages:?}");
}

#[test]
fn a_tampered_package_is_refused_with_the_reason_and_nothing_of_it_is_published() {
    let publisher = Publisher::new();
    publisher.publish(&[(
        "hello-1.0.0.hpkg",
        package("hello", "1.0.0", b"first\n", "true"),
    )]);
    let console = console("");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (api, token) = member(&console, "pub", &["deployer"], scratch.path());
    let out = publish_remotely(&console, &publisher.repo_dir(), &token, scratch.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = api.get("/api/packages").body;

    // Version 2 is signed, then its bytes are changed (same length) after signing.
    publisher.publish(&[(
        "hello-2.0.0.hpkg",
        package("hello", "2.0.0", b"second\n", "true"),
    )]);
    let path = publisher
        .repo_dir()
        .join("targets")
        .join("hello-2.0.0.hpkg");
    let mut bytes = std::fs::read(&path).expect("package");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).expect("tampered");

    let out = publish_remotely(&console, &publisher.repo_dir(), &token, scratch.path());
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(
        said.contains("nothing published") && said.contains("SHA-256"),
        "{said}"
    );
    assert_eq!(api.get("/api/packages").body, before);
    assert!(staging_is_empty(&console));
    let refusal = publish_entries(&api)
        .into_iter()
        .rfind(|e| e["outcome"] == "refused")
        .expect("a refusal on the audit trail");
    assert!(
        refusal["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("hello-2.0.0.hpkg does not have the SHA-256"),
        "{refusal}"
    );
    // The console still serves the metadata of the first publish, not the second's.
    let metadata = console.cli_ok(&["package", "list", "--json"]);
    assert!(!metadata.contains("hello-2.0.0"), "{metadata}");
}

#[test]
fn a_file_name_that_is_not_a_plain_name_is_refused() {
    let console = console("");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (_, token) = member(&console, "pub", &["deployer"], scratch.path());
    let mut script = Api::new(&console);
    script.bearer = Some(std::fs::read_to_string(&token).expect("token"));
    let begun = script.post("/api/repository/uploads", &json!({}));
    assert_eq!(begun.status, 201, "{begun:?}");
    let id = begun.body["id"].as_str().expect("id").to_owned();

    for name in ["..", "..%2F..%2Fconsole.toml", "a%2Fb.hpkg", ".hidden"] {
        let path = format!("/api/repository/uploads/{id}/targets/{name}");
        let refused = script.request("PUT", &path, Some(&json!("bytes")));
        assert_eq!(refused.status, 422, "{name}: {refused:?}");
        assert!(refused.error().contains("plain file name"), "{refused:?}");
    }
    let path = format!("/api/repository/uploads/{id}/metadata/hello.hpkg");
    let refused = script.request("PUT", &path, Some(&json!("bytes")));
    assert_eq!(refused.status, 422, "{refused:?}");
    assert!(
        refused.error().contains("not a metadata file"),
        "{refused:?}"
    );

    let refusals: Vec<_> = publish_entries(&script)
        .into_iter()
        .filter(|e| e["outcome"] == "refused")
        .collect();
    assert_eq!(refusals.len(), 5, "{refusals:?}");
    // The first refusal closed the upload and removed what it staged.
    assert!(staging_is_empty(&console));
    let path = format!("/api/repository/uploads/{id}/targets/hello-1.0.0.hpkg");
    let closed = script.request("PUT", &path, Some(&json!("bytes")));
    assert_eq!(closed.status, 404, "{closed:?}");
}

#[test]
fn a_file_over_the_upload_limit_is_refused_and_audited() {
    let publisher = Publisher::new();
    publisher.publish(&[(
        "big-1.0.0.hpkg",
        package("big", "1.0.0", &noise(3 * 1024 * 1024), "true"),
    )]);
    // The fixture's `[deploy]` lines come last in console.toml, so a table may follow them.
    let console = console("\n[repository]\nmax_upload_mib = 1");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (api, token) = member(&console, "pub", &["deployer"], scratch.path());

    let out = publish_remotely(&console, &publisher.repo_dir(), &token, scratch.path());
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(
        said.contains("413") && said.contains("max_upload_mib"),
        "{said}"
    );
    assert_eq!(api.get("/api/packages").body, json!([]));
    assert!(staging_is_empty(&console));
    let refusal = publish_entries(&api)
        .into_iter()
        .find(|e| e["outcome"] == "refused")
        .expect("a refusal on the audit trail");
    assert!(
        refusal["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("big-1.0.0.hpkg is larger than the 1 MiB"),
        "{refusal}"
    );
}

#[test]
fn a_browser_session_uploads_only_as_octet_stream_from_the_consoles_origin() {
    let console = console("");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (mut session, _) = member(&console, "pub", &["deployer"], scratch.path());
    let begun = session.post("/api/repository/uploads", &json!({}));
    assert_eq!(begun.status, 201, "{begun:?}");
    let id = begun.body["id"].as_str().expect("id").to_owned();
    let path = format!("/api/repository/uploads/{id}/metadata/1.root.json");

    // A type a cross-origin form may send without a preflight is refused.
    session.extra = vec![("content-type".into(), "text/plain".into())];
    let refused = session.request("PUT", &path, Some(&json!("root")));
    assert_eq!(refused.status, 403, "{refused:?}");

    // The client sends the console's address as `Host`; its own origin is that address.
    let origin = format!("https://{}", console.https.expect("started"));
    session.extra = vec![
        ("content-type".into(), "application/octet-stream".into()),
        ("origin".into(), "https://evil.example".into()),
    ];
    let refused = session.request("PUT", &path, Some(&json!("root")));
    assert_eq!(refused.status, 403, "{refused:?}");

    session.extra = vec![
        ("content-type".into(), "application/octet-stream".into()),
        ("origin".into(), origin),
    ];
    let stored = session.request("PUT", &path, Some(&json!("root")));
    assert_eq!(stored.status, 200, "{stored:?}");
    assert_eq!(stored.body["bytes"], 6, "{stored:?}");
}
