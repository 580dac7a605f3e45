//! Install and uninstall steps, and what their exit codes mean. A step is an argument vector,
//! never a shell string, unless it names its shell explicitly.

use serde::{Deserialize, Serialize};

/// One command the installer runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Program and arguments. `{root}` inside an argument is replaced by the install root.
    /// With `shell` set, exactly one element: the script.
    pub run: Vec<String>,
    /// Run `run[0]` as a script of this shell instead of executing an argument vector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Shell>,
    /// Killed (with its whole process group) after this many seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// A shell a step may declare. Only POSIX shells exist on the platforms we build for today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shell {
    Sh,
    Bash,
}

impl Shell {
    /// The interpreter's absolute path, so `PATH` cannot substitute another.
    pub fn program(self) -> &'static str {
        match self {
            Shell::Sh => "/bin/sh",
            Shell::Bash => "/bin/bash",
        }
    }
}

fn default_timeout_secs() -> u64 {
    300
}

/// Exit codes and their meaning. The defaults follow the Windows Installer conventions that
/// help desks already know; a manifest may list more codes for each meaning. POSIX exit codes
/// stop at 255, so a Linux package that signals "reboot required" lists its own code here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnCodes {
    #[serde(default = "default_success")]
    pub success: Vec<i32>,
    #[serde(default = "default_reboot_required")]
    pub reboot_required: Vec<i32>,
    #[serde(default = "default_reboot_now")]
    pub reboot_now: Vec<i32>,
    #[serde(default = "default_retry_later")]
    pub retry_later: Vec<i32>,
}

fn default_success() -> Vec<i32> {
    vec![0]
}
fn default_reboot_required() -> Vec<i32> {
    vec![3010]
}
fn default_reboot_now() -> Vec<i32> {
    vec![1641]
}
fn default_retry_later() -> Vec<i32> {
    vec![1618]
}

impl Default for ReturnCodes {
    fn default() -> Self {
        Self {
            success: default_success(),
            reboot_required: default_reboot_required(),
            reboot_now: default_reboot_now(),
            retry_later: default_retry_later(),
        }
    }
}

/// What a step's exit code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepResult {
    Success,
    /// Success, and the device needs a reboot at some point (3010).
    RebootRequired,
    /// Success, and the device must reboot now (1641).
    RebootNow,
    /// Another installation is running; try again later (1618). The install is rolled back.
    RetryLater,
    Failure,
}

impl ReturnCodes {
    /// Classifies an exit code; a code listed nowhere is a failure.
    pub fn classify(&self, code: i32) -> StepResult {
        if self.success.contains(&code) {
            StepResult::Success
        } else if self.reboot_required.contains(&code) {
            StepResult::RebootRequired
        } else if self.reboot_now.contains(&code) {
            StepResult::RebootNow
        } else if self.retry_later.contains(&code) {
            StepResult::RetryLater
        } else {
            StepResult::Failure
        }
    }

    /// A code listed under two meanings would make the outcome depend on our check order.
    pub(crate) fn overlapping_code(&self) -> Option<i32> {
        let lists = [
            &self.success,
            &self.reboot_required,
            &self.reboot_now,
            &self.retry_later,
        ];
        let mut seen = std::collections::HashSet::new();
        lists
            .iter()
            .flat_map(|list| list.iter())
            .find(|code| !seen.insert(**code))
            .copied()
    }
}

/// Why a step was refused when the manifest was read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StepError {
    #[error("step has an empty command")]
    Empty,
    #[error("step with a declared shell must have exactly one element (the script), not {count}")]
    ShellScriptShape { count: usize },
    #[error("step argument contains a nul byte")]
    NulByte,
    #[error("step timeout {secs} s is outside 1..={limit} s")]
    Timeout { secs: u64, limit: u64 },
    #[error("step has too many arguments: {count} > {limit}")]
    TooManyArguments { count: usize, limit: usize },
}

const MAX_ARGUMENTS: usize = 256;

impl Step {
    /// Checks the shape of the step against `max_timeout_secs`.
    pub fn validate(&self, max_timeout_secs: u64) -> Result<(), StepError> {
        if self.run.is_empty() || self.run[0].is_empty() {
            return Err(StepError::Empty);
        }
        if self.shell.is_some() && self.run.len() != 1 {
            return Err(StepError::ShellScriptShape {
                count: self.run.len(),
            });
        }
        if self.run.len() > MAX_ARGUMENTS {
            return Err(StepError::TooManyArguments {
                count: self.run.len(),
                limit: MAX_ARGUMENTS,
            });
        }
        if self.run.iter().any(|argument| argument.contains('\0')) {
            return Err(StepError::NulByte);
        }
        if self.timeout_secs == 0 || self.timeout_secs > max_timeout_secs {
            return Err(StepError::Timeout {
                secs: self.timeout_secs,
                limit: max_timeout_secs,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_codes_follow_windows_installer() {
        let codes = ReturnCodes::default();
        assert_eq!(codes.classify(0), StepResult::Success);
        assert_eq!(codes.classify(3010), StepResult::RebootRequired);
        assert_eq!(codes.classify(1641), StepResult::RebootNow);
        assert_eq!(codes.classify(1618), StepResult::RetryLater);
        assert_eq!(codes.classify(1), StepResult::Failure);
        assert_eq!(codes.overlapping_code(), None);
    }

    #[test]
    fn overlapping_codes_are_found() {
        let codes = ReturnCodes {
            success: vec![0, 3010],
            ..ReturnCodes::default()
        };
        assert_eq!(codes.overlapping_code(), Some(3010));
    }

    #[test]
    fn step_shapes_are_checked() {
        let step = |run: &[&str], shell| Step {
            run: run.iter().map(|s| (*s).to_owned()).collect(),
            shell,
            timeout_secs: 10,
        };
        assert!(step(&["true"], None).validate(60).is_ok());
        assert_eq!(step(&[], None).validate(60), Err(StepError::Empty));
        assert!(matches!(
            step(&["a", "b"], Some(Shell::Sh)).validate(60),
            Err(StepError::ShellScriptShape { count: 2 })
        ));
        assert_eq!(step(&["a\0"], None).validate(60), Err(StepError::NulByte));
        assert!(matches!(
            step(&["a"], None).validate(5),
            Err(StepError::Timeout { .. })
        ));
    }
}
