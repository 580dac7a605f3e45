//! Background processes a test binary starts (X servers, a browser driver) that must not
//! outlive it.

use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A process that ends when the test process does, even when the test binary exits without
/// running destructors (statics are never dropped): it runs under a small shell that waits on
/// a pipe from us and kills it once that pipe closes.
#[derive(Debug)]
pub struct Guarded {
    shell: Child,
    lifeline: Option<ChildStdin>,
}

impl Guarded {
    /// Starts `command` (a shell command line whose output goes where it says) under the
    /// guard. The shell's standard output is the command's file descriptor 3.
    pub fn spawn(command: &str) -> Guarded {
        Guarded::spawn_with_cleanup(command, "true")
    }

    /// As [`Guarded::spawn`], and runs the shell command `cleanup` once the command ended.
    pub fn spawn_with_cleanup(command: &str, cleanup: &str) -> Guarded {
        // `setsid` makes the command the leader of its own process group, so that killing the
        // group also ends what it started (a browser driver's browser, for one).
        let script = format!(
            "setsid {command} 3>&1 >/dev/null 2>&1 </dev/null & child=$!; read _; \
             kill -TERM -$child 2>/dev/null || kill $child; wait $child; {cleanup}"
        );
        let mut shell = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        let lifeline = shell.stdin.take();
        Guarded { shell, lifeline }
    }

    /// The shell's standard output, which is the command's file descriptor 3 (taken once).
    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.shell.stdout.take()
    }

    /// The guarded process's id: the shell's one child.
    pub fn child_pid(&self) -> Option<u32> {
        let shell = self.shell.id();
        let children =
            std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    pub fn stop(&mut self) {
        // Closing the lifeline is what ends the child; then reap the shell.
        self.lifeline.take();
        self.shell.wait().ok();
    }
}
