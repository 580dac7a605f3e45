//! Credential resets end to end (issue 7): a real console and agent on loopback, an analyst
//! on a ticket through the JSON API, and real local accounts made with `useradd`. The tests
//! check what an administrator would: the shadow hash, `chage -l`, `passwd -S`, `faillock`,
//! the ticket's audit trail, and that the temporary password is nowhere but in the one reply.

#[path = "credentials/accounts.rs"]
mod accounts;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use accounts::LocalUser;
use hotline_tests::agent::Agent;
use hotline_tests::api::{Api, Reply};
use hotline_tests::console::Console;
use serde_json::{Value, json};

const SOON: Duration = Duration::from_secs(20);
const PASSWORD: &str = "correct horse battery staple";
const OLD_PASSWORD: &str = "Old-Password-4711";

/// The tests change /etc/passwd and /etc/shadow, which `useradd` and `chpasswd` lock; one at
/// a time keeps them from failing on each other's locks.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A console and an agent at trace level, an analyst, and an open ticket naming the device.
struct Desk {
    console: Console,
    agent: Agent,
    analyst: Api,
    ticket: i64,
}

fn desk() -> Desk {
    let mut console = Console::init();
    console.log_filter = "trace".to_owned();
    console.start();
    let mut agent = Agent::enroll(&console.enroll_token(&[])).expect("enrolls");
    agent.log_filter = "trace".to_owned();
    agent.start();
    console.wait_status(&agent.device, "online", SOON);
    let analyst = member(&console, "sam", &["analyst"]);
    let ticket = open_ticket(&analyst, &agent.device);
    Desk {
        console,
        agent,
        analyst,
        ticket,
    }
}

fn member(console: &Console, username: &str, roles: &[&str]) -> Api {
    let one_time = console.add_account(username, username, roles);
    Api::first_login(console, username, &one_time, PASSWORD)
}

fn open_ticket(analyst: &Api, device: &str) -> i64 {
    let ticket = json!({
        "title": "Forgot password",
        "caller": { "name": "Jo", "contact": "ext 4411" },
        "devices": [device],
    });
    let reply = analyst.post("/api/tickets", &ticket);
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.body["number"].as_i64().expect("ticket number")
}

impl Desk {
    fn reset(&self, account: &str, options: Value) -> Reply {
        let mut body = json!({ "ticket": self.ticket, "account": account });
        if let (Some(body), Value::Object(options)) = (body.as_object_mut(), options) {
            body.extend(options);
        }
        self.analyst
            .post(&format!("/api/devices/{}/reset", self.agent.device), &body)
    }

    /// The ticket's audit entries, oldest first, once the device's entries have arrived.
    fn audit_until(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        hotline_tests::wait_for(what, SOON, || {
            let reply = self
                .analyst
                .get(&format!("/api/audit?ticket={}&limit=1000", self.ticket));
            let entries = reply.body.as_array()?.clone();
            done(&entries).then_some(entries)
        })
    }
}

fn temporary_password(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["temporary_password"]
        .as_str()
        .expect("a temporary password")
        .to_owned()
}

/// Every file under `dir`, read whole.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("readable directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path.display().to_string(), bytes));
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Collects the command lines and environments of every process on the machine, over and
/// over, while a reset runs: the tools the agent starts live for milliseconds, so this
/// catches most of them, and whatever it catches must not hold the password.
struct ProcessSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(String, Vec<u8>)>>,
}

impl ProcessSampler {
    fn start() -> ProcessSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = std::collections::HashSet::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
                    let pid = entry.file_name().to_string_lossy().into_owned();
                    if !pid.bytes().all(|b| b.is_ascii_digit()) {
                        continue;
                    }
                    for part in ["cmdline", "environ"] {
                        if let Ok(bytes) = std::fs::read(entry.path().join(part)) {
                            seen.insert((pid.clone(), bytes));
                        }
                    }
                }
            }
            seen.into_iter().collect()
        });
        ProcessSampler { stop, thread }
    }

    fn stop(self) -> Vec<(String, Vec<u8>)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("sampler ends")
    }
}

/// The password is in no log (both at trace level), no file of the console's data
/// directory (the database and its WAL included) or the agent's state, and no audit export.
fn assert_nowhere(desk: &Desk, secret: &str) {
    let mut sinks = vec![
        ("console log".to_owned(), desk.console.log().into_bytes()),
        ("agent log".to_owned(), desk.agent.log().into_bytes()),
    ];
    sinks.extend(files_under(&desk.console.data()));
    sinks.extend(files_under(&desk.agent.state()));
    let ticket = desk.ticket.to_string();
    let export = desk
        .console
        .cli_ok(&["audit", "export", "--ticket", &ticket, "--json"]);
    sinks.push(("audit export".to_owned(), export.into_bytes()));
    let api_export = desk
        .analyst
        .get(&format!("/api/tickets/{ticket}/export.json"));
    sinks.push((
        "API export".to_owned(),
        api_export.body.to_string().into_bytes(),
    ));
    assert!(sinks.len() > 6, "too few sinks scanned: {}", sinks.len());
    for (name, bytes) in &sinks {
        assert!(
            !contains(bytes, secret),
            "the temporary password is in {name}"
        );
    }
    for (name, log) in [("agent", desk.agent.log()), ("console", desk.console.log())] {
        assert!(
            log.contains("TRACE"),
            "the {name} log is not at trace level"
        );
    }
    assert!(
        desk.agent.log().contains("credential reset done"),
        "the agent log is not the one the reset ran under"
    );
}

/// Restarts the agent with `policy` as its credential policy file.
fn restart_with_policy(desk: &mut Desk, policy: &Value) {
    desk.agent.stop();
    desk.console
        .wait_status(&desk.agent.device, "offline", SOON);
    let path = desk.agent.state().join("credentials.json");
    std::fs::write(path, policy.to_string()).expect("policy written");
    desk.agent.start();
    desk.console.wait_status(&desk.agent.device, "online", SOON);
}

#[test]
fn a_reset_sets_a_temporary_password_that_must_be_changed_and_leaks_nowhere() {
    let _serial = one_at_a_time();
    let desk = desk();
    let user = LocalUser::create(OLD_PASSWORD);
    assert!(user.password_verifies(OLD_PASSWORD));

    // The analyst sees the account among the device's human accounts, and no system one.
    let listed = desk.analyst.get(&format!(
        "/api/devices/{}/accounts?ticket={}",
        desk.agent.device, desk.ticket
    ));
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.header("cache-control"), Some("no-store"));
    let names: Vec<&str> = listed.body["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .filter_map(|account| account["name"].as_str())
        .collect();
    assert!(names.contains(&user.name.as_str()), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| ["root", "daemon", "nobody"].contains(n)),
        "{names:?}"
    );

    let sampler = ProcessSampler::start();
    let reply = desk.reset(&user.name, json!({}));
    let processes = sampler.stop();
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let password = temporary_password(&reply);
    for (pid, bytes) in &processes {
        assert!(
            !contains(bytes, &password),
            "the temporary password is in the arguments or environment of process {pid}"
        );
    }
    assert_eq!(password.len(), 16, "default length");
    assert!(
        !password.contains(['0', 'O', 'o', '1', 'l', 'I', 'i']),
        "{password}"
    );
    assert!(
        user.password_verifies(&password),
        "new password does not verify"
    );
    assert!(
        !user.password_verifies(OLD_PASSWORD),
        "old password still verifies"
    );
    assert!(user.must_change(), "change at next login not set");
    assert_eq!(reply.body["must_change"], true);

    // A longer password when asked; never shorter than 15.
    let longer = temporary_password(&desk.reset(&user.name, json!({ "length": 24 })));
    assert_eq!(longer.len(), 24);
    let short = temporary_password(&desk.reset(&user.name, json!({ "length": 8 })));
    assert_eq!(short.len(), 15);
    assert!(user.password_verifies(&short));

    // The ticket says which account, by whom, with which options, and the outcome: from the
    // console and, forwarded, from the device.
    let entries = desk.audit_until("the device's reset entries", |entries| {
        entries
            .iter()
            .filter(|e| {
                e["action"] == "credential.reset"
                    && e["actor"]
                        .as_str()
                        .is_some_and(|a| a.starts_with("device:"))
            })
            .count()
            >= 3
    });
    let console_entry = entries
        .iter()
        .find(|e| e["action"] == "credential.reset" && e["actor"] == "analyst:sam")
        .expect("the console's entry");
    assert_eq!(console_entry["outcome"], "ok");
    assert_eq!(console_entry["device"], desk.agent.device.as_str());
    assert_eq!(console_entry["params"]["account"], user.name.as_str());
    assert_eq!(console_entry["params"]["require_change"], true);
    assert_eq!(console_entry["params"]["unlock"], false);
    let device_entry = entries
        .iter()
        .find(|e| e["action"] == "credential.reset" && e["actor"] != "analyst:sam")
        .expect("the device's entry");
    assert_eq!(device_entry["params"]["analyst"], "sam");
    assert_eq!(device_entry["outcome"], "ok");

    for secret in [&password, &longer, &short] {
        assert_nowhere(&desk, secret);
    }
}

#[test]
fn a_locked_account_becomes_usable_only_when_unlock_was_asked() {
    let _serial = one_at_a_time();
    let desk = desk();
    let user = LocalUser::create(OLD_PASSWORD);
    user.lock();
    user.add_failed_logins(3);
    assert!(user.locked());
    assert_eq!(user.failed_logins(), 3);

    // A reset without unlock: the new password is set, but the lock and the failures stay.
    let reply = desk.reset(&user.name, json!({ "unlock": false }));
    let password = temporary_password(&reply);
    assert!(
        user.locked(),
        "a reset unlocked the account without being asked"
    );
    assert_eq!(reply.body["locked"], true);
    assert!(
        !user.password_verifies(&password),
        "a locked account accepted the password"
    );
    assert_eq!(user.failed_logins(), 3);

    // With unlock: usable with a new password, failures cleared.
    let reply = desk.reset(&user.name, json!({ "unlock": true }));
    let password = temporary_password(&reply);
    assert!(!user.locked());
    assert!(user.password_verifies(&password));
    assert_eq!(user.failed_logins(), 0);
    assert_eq!(reply.body["cleared_failures"], 3);
    assert_eq!(reply.body["locked"], false);

    // Unlock alone, with no new password, keeps the password the caller was told.
    user.lock();
    user.add_failed_logins(2);
    let reply = desk.reset(
        &user.name,
        json!({ "new_password": false, "unlock": true, "require_change": false }),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["temporary_password"], Value::Null);
    assert!(!user.locked());
    assert!(user.password_verifies(&password));
    assert_eq!(user.failed_logins(), 0);
}

#[test]
fn every_refusal_says_why_and_is_on_the_ticket() {
    let _serial = one_at_a_time();
    let desk = desk();
    let user = LocalUser::create(OLD_PASSWORD);

    // Refused by the device: its reason reaches the analyst and the trail.
    let device_refusals = [
        ("nobody-here-4711", "no local account nobody-here-4711"),
        ("root", "superuser"),
        ("daemon", "system account"),
        ("bin", "system account"),
        ("alice:0:0", "contains ':' or a line break"),
        ("alice\nroot", "contains ':' or a line break"),
    ];
    for (account, expected) in device_refusals {
        let reply = desk.reset(account, json!({}));
        assert_eq!(reply.status, 422, "{account:?}: {reply:?}");
        assert!(
            reply.error().contains(expected),
            "{account:?}: {}",
            reply.error()
        );
    }
    assert!(
        user.password_verifies(OLD_PASSWORD),
        "a refusal changed a password"
    );
    let entries = desk.audit_until("the device's refusals", |entries| {
        entries
            .iter()
            .filter(|e| {
                e["action"] == "credential.reset"
                    && e["outcome"] == "refused"
                    && e["actor"]
                        .as_str()
                        .is_some_and(|a| a.starts_with("device:"))
            })
            .count()
            >= device_refusals.len()
    });
    for (_, expected) in device_refusals {
        let recorded = entries.iter().filter(|e| {
            e["action"] == "credential.reset"
                && e["reason"].as_str().is_some_and(|r| r.contains(expected))
        });
        // The console records the device's answer and the device its own decision.
        assert!(recorded.count() >= 2, "{expected} not recorded twice");
    }

    // Refused by the console: a viewer, and an analyst whose ticket does not name the device
    // or is closed. Nothing reaches the device.
    let viewer = member(&desk.console, "vic", &["viewer"]);
    let body = json!({ "ticket": desk.ticket, "account": user.name });
    let path = format!("/api/devices/{}/reset", desk.agent.device);
    let reply = viewer.post(&path, &body);
    assert_eq!(reply.status, 403);
    assert!(
        reply.error().contains("needs the analyst role"),
        "{}",
        reply.error()
    );

    let other_ticket = json!({ "title": "Other", "caller": { "name": "Al", "contact": "ext 1" } });
    let other = desk.analyst.post("/api/tickets", &other_ticket).body["number"].as_i64();
    let body = json!({ "ticket": other, "account": user.name });
    let reply = desk.analyst.post(&path, &body);
    assert_eq!(reply.status, 403);
    assert!(
        reply.error().contains("does not name device"),
        "{}",
        reply.error()
    );

    let closed = desk
        .analyst
        .post(&format!("/api/tickets/{}/close", desk.ticket), &json!({}));
    assert_eq!(closed.status, 200, "{closed:?}");
    let reply = desk.reset(&user.name, json!({}));
    assert_eq!(reply.status, 403);
    assert!(reply.error().contains("not open"), "{}", reply.error());
    assert!(user.password_verifies(OLD_PASSWORD));

    let everything = desk.analyst.get("/api/audit?limit=1000").body;
    let refused: Vec<&str> = everything
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            e["action"] == "credential.reset" && e["actor"] != "analyst:sam"
                || e["outcome"] == "refused"
        })
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for expected in ["needs the analyst role", "does not name device", "not open"] {
        assert!(
            refused.iter().any(|reason| reason.contains(expected)),
            "{expected} not on the trail: {refused:?}"
        );
    }
}

#[test]
fn the_device_policy_decides_on_system_accounts_and_consent() {
    let _serial = one_at_a_time();
    let mut desk = desk();
    let service = LocalUser::create_system(OLD_PASSWORD);

    let reply = desk.reset(&service.name, json!({}));
    assert_eq!(reply.status, 422, "{reply:?}");
    assert!(
        reply.error().contains("system account"),
        "{}",
        reply.error()
    );

    // Consent always asked: this agent has no prompt to ask with, so the reset is refused
    // and says why, rather than going ahead unasked.
    restart_with_policy(
        &mut desk,
        &json!({ "allow_system_accounts": true, "consent": "always" }),
    );
    let reply = desk.reset(&service.name, json!({}));
    assert_eq!(reply.status, 422, "{reply:?}");
    assert!(
        reply.error().contains("consent is required"),
        "{}",
        reply.error()
    );
    assert!(service.password_verifies(OLD_PASSWORD));

    restart_with_policy(
        &mut desk,
        &json!({ "allow_system_accounts": true, "consent": "never" }),
    );
    let password = temporary_password(&desk.reset(&service.name, json!({})));
    assert!(service.password_verifies(&password));

    // Root stays refused whatever the policy says.
    let reply = desk.reset("root", json!({}));
    assert_eq!(reply.status, 422, "{reply:?}");
    assert!(reply.error().contains("superuser"), "{}", reply.error());
}

/// `hotline-console credential …` as the analyst whose API token is in `HOTLINE_TOKEN`.
fn cli_as(desk: &Desk, token: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(hotline_tests::bin_dir().join("hotline-console"))
        .arg("--data")
        .arg(desk.console.data())
        .arg("credential")
        .args(args)
        .env("HOTLINE_TOKEN", token)
        .output()
        .expect("console CLI runs")
}

#[test]
fn the_cli_resets_through_the_running_console_with_an_api_token() {
    let _serial = one_at_a_time();
    let desk = desk();
    let user = LocalUser::create(OLD_PASSWORD);
    let created = desk.analyst.post(
        "/api/tokens",
        &json!({ "name": "shell", "roles": ["analyst"] }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let token = created.body["token"].as_str().expect("token").to_owned();
    let ticket = desk.ticket.to_string();

    let listed = cli_as(
        &desk,
        &token,
        &["accounts", &desk.agent.device, "--ticket", &ticket],
    );
    assert!(listed.status.success(), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&user.name));

    let reset = cli_as(
        &desk,
        &token,
        &["reset", &desk.agent.device, &user.name, "--ticket", &ticket],
    );
    assert!(reset.status.success(), "{reset:?}");
    let printed = String::from_utf8_lossy(&reset.stdout).into_owned();
    let password = printed
        .lines()
        .find_map(|line| line.strip_prefix("temporary password: "))
        .expect("the password line")
        .trim()
        .to_owned();
    assert!(user.password_verifies(&password));
    assert!(user.must_change());
    assert!(
        printed.contains("must change at next login: yes"),
        "{printed}"
    );

    let refused = cli_as(
        &desk,
        &token,
        &["reset", &desk.agent.device, "root", "--ticket", &ticket],
    );
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains("superuser"), "{error}");
    assert_nowhere(&desk, &password);
}
