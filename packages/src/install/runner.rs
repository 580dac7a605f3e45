//! Running install steps and detection commands: an argument vector (or a declared shell), no
//! stdin, a clean environment, output to a log file, its own process group, and a timeout
//! after which the whole group is killed.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

use crate::manifest::Shell;

/// `PATH` for steps: system directories only, never the agent's inherited one.
const STEP_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a command to run looks like, after the manifest's shape checks.
#[derive(Debug)]
pub(crate) struct CommandSpec<'a> {
    pub(crate) run: &'a [String],
    pub(crate) shell: Option<Shell>,
    pub(crate) timeout: Duration,
}

/// Where and with what a command runs.
#[derive(Debug)]
pub(crate) struct RunContext<'a> {
    /// The install root: the working directory, and what `{root}` stands for.
    pub(crate) root: &'a Path,
    /// Environment beyond the fixed base, from the agent's configuration (never a package).
    pub(crate) environment: &'a [(String, String)],
    /// File that receives stdout and stderr.
    pub(crate) log: PathBuf,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    /// Killed by a signal it did not ask for (treated as failure).
    Signal(i32),
    TimedOut,
}

/// Starts the command, reports its process group to `on_spawn` (so the journal can name it),
/// and waits for it within its timeout.
pub(crate) fn run(
    spec: &CommandSpec<'_>,
    context: &RunContext<'_>,
    on_spawn: impl FnOnce(i32),
) -> io::Result<Exit> {
    let mut command = build(spec, context)?;
    let mut child = command.spawn()?;
    let group = i32::try_from(child.id()).map_err(io::Error::other)?;
    on_spawn(group);
    wait_with_timeout(&mut child, group, spec.timeout)
}

/// A short name for messages: the program, never its arguments (which could carry data the
/// ticket should not).
pub(crate) fn program_name(spec: &CommandSpec<'_>) -> String {
    match spec.shell {
        Some(shell) => format!("{} script", shell.program()),
        None => spec.run.first().cloned().unwrap_or_default(),
    }
}

/// Kills a process group left behind by a crashed installer. Gone already is fine.
pub(crate) fn kill_group(group: i32) {
    if let Some(pid) = Pid::from_raw(group) {
        // ESRCH (no such group) is the common case: the step ended before the crash.
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

fn build(spec: &CommandSpec<'_>, context: &RunContext<'_>) -> io::Result<Command> {
    let root = context
        .root
        .to_str()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "install root is not utf-8"))?;
    let expand = |argument: &String| argument.replace("{root}", root);

    let mut command = match spec.shell {
        Some(shell) => {
            let mut command = Command::new(shell.program());
            command.arg("-c").arg(expand(&spec.run[0]));
            command
        }
        None => {
            let mut command = Command::new(expand(&spec.run[0]));
            command.args(spec.run[1..].iter().map(expand));
            command
        }
    };

    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&context.log)?;
    command
        .env_clear()
        .env("PATH", STEP_PATH)
        .env("LANG", "C.UTF-8")
        .env("HOME", "/")
        .env("HOTLINE_ROOT", root)
        .envs(context.environment.iter().map(|(key, value)| (key, value)))
        .current_dir(context.root)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own group, so a timeout kills whatever the step started, not the step alone.
        .process_group(0);
    Ok(command)
}

fn wait_with_timeout(child: &mut Child, group: i32, timeout: Duration) -> io::Result<Exit> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(match (status.code(), status.signal()) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(signal)) => Exit::Signal(signal),
                (None, None) => Exit::Signal(0),
            });
        }
        if Instant::now() >= deadline {
            kill_group(group);
            child.wait()?;
            return Ok(Exit::TimedOut);
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(directory: &Path) -> RunContext<'_> {
        RunContext {
            root: directory,
            environment: &[],
            log: directory.join("log"),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[test]
    fn exit_codes_and_clean_environment() {
        let directory = tempfile::tempdir().expect("temp dir");
        let run_args = strings(&["test -z \"$CARGO\" && test -n \"$HOTLINE_ROOT\" && exit 7"]);
        let spec = CommandSpec {
            run: &run_args,
            shell: Some(Shell::Sh),
            timeout: Duration::from_secs(10),
        };
        assert_eq!(
            run(&spec, &context(directory.path()), |_| {}).expect("ran"),
            Exit::Code(7)
        );
    }

    #[test]
    fn argument_vectors_are_not_shell_parsed() {
        let directory = tempfile::tempdir().expect("temp dir");
        let run_args = strings(&["touch", "{root}/a b; touch c"]);
        let spec = CommandSpec {
            run: &run_args,
            shell: None,
            timeout: Duration::from_secs(10),
        };
        assert_eq!(
            run(&spec, &context(directory.path()), |_| {}).expect("ran"),
            Exit::Code(0)
        );
        assert!(directory.path().join("a b; touch c").exists());
        assert!(!directory.path().join("c").exists());
    }

    #[test]
    fn hanging_step_and_its_children_are_killed() {
        let directory = tempfile::tempdir().expect("temp dir");
        let run_args = strings(&["sleep 30 & echo $! > child.pid; read line; sleep 30"]);
        let spec = CommandSpec {
            run: &run_args,
            shell: Some(Shell::Sh),
            timeout: Duration::from_millis(500),
        };
        let started = Instant::now();
        assert_eq!(
            run(&spec, &context(directory.path()), |_| {}).expect("ran"),
            Exit::TimedOut
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let child: i32 = std::fs::read_to_string(directory.path().join("child.pid"))
            .expect("pid written")
            .trim()
            .parse()
            .expect("a pid");
        thread::sleep(Duration::from_millis(100));
        let alive = std::fs::read_to_string(format!("/proc/{child}/stat"))
            .map(|stat| !stat.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "background child survived the timeout");
    }
}
