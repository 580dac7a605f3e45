//! Linux accounts through the system's own tools: /etc/passwd and /etc/shells to list,
//! `passwd -S`, `chage -l` and `faillock` to read a state, `chpasswd` (the password on its
//! standard input, never in its arguments or environment), `chage -d 0`, `usermod -L/-U` and
//! `faillock --reset` to change one.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hotline_protocol::credentials::TemporaryPassword;
use zeroize::Zeroize;

use super::backend::{AccountBackend, AccountRecord, AccountStatus, BackendError};
use super::names::AccountName;

/// Where the tools are looked up. The agent's own `PATH` is not trusted for this.
const TOOL_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// How long one tool may take. A PAM module or NSS source waiting on an unreachable network
/// directory can hang a tool indefinitely; the request fails with a clear reason instead of
/// holding the agent's credential handling until a restart.
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a running tool is checked on.
const POLL: Duration = Duration::from_millis(20);

/// The accounts of the running system.
#[derive(Debug, Clone)]
pub struct LinuxAccounts {
    passwd: PathBuf,
    shells: PathBuf,
}

impl Default for LinuxAccounts {
    fn default() -> LinuxAccounts {
        LinuxAccounts {
            passwd: PathBuf::from("/etc/passwd"),
            shells: PathBuf::from("/etc/shells"),
        }
    }
}

/// Runs `tool` with a clean environment and the C locale, feeding `input` to its standard
/// input, and returns its standard output. A failure carries what it printed on standard
/// error, with `secret` scrubbed from it.
fn run(
    tool: &'static str,
    args: &[&str],
    input: Option<&[u8]>,
    secret: Option<&str>,
) -> Result<String, BackendError> {
    let failed = |detail: String| BackendError::Tool { tool, detail };
    let mut child = Command::new(tool)
        .args(args)
        .env_clear()
        .env("PATH", TOOL_PATH)
        .env("LC_ALL", "C")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout ends whatever it started too.
        .process_group(0)
        .spawn()
        .map_err(|error| failed(format!("cannot start: {error}")))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input)
            .map_err(|error| failed(format!("writing its input: {error}")))?;
        // Dropping `stdin` closes the pipe, which ends the tool's input.
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_within(&mut child, TOOL_TIMEOUT).map_err(failed)?;
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    if !status.success() {
        let mut detail = String::from_utf8_lossy(&stderr).trim().to_owned();
        if let Some(secret) = secret.filter(|secret| !secret.is_empty()) {
            detail = detail.replace(secret, "<redacted>");
        }
        if detail.is_empty() {
            detail = status.to_string();
        }
        return Err(failed(detail));
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// Waits for `child` at most `limit`; past it the child's whole process group is killed and
/// the error says so.
fn wait_within(child: &mut Child, limit: Duration) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            Ok(None) => break,
            Err(error) => return Err(format!("waiting for it: {error}")),
        }
    }
    let group = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(group) = group {
        // The group may already be gone between the check and here; nothing to do then.
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!(
        "gave no answer within {} s and was stopped",
        limit.as_secs()
    ))
}

/// Reads all of `pipe` on a thread of its own, so a tool that writes much to one pipe never
/// blocks on it while we wait.
fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<Vec<u8>>> {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            // A read error leaves what arrived before it, which is all a report needs.
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    })
}

fn collect(reader: Option<JoinHandle<Vec<u8>>>) -> Vec<u8> {
    reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default()
}

impl LinuxAccounts {
    fn login_shells(&self) -> Result<Vec<String>, BackendError> {
        let text = read(&self.shells)?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect())
    }
}

fn read(path: &PathBuf) -> Result<String, BackendError> {
    std::fs::read_to_string(path).map_err(|source| BackendError::Io {
        what: "reading",
        path: path.display().to_string(),
        source,
    })
}

/// Parses one line of /etc/passwd; `None` for a line out of shape.
fn passwd_line(line: &str, shells: &[String]) -> Option<AccountRecord> {
    let fields: Vec<&str> = line.split(':').collect();
    let [name, _, uid, _, gecos, _, shell] = fields.as_slice() else {
        return None;
    };
    Some(AccountRecord {
        name: (*name).to_owned(),
        uid: uid.parse().ok()?,
        full_name: gecos.split(',').next().unwrap_or_default().to_owned(),
        login_shell: shells.iter().any(|known| known == shell),
    })
}

impl AccountBackend for LinuxAccounts {
    fn accounts(&self) -> Result<Vec<AccountRecord>, BackendError> {
        let shells = self.login_shells()?;
        Ok(read(&self.passwd)?
            .lines()
            .filter_map(|line| passwd_line(line, &shells))
            .collect())
    }

    fn status(&self, name: &AccountName) -> Result<AccountStatus, BackendError> {
        // `passwd -S`: "NAME L|NP|P DATE ...", L meaning locked.
        let status = run("passwd", &["-S", "--", name.as_str()], None, None)?;
        let locked = status.split_whitespace().nth(1) == Some("L");
        let aging = run("chage", &["-l", "--", name.as_str()], None, None)?;
        let must_change = aging
            .lines()
            .next()
            .is_some_and(|line| line.contains("password must be changed"));
        // `faillock --user NAME`: a header, then one line per failure ending in V (valid)
        // or I (invalid, outside the interval).
        let failures = run("faillock", &["--user", name.as_str()], None, None)?;
        let failed_logins = failures
            .lines()
            .filter(|line| line.trim_end().ends_with(" V"))
            .count();
        Ok(AccountStatus {
            locked,
            failed_logins: u32::try_from(failed_logins).unwrap_or(u32::MAX),
            must_change,
        })
    }

    fn set_password(
        &self,
        name: &AccountName,
        password: &TemporaryPassword,
    ) -> Result<(), BackendError> {
        let mut line = format!("{name}:{}\n", password.expose()).into_bytes();
        let result = run("chpasswd", &[], Some(&line), Some(password.expose()));
        line.zeroize();
        result.map(drop)
    }

    fn require_change(&self, name: &AccountName) -> Result<(), BackendError> {
        run("chage", &["-d", "0", "--", name.as_str()], None, None).map(drop)
    }

    fn lock(&self, name: &AccountName) -> Result<(), BackendError> {
        run("usermod", &["-L", "--", name.as_str()], None, None).map(drop)
    }

    fn unlock(&self, name: &AccountName) -> Result<(), BackendError> {
        run("usermod", &["-U", "--", name.as_str()], None, None).map(drop)
    }

    fn clear_failures(&self, name: &AccountName) -> Result<(), BackendError> {
        run(
            "faillock",
            &["--user", name.as_str(), "--reset"],
            None,
            None,
        )
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hung tool (here a shell whose child holds on) is stopped with everything it
    /// started, and the error says it gave no answer.
    #[test]
    fn a_tool_that_hangs_is_stopped_with_its_children() {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 60 & sleep 60"])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("sh starts");
        let stdout = drain(child.stdout.take());

        let error = wait_within(&mut child, Duration::from_millis(300)).expect_err("times out");
        assert!(error.contains("no answer within"), "{error}");
        // Reading ends only when every holder of the pipe, the background sleep included, is
        // gone: had the sleep lived on, this would block for a minute and fail the test.
        let started = Instant::now();
        assert!(collect(stdout).is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the background sleep lived on"
        );
    }

    #[test]
    fn a_tool_that_answers_in_time_gives_its_status() {
        let mut child = Command::new("true").spawn().expect("true starts");
        let status = wait_within(&mut child, TOOL_TIMEOUT).expect("answers");
        assert!(status.success());
    }

    #[test]
    fn passwd_lines_parse_and_shells_decide_login() {
        let shells = vec!["/bin/bash".to_owned()];
        let alice = passwd_line(
            "alice:x:1001:1001:Alice Liddell,,,:/home/alice:/bin/bash",
            &shells,
        )
        .expect("parses");
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.uid, 1001);
        assert_eq!(alice.full_name, "Alice Liddell");
        assert!(alice.login_shell);
        let daemon = passwd_line("daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin", &shells)
            .expect("parses");
        assert!(!daemon.login_shell);
        assert_eq!(passwd_line("broken:x:abc", &shells), None);
    }

    #[test]
    fn a_failing_tool_never_repeats_the_secret() {
        let error = run(
            "sh",
            &["-c", "echo \"bad line: $(cat)\" >&2; exit 1"],
            Some(b"canaryXYZ"),
            Some("canaryXYZ"),
        )
        .unwrap_err();
        let shown = error.to_string();
        assert!(!shown.contains("canaryXYZ"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
