//! What every deployment test needs: a publisher with its keys and repository, packages made
//! the way `hotline-pkg build` makes them, a console with that repository published, and
//! enrolled agents that pinned the publisher's root.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use hotline_packages::archive::build_in_memory;
use hotline_packages::manifest::{
    Arch, Detection, FORMAT_VERSION, Manifest, Os, Requirements, ReturnCodes, Shell, Step,
};
use hotline_packages::publish::{Lifetimes, Repository, RoleSigners, new_root};
use hotline_packages::trust::{RoleName, SigningKey, envelope_bytes, sign};
use hotline_packages::{Limits, PackageName, PackagePath};
use hotline_tests::agent::Agent;
use hotline_tests::console::Console;
use hotline_tests::wait_for;
use serde_json::Value;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A publisher: one key per role and a repository on disk.
pub(crate) struct Publisher {
    keys: [SigningKey; 4],
    pub(crate) dir: tempfile::TempDir,
}

impl Publisher {
    pub(crate) fn new() -> Publisher {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = [11u8, 12, 13, 14].map(|seed| SigningKey::from_seed(&[seed; 32]));
        let roles = BTreeMap::from([
            (RoleName::Root, (vec![keys[0].public()], 1)),
            (RoleName::Targets, (vec![keys[1].public()], 1)),
            (RoleName::Snapshot, (vec![keys[2].public()], 1)),
            (RoleName::Timestamp, (vec![keys[3].public()], 1)),
        ]);
        let root = new_root(1, SystemTime::now() + 365 * DAY, &roles);
        let envelope = sign(&root, &[&keys[0]]).expect("root signs");
        let publisher = Publisher { keys, dir };
        publisher
            .repo()
            .write_root(&envelope)
            .expect("root written");
        std::fs::write(publisher.root_file(), envelope_bytes(&envelope)).expect("root copy");
        publisher
    }

    pub(crate) fn repo_dir(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn repo(&self) -> Repository {
        Repository::at(&self.repo_dir())
    }

    /// The root a device pins.
    pub(crate) fn root_file(&self) -> PathBuf {
        self.dir.path().join("root.json")
    }

    /// Signs and publishes `files` (name, bytes).
    pub(crate) fn publish(&self, files: &[(&str, Vec<u8>)]) {
        let files: Vec<_> = files
            .iter()
            .map(|(name, bytes)| (PackagePath::new(name).expect("name"), bytes.clone()))
            .collect();
        let signers = RoleSigners {
            targets: &[&self.keys[1]],
            snapshot: &[&self.keys[2]],
            timestamp: &[&self.keys[3]],
        };
        self.repo()
            .publish(
                &files,
                signers,
                SystemTime::now(),
                Lifetimes::default(),
                &Limits::default(),
            )
            .expect("published");
    }
}

/// A package that writes `hello.txt` (with `content`) under the install root, detected by
/// that file, running `script` as its install step.
pub(crate) fn package(name: &str, version: &str, content: &[u8], script: &str) -> Vec<u8> {
    let manifest = Manifest {
        format: FORMAT_VERSION,
        name: PackageName::new(name).expect("name"),
        version: semver::Version::parse(version).expect("version"),
        description: format!("test package {name}"),
        requirements: Requirements {
            os: Os::Any,
            arch: Arch::Any,
            free_space_bytes: 0,
        },
        files: Vec::new(),
        install: vec![Step {
            run: vec![script.to_owned()],
            shell: Some(Shell::Sh),
            timeout_secs: 30,
        }],
        uninstall: Vec::new(),
        detection: Detection::File {
            path: PackagePath::new("hello.txt").expect("path"),
            sha256: None,
        },
        return_codes: ReturnCodes::default(),
    };
    let files = [(
        PackagePath::new("hello.txt").expect("path"),
        0o644,
        content.to_vec(),
    )];
    build_in_memory(manifest, &files, &Limits::default()).expect("package builds")
}

/// Bytes zstd cannot shrink, so a package has the size its test needs on the wire.
pub(crate) fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A started console whose `[deploy]` settings are replaced by `deploy` (TOML lines).
pub(crate) fn console(deploy: &str) -> Console {
    let mut console = Console::init();
    let path = console.data().join("console.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    let (head, _) = text.split_once("[deploy]").expect("a [deploy] table");
    std::fs::write(&path, format!("{head}[deploy]\n{deploy}\n")).expect("config written");
    console.start();
    console
}

/// Publishes `publisher`'s repository to `console` as an admin on the console host does.
pub(crate) fn publish_repo(console: &Console, publisher: &Publisher) {
    let repo = publisher.repo_dir();
    console.cli_ok(&[
        "package",
        "publish",
        "--repo",
        repo.to_str().expect("utf-8"),
    ]);
}

/// Enrolls `count` agents that trust `publisher`, each started installing into its own root.
pub(crate) fn agents(console: &Console, publisher: &Publisher, count: usize) -> Vec<Agent> {
    let token = console.enroll_token(&["--uses", &count.to_string()]);
    (0..count)
        .map(|_| {
            let mut agent = Agent::enroll(&token).expect("agent enrolls");
            agent.trust_root(&publisher.root_file());
            agent.start_installing();
            console.wait_status(&agent.device, "online", Duration::from_secs(20));
            agent
        })
        .collect()
}

/// Opens a ticket naming `agents` and returns its number.
pub(crate) fn ticket(console: &Console, agents: &[&Agent]) -> String {
    let mut args = vec![
        "ticket",
        "open",
        "--title",
        "Roll out hello",
        "--caller-name",
        "Change board",
        "--caller-contact",
        "cab@example.org",
    ];
    for agent in agents {
        args.extend_from_slice(&["--device", &agent.device]);
    }
    let out = console.cli_ok(&args);
    out.trim()
        .rsplit(' ')
        .next()
        .expect("ticket number")
        .to_owned()
}

/// `deploy create` with `extra` options; returns the deployment id.
pub(crate) fn deploy(
    console: &Console,
    ticket: &str,
    package: &str,
    agents: &[&Agent],
    extra: &[&str],
) -> String {
    let mut args = vec!["deploy", "create", "--ticket", ticket, "--package", package];
    for agent in agents {
        args.extend_from_slice(&["--device", &agent.device]);
    }
    args.extend_from_slice(extra);
    let out = console.cli_ok(&args);
    out.split_whitespace()
        .nth(1)
        .expect("deployment id")
        .to_owned()
}

pub(crate) fn status(console: &Console, id: &str) -> Value {
    serde_json::from_str(&console.cli_ok(&["deploy", "status", id, "--json"])).expect("status JSON")
}

/// Waits until the deployment's status is `wanted`.
pub(crate) fn wait_deployment(
    console: &Console,
    id: &str,
    wanted: &str,
    timeout: Duration,
) -> Value {
    wait_for(&format!("deployment {id} to be {wanted}"), timeout, || {
        let status = status(console, id);
        (status["status"] == wanted).then_some(status)
    })
}

/// The ticket's audit entries, as `audit export --json` gives them.
pub(crate) fn ticket_entries(console: &Console, ticket: &str) -> Vec<Value> {
    let export: Value =
        serde_json::from_str(&console.cli_ok(&["audit", "export", "--ticket", ticket, "--json"]))
            .expect("export JSON");
    export["audit"].as_array().cloned().unwrap_or_default()
}

/// The agent's local audit entries with `action`.
pub(crate) fn local_entries(agent: &Agent, action: &str) -> Vec<Value> {
    agent
        .audit_list()
        .into_iter()
        .filter(|entry| entry["action"] == action)
        .collect()
}
