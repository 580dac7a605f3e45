//! The detection rule ("is this package installed?") and the requirements a device must meet.
//! The installer evaluates them; here they are only data, checked for shape.

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::names::PackagePath;

/// How the installer decides whether the package is present. Success of an install (and of an
/// uninstall) is decided by this rule, not by the exit codes of the steps alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Detection {
    /// A regular file exists under the install root, optionally with this digest.
    File {
        path: PackagePath,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<Sha256Digest>,
    },
    /// A command exits 0 (present) or with any other code (absent).
    Command {
        run: Vec<String>,
        #[serde(default = "default_detection_timeout")]
        timeout_secs: u64,
    },
    /// Every rule holds.
    All(Vec<Detection>),
    /// At least one rule holds.
    Any(Vec<Detection>),
}

fn default_detection_timeout() -> u64 {
    30
}

/// Operating systems a package can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Any,
    Linux,
    Windows,
    Macos,
}

/// Processor architectures a package can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Any,
    X86_64,
    Aarch64,
}

impl Os {
    /// The OS this program was built for, or `None` for one packages cannot target.
    pub fn current() -> Option<Self> {
        match std::env::consts::OS {
            "linux" => Some(Os::Linux),
            "windows" => Some(Os::Windows),
            "macos" => Some(Os::Macos),
            _ => None,
        }
    }

    /// Whether a package for `self` may install on `host`.
    pub fn accepts(self, host: Option<Os>) -> bool {
        self == Os::Any || Some(self) == host
    }
}

impl Arch {
    /// The architecture this program was built for, or `None` for one packages cannot target.
    pub fn current() -> Option<Self> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// Whether a package for `self` may install on `host`.
    pub fn accepts(self, host: Option<Arch>) -> bool {
        self == Arch::Any || Some(self) == host
    }
}

/// What a device must offer before anything is changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    pub os: Os,
    pub arch: Arch,
    /// Free bytes needed on the install root's file system beyond the payload itself.
    #[serde(default)]
    pub free_space_bytes: u64,
}

/// Why a detection rule was refused when the manifest was read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DetectionError {
    #[error("detection rules nest deeper than {limit}")]
    TooDeep { limit: usize },
    #[error("detection rule list is empty")]
    EmptyList,
    #[error("detection command is empty or contains a nul byte")]
    BadCommand,
    #[error("detection command timeout {secs} s is outside 1..=600 s")]
    Timeout { secs: u64 },
}

const MAX_DETECTION_DEPTH: usize = 4;

impl Detection {
    /// Checks the rule's shape: bounded nesting, non-empty lists and commands.
    pub fn validate(&self) -> Result<(), DetectionError> {
        self.validate_at(0)
    }

    fn validate_at(&self, depth: usize) -> Result<(), DetectionError> {
        if depth > MAX_DETECTION_DEPTH {
            return Err(DetectionError::TooDeep {
                limit: MAX_DETECTION_DEPTH,
            });
        }
        match self {
            Detection::File { .. } => Ok(()),
            Detection::Command { run, timeout_secs } => {
                let empty = run.first().is_none_or(String::is_empty);
                if empty || run.iter().any(|argument| argument.contains('\0')) {
                    return Err(DetectionError::BadCommand);
                }
                if !(1..=600).contains(timeout_secs) {
                    return Err(DetectionError::Timeout {
                        secs: *timeout_secs,
                    });
                }
                Ok(())
            }
            Detection::All(rules) | Detection::Any(rules) => {
                if rules.is_empty() {
                    return Err(DetectionError::EmptyList);
                }
                rules
                    .iter()
                    .try_for_each(|rule| rule.validate_at(depth + 1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_parses_from_json() {
        let rule: Detection = serde_json::from_str(
            r#"{"all": [{"file": {"path": "etc/x.conf"}}, {"command": {"run": ["lpstat", "-p", "Q"]}}]}"#,
        )
        .expect("valid rule");
        assert!(rule.validate().is_ok());
        assert!(matches!(rule, Detection::All(ref rules) if rules.len() == 2));
    }

    #[test]
    fn hostile_detection_paths_are_refused() {
        let parsed = serde_json::from_str::<Detection>(r#"{"file": {"path": "../etc/shadow"}}"#);
        assert!(parsed.is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut rule = Detection::File {
            path: PackagePath::new("a").expect("valid"),
            sha256: None,
        };
        for _ in 0..6 {
            rule = Detection::Any(vec![rule]);
        }
        assert_eq!(rule.validate(), Err(DetectionError::TooDeep { limit: 4 }));
        assert_eq!(
            Detection::All(vec![]).validate(),
            Err(DetectionError::EmptyList)
        );
    }

    #[test]
    fn platform_matching() {
        assert!(Os::Any.accepts(None));
        assert!(Os::Linux.accepts(Some(Os::Linux)));
        assert!(!Os::Windows.accepts(Some(Os::Linux)));
        assert!(!Arch::Aarch64.accepts(Some(Arch::X86_64)));
    }
}
