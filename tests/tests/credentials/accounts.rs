//! Real local accounts for the credential tests: made with `useradd`, removed with `userdel`
//! when dropped, and inspected the way an administrator would (`/etc/shadow`, `chage -l`,
//! `passwd -S`, `faillock`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Runs a tool, feeding `input` to its standard input, and returns its standard output;
/// panics with its standard error when it fails.
pub(crate) fn tool(program: &str, args: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{program} starts: {error}"));
    let mut stdin = child.stdin.take().expect("stdin");
    if let Some(input) = input {
        stdin.write_all(input.as_bytes()).expect("input written");
    }
    drop(stdin);
    let output = child.wait_with_output().expect("tool ends");
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A local account that exists for as long as this value does.
#[derive(Debug)]
pub(crate) struct LocalUser {
    pub(crate) name: String,
}

impl LocalUser {
    /// A new human account (uid from 1000, bash) with `password`.
    pub(crate) fn create(password: &str) -> LocalUser {
        LocalUser::create_with(&["-m", "-s", "/bin/bash"], password)
    }

    /// A new system account (uid below 1000, no login shell) with `password`.
    pub(crate) fn create_system(password: &str) -> LocalUser {
        LocalUser::create_with(&["-r", "-s", "/usr/sbin/nologin"], password)
    }

    fn create_with(options: &[&str], password: &str) -> LocalUser {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        let name = format!(
            "hlt{}x{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            stamp % 1000
        );
        let mut args = options.to_vec();
        args.extend_from_slice(&["-c", "Test Caller", &name]);
        tool("useradd", &args, None);
        let user = LocalUser { name };
        user.set_password(password);
        user
    }

    pub(crate) fn set_password(&self, password: &str) {
        tool(
            "chpasswd",
            &[],
            Some(&format!("{}:{password}\n", self.name)),
        );
    }

    /// The account's password hash from /etc/shadow.
    pub(crate) fn shadow_hash(&self) -> String {
        let shadow = std::fs::read_to_string("/etc/shadow").expect("shadow readable as root");
        shadow
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{}:", self.name)))
            .and_then(|rest| rest.split(':').next())
            .expect("account in /etc/shadow")
            .to_owned()
    }

    /// Whether `password` matches the shadow hash, checked with the system's `crypt(3)`
    /// through perl, the password on standard input.
    pub(crate) fn password_verifies(&self, password: &str) -> bool {
        let script =
            r#"chomp(my $p = <STDIN>); my $h = $ARGV[0]; print crypt($p, $h) eq $h ? "yes" : "no""#;
        tool("perl", &["-e", script, &self.shadow_hash()], Some(password)) == "yes"
    }

    /// `chage -l` says the password must be changed at the next login.
    pub(crate) fn must_change(&self) -> bool {
        tool("chage", &["-l", &self.name], None)
            .lines()
            .next()
            .is_some_and(|line| line.contains("password must be changed"))
    }

    /// `passwd -S` says the account is locked.
    pub(crate) fn locked(&self) -> bool {
        tool("passwd", &["-S", &self.name], None)
            .split_whitespace()
            .nth(1)
            == Some("L")
    }

    pub(crate) fn lock(&self) {
        tool("usermod", &["-L", &self.name], None);
    }

    /// Records `count` failed logins the way pam_faillock does: 64-byte tally records in
    /// /var/run/faillock/USER (source, reserved, status VALID|TTY, time).
    pub(crate) fn add_failed_logins(&self, count: usize) {
        let dir = std::path::Path::new("/var/run/faillock");
        std::fs::create_dir_all(dir).expect("faillock directory");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let mut record = [0u8; 64];
        record[..4].copy_from_slice(b"tty1");
        record[54..56].copy_from_slice(&(0x1u16 | 0x4).to_le_bytes());
        record[56..64].copy_from_slice(&now.to_le_bytes());
        std::fs::write(dir.join(&self.name), record.repeat(count)).expect("tally written");
    }

    /// Failed logins `faillock` counts.
    pub(crate) fn failed_logins(&self) -> usize {
        tool("faillock", &["--user", &self.name], None)
            .lines()
            .filter(|line| line.trim_end().ends_with(" V"))
            .count()
    }
}

impl Drop for LocalUser {
    fn drop(&mut self) {
        Command::new("userdel")
            .args(["-r", &self.name])
            .stderr(Stdio::null())
            .status()
            .ok();
        std::fs::remove_file(std::path::Path::new("/var/run/faillock").join(&self.name)).ok();
    }
}
