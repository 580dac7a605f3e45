//! Evaluating a manifest's requirements and detection rule on the device.

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::time::Duration;

use super::runner::{self, CommandSpec, Exit, RunContext};
use crate::digest::Sha256Digest;
use crate::manifest::{Arch, Detection, Manifest, Os};

/// The device facts requirements are checked against. Passed in, so tests can pretend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    pub os: Option<Os>,
    pub arch: Option<Arch>,
}

impl Host {
    /// The OS and architecture this agent was built for.
    pub fn current() -> Self {
        Self {
            os: Os::current(),
            arch: Arch::current(),
        }
    }
}

/// A requirement the device does not meet. Nothing was changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequirementError {
    #[error("package is for {needed:?}, this device runs {host:?}")]
    Os { needed: Os, host: Option<Os> },
    #[error("package is for {needed:?}, this device is {host:?}")]
    Arch { needed: Arch, host: Option<Arch> },
    #[error(
        "not enough free space on the install root: {needed} bytes needed, {available} available"
    )]
    FreeSpace { needed: u64, available: u64 },
}

/// Checks OS, architecture and free space on `root`'s file system.
pub(crate) fn check_requirements(
    manifest: &Manifest,
    host: Host,
    root: &Path,
) -> Result<(), super::InstallError> {
    let requirements = &manifest.requirements;
    if !requirements.os.accepts(host.os) {
        return Err(RequirementError::Os {
            needed: requirements.os,
            host: host.os,
        }
        .into());
    }
    if !requirements.arch.accepts(host.arch) {
        return Err(RequirementError::Arch {
            needed: requirements.arch,
            host: host.arch,
        }
        .into());
    }
    let stats = rustix::fs::statvfs(root)
        .map_err(|error| super::InstallError::io("measure free space of", root, error.into()))?;
    let available = stats.f_bavail.saturating_mul(stats.f_frsize);
    let needed = requirements
        .free_space_bytes
        .saturating_add(manifest.payload_bytes());
    if available < needed {
        return Err(RequirementError::FreeSpace { needed, available }.into());
    }
    Ok(())
}

/// Whether the detection rule finds the package.
pub(crate) fn detect(rule: &Detection, context: &RunContext<'_>) -> io::Result<bool> {
    match rule {
        Detection::File { path, sha256 } => {
            let path = path.under(context.root);
            // A symlink does not count as the file: it could point anywhere.
            let is_file = fs::symlink_metadata(&path).is_ok_and(|metadata| metadata.is_file());
            match (is_file, sha256) {
                (false, _) => Ok(false),
                (true, None) => Ok(true),
                (true, Some(expected)) => {
                    Ok(Sha256Digest::of_reader(&mut File::open(&path)?)?.0 == *expected)
                }
            }
        }
        Detection::Command { run, timeout_secs } => {
            let spec = CommandSpec {
                run,
                shell: None,
                timeout: Duration::from_secs(*timeout_secs),
            };
            match runner::run(&spec, context, |_| {})? {
                Exit::Code(0) => Ok(true),
                Exit::Code(_) | Exit::Signal(_) => Ok(false),
                Exit::TimedOut => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "detection command timed out",
                )),
            }
        }
        Detection::All(rules) => {
            for rule in rules {
                if !detect(rule, context)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Detection::Any(rules) => {
            for rule in rules {
                if detect(rule, context)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::sample;
    use crate::names::PackagePath;

    #[test]
    fn requirements_are_checked_in_order() {
        let directory = tempfile::tempdir().expect("temp dir");
        let mut manifest = sample(&[("a", b"1")]);
        manifest.requirements.os = Os::Windows;
        let linux = Host {
            os: Some(Os::Linux),
            arch: Some(Arch::X86_64),
        };
        let error = check_requirements(&manifest, linux, directory.path()).expect_err("wrong os");
        assert!(
            error.to_string().contains("package is for Windows"),
            "{error}"
        );

        manifest.requirements.os = Os::Any;
        manifest.requirements.free_space_bytes = u64::MAX / 2;
        let error = check_requirements(&manifest, linux, directory.path()).expect_err("no space");
        assert!(
            error.to_string().contains("not enough free space"),
            "{error}"
        );
    }

    #[test]
    fn file_detection_ignores_symlinks_and_checks_digest() {
        let directory = tempfile::tempdir().expect("temp dir");
        let context = RunContext {
            root: directory.path(),
            environment: &[],
            log: directory.path().join("log"),
        };
        let path = PackagePath::new("x").expect("valid");
        let rule = |sha256| Detection::File {
            path: path.clone(),
            sha256,
        };
        assert!(!detect(&rule(None), &context).expect("evaluates"));
        std::os::unix::fs::symlink("/etc/hostname", directory.path().join("x")).expect("symlink");
        assert!(!detect(&rule(None), &context).expect("evaluates"));
        fs::remove_file(directory.path().join("x")).expect("remove");
        fs::write(directory.path().join("x"), b"v1").expect("write");
        assert!(detect(&rule(Some(Sha256Digest::of(b"v1"))), &context).expect("evaluates"));
        assert!(!detect(&rule(Some(Sha256Digest::of(b"v2"))), &context).expect("evaluates"));
    }
}
