//! The package manifest: what a package is, which files it carries and how to install, detect
//! and remove it. `manifest.json` inside a `.hpkg` is this structure; `package.toml` in a
//! publisher's source directory is [`ManifestSource`], the same without the computed file list.

mod rules;
mod steps;

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

pub use rules::{Arch, Detection, DetectionError, Os, Requirements};
pub use steps::{ReturnCodes, Shell, Step, StepError, StepResult};

use crate::digest::Sha256Digest;
use crate::limits::Limits;
use crate::names::{PackageName, PackagePath};

/// The only manifest format this code reads.
pub const FORMAT_VERSION: u32 = 1;

/// A validated manifest. Obtain one through [`Manifest::from_json`], which checks every rule
/// below; a `Manifest` built by hand should go through [`Manifest::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub name: PackageName,
    pub version: semver::Version,
    pub description: String,
    pub requirements: Requirements,
    pub files: Vec<FileEntry>,
    #[serde(default)]
    pub install: Vec<Step>,
    #[serde(default)]
    pub uninstall: Vec<Step>,
    pub detection: Detection,
    #[serde(default)]
    pub return_codes: ReturnCodes,
}

/// One payload file: where it goes below the install root, its size, digest and mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: PackagePath,
    pub size: u64,
    pub sha256: Sha256Digest,
    /// Permission bits, at most `0o777`: setuid, setgid and sticky bits are never installed.
    pub mode: u32,
}

/// The publisher's `package.toml`: a manifest without `format` and `files`, which `build`
/// computes from the payload directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSource {
    pub name: PackageName,
    pub version: semver::Version,
    pub description: String,
    pub requirements: Requirements,
    #[serde(default)]
    pub install: Vec<Step>,
    #[serde(default)]
    pub uninstall: Vec<Step>,
    pub detection: Detection,
    #[serde(default)]
    pub return_codes: ReturnCodes,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest too large: {size} > {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("manifest is not valid json for format {FORMAT_VERSION}")]
    Parse(#[source] serde_json::Error),
    #[error("unsupported manifest format {found}, this agent reads {FORMAT_VERSION}")]
    Format { found: u32 },
    #[error("description too long: {length} > {limit} bytes")]
    Description { length: usize, limit: usize },
    #[error("file {path} has mode {mode:#o}: only permission bits (at most 0o777) are allowed")]
    Mode { path: PackagePath, mode: u32 },
    #[error("file {path} listed twice")]
    Duplicate { path: PackagePath },
    #[error("files {first} and {second} differ only in case")]
    CaseCollision {
        first: PackagePath,
        second: PackagePath,
    },
    #[error("file {path} is also used as a directory by another file")]
    FileIsDirectory { path: PackagePath },
    #[error("too many files: {count} > {limit}")]
    TooManyFiles { count: usize, limit: usize },
    #[error("too many {which} steps: {count} > {limit}")]
    TooManySteps {
        which: &'static str,
        count: usize,
        limit: usize,
    },
    #[error("{which} step {index} is invalid")]
    Step {
        which: &'static str,
        index: usize,
        #[source]
        source: StepError,
    },
    #[error("detection rule is invalid")]
    Detection(#[source] DetectionError),
    #[error("exit code {code} is listed under two meanings")]
    OverlappingReturnCode { code: i32 },
}

const MAX_DESCRIPTION_BYTES: usize = 4096;

impl Manifest {
    /// Parses and validates `manifest.json`, refusing it before parsing when it is larger than
    /// `limits.max_manifest_bytes`.
    pub fn from_json(bytes: &[u8], limits: &Limits) -> Result<Self, ManifestError> {
        if bytes.len() as u64 > limits.max_manifest_bytes {
            let size = bytes.len() as u64;
            return Err(ManifestError::TooLarge {
                size,
                limit: limits.max_manifest_bytes,
            });
        }
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(ManifestError::Parse)?;
        manifest.validate(limits)?;
        Ok(manifest)
    }

    /// The manifest as it is stored inside a package.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data structures to a Vec cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Combines a publisher's source with the computed file list.
    pub fn from_source(source: ManifestSource, files: Vec<FileEntry>) -> Self {
        Manifest {
            format: FORMAT_VERSION,
            name: source.name,
            version: source.version,
            description: source.description,
            requirements: source.requirements,
            files,
            install: source.install,
            uninstall: source.uninstall,
            detection: source.detection,
            return_codes: source.return_codes,
        }
    }

    /// Checks every rule that serde alone cannot express.
    pub fn validate(&self, limits: &Limits) -> Result<(), ManifestError> {
        if self.format != FORMAT_VERSION {
            return Err(ManifestError::Format { found: self.format });
        }
        if self.description.len() > MAX_DESCRIPTION_BYTES {
            let length = self.description.len();
            return Err(ManifestError::Description {
                length,
                limit: MAX_DESCRIPTION_BYTES,
            });
        }
        self.validate_files(limits)?;
        validate_steps("install", &self.install, limits)?;
        validate_steps("uninstall", &self.uninstall, limits)?;
        self.detection
            .validate()
            .map_err(ManifestError::Detection)?;
        if let Some(code) = self.return_codes.overlapping_code() {
            return Err(ManifestError::OverlappingReturnCode { code });
        }
        Ok(())
    }

    /// Total payload size in bytes.
    pub fn payload_bytes(&self) -> u64 {
        self.files
            .iter()
            .map(|file| file.size)
            .fold(0, u64::saturating_add)
    }

    fn validate_files(&self, limits: &Limits) -> Result<(), ManifestError> {
        // One entry is taken by the manifest itself.
        let limit = limits.max_entries.saturating_sub(1);
        if self.files.len() > limit {
            return Err(ManifestError::TooManyFiles {
                count: self.files.len(),
                limit,
            });
        }

        // Exact duplicates, then names that one file system would merge into one file.
        let mut by_folded: BTreeMap<String, &PackagePath> = BTreeMap::new();
        for file in &self.files {
            if file.mode & !0o777 != 0 {
                return Err(ManifestError::Mode {
                    path: file.path.clone(),
                    mode: file.mode,
                });
            }
            if let Some(first) = by_folded.insert(file.path.case_folded(), &file.path) {
                if *first == file.path {
                    return Err(ManifestError::Duplicate {
                        path: file.path.clone(),
                    });
                }
                let (first, second) = (first.clone(), file.path.clone());
                return Err(ManifestError::CaseCollision { first, second });
            }
        }

        // `a` as a file and `a/b` as another file cannot both exist.
        let directories: HashSet<String> = self
            .files
            .iter()
            .flat_map(|file| file.path.ancestors())
            .map(|directory| directory.case_folded())
            .collect();
        if let Some(file) = self
            .files
            .iter()
            .find(|f| directories.contains(&f.path.case_folded()))
        {
            return Err(ManifestError::FileIsDirectory {
                path: file.path.clone(),
            });
        }
        Ok(())
    }
}

fn validate_steps(
    which: &'static str,
    steps: &[Step],
    limits: &Limits,
) -> Result<(), ManifestError> {
    if steps.len() > limits.max_steps {
        let (count, limit) = (steps.len(), limits.max_steps);
        return Err(ManifestError::TooManySteps {
            which,
            count,
            limit,
        });
    }
    for (index, step) in steps.iter().enumerate() {
        step.validate(limits.max_step_timeout_secs)
            .map_err(|source| ManifestError::Step {
                which,
                index,
                source,
            })?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small valid manifest for tests in this crate.
    pub(crate) fn sample(files: &[(&str, &[u8])]) -> Manifest {
        Manifest {
            format: FORMAT_VERSION,
            name: PackageName::new("sample").expect("valid"),
            version: semver::Version::new(1, 0, 0),
            description: "a sample".to_owned(),
            requirements: Requirements {
                os: Os::Any,
                arch: Arch::Any,
                free_space_bytes: 0,
            },
            files: files
                .iter()
                .map(|(path, data)| FileEntry {
                    path: PackagePath::new(path).expect("valid test path"),
                    size: data.len() as u64,
                    sha256: Sha256Digest::of(data),
                    mode: 0o644,
                })
                .collect(),
            install: vec![],
            uninstall: vec![],
            detection: Detection::File {
                path: PackagePath::new(files.first().map_or("x", |f| f.0)).expect("valid"),
                sha256: None,
            },
            return_codes: ReturnCodes::default(),
        }
    }

    #[test]
    fn json_round_trip() {
        let manifest = sample(&[("bin/a", b"a"), ("share/b c", b"b")]);
        let parsed = Manifest::from_json(&manifest.to_json(), &Limits::default());
        assert_eq!(parsed.expect("valid"), manifest);
    }

    #[test]
    fn setuid_mode_is_refused() {
        let mut manifest = sample(&[("bin/a", b"a")]);
        manifest.files[0].mode = 0o4755;
        let error = manifest.validate(&Limits::default()).expect_err("setuid");
        assert_eq!(
            error.to_string(),
            "file bin/a has mode 0o4755: only permission bits (at most 0o777) are allowed"
        );
    }

    #[test]
    fn duplicates_and_case_collisions_are_refused() {
        let manifest = sample(&[("a/b", b"1"), ("a/b", b"2")]);
        assert!(matches!(
            manifest.validate(&Limits::default()),
            Err(ManifestError::Duplicate { .. })
        ));
        let manifest = sample(&[("a/README", b"1"), ("a/readme", b"2")]);
        let error = manifest.validate(&Limits::default());
        assert!(matches!(error, Err(ManifestError::CaseCollision { .. })));
    }

    #[test]
    fn file_used_as_directory_is_refused() {
        let manifest = sample(&[("a", b"1"), ("A/b", b"2")]);
        let error = manifest.validate(&Limits::default());
        assert!(matches!(error, Err(ManifestError::FileIsDirectory { .. })));
    }

    #[test]
    fn oversized_manifest_is_refused_before_parsing() {
        let limits = Limits {
            max_manifest_bytes: 10,
            ..Limits::default()
        };
        let error = Manifest::from_json(&[b' '; 11], &limits).expect_err("too large");
        assert_eq!(error.to_string(), "manifest too large: 11 > 10 bytes");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut value = serde_json::to_value(sample(&[("a", b"1")])).expect("serialises");
        value["surprise"] = serde_json::json!(true);
        let bytes = serde_json::to_vec(&value).expect("serialises");
        assert!(Manifest::from_json(&bytes, &Limits::default()).is_err());
    }
}
