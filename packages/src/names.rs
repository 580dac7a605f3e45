//! Newtypes for every name a package or its metadata supplies. They validate at construction,
//! so a hostile name (`../x`, `/x`, `C:\x`, a NUL byte) can never reach the file system.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::limits::paths::{MAX_COMPONENT_BYTES, MAX_DEPTH, MAX_PATH_BYTES};

/// Why a name was refused. The offending text is included, cut short, so an operator can find
/// it in the package.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("name too long: {length} > {limit} bytes")]
    TooLong { length: usize, limit: usize },
    #[error("path {path:?} is absolute")]
    Absolute { path: String },
    #[error("path {path:?} contains a backslash")]
    Backslash { path: String },
    #[error("path {path:?} contains a colon (drive letter or alternate stream)")]
    Colon { path: String },
    #[error("path {path:?} contains a `..` or `.` component")]
    DotComponent { path: String },
    #[error("path {path:?} contains an empty component")]
    EmptyComponent { path: String },
    #[error("path {path:?} contains a control character")]
    ControlCharacter { path: String },
    #[error("path {path:?} has a component ending in a dot or space")]
    TrailingDotOrSpace { path: String },
    #[error("path {path:?} uses a reserved windows device name")]
    ReservedDeviceName { path: String },
    #[error("path {path:?} nests deeper than {limit} directories")]
    TooDeep { path: String, limit: usize },
    #[error(
        "package name {name:?} must be 1-64 of a-z, 0-9, '.', '_' or '-', starting alphanumeric"
    )]
    BadPackageName { name: String },
}

/// The name of a package: lowercase ASCII letters, digits, `.`, `_` and `-`, at most 64 bytes,
/// starting with a letter or digit. It names directories in the agent's state, so it is kept
/// far stricter than a path.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageName(String);

impl PackageName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, NameError> {
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
        let starts_well = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        if name.len() > 64 || !starts_well || !name.chars().all(allowed) {
            return Err(NameError::BadPackageName {
                name: shorten(name),
            });
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A relative file path inside a package or a repository: `/`-separated, UTF-8, with no
/// absolute prefix, `.` or `..` component, backslash, colon, control character or reserved
/// Windows device name. Joined to a root, it always stays below that root (as long as nothing
/// below the root is a symlink, which the installer checks separately).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackagePath(String);

impl PackagePath {
    /// Validates `path`.
    pub fn new(path: &str) -> Result<Self, NameError> {
        check_length(path)?;
        let shown = || shorten(path);
        if path.starts_with('/') {
            return Err(NameError::Absolute { path: shown() });
        }
        // Backslashes are separators on Windows: `..\x` would climb out there.
        if path.contains('\\') {
            return Err(NameError::Backslash { path: shown() });
        }
        // A colon makes `C:x` a drive path and `a:b` an NTFS alternate data stream.
        if path.contains(':') {
            return Err(NameError::Colon { path: shown() });
        }
        if path.chars().any(char::is_control) {
            return Err(NameError::ControlCharacter { path: shown() });
        }

        let mut depth = 0;
        for component in path.split('/') {
            check_component(component, path)?;
            depth += 1;
        }
        if depth > MAX_DEPTH {
            return Err(NameError::TooDeep {
                path: shown(),
                limit: MAX_DEPTH,
            });
        }
        Ok(Self(path.to_owned()))
    }

    /// The path as `/`-separated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `root` joined with this path, component by component.
    pub fn under(&self, root: &Path) -> PathBuf {
        let mut joined = root.to_path_buf();
        joined.extend(self.0.split('/'));
        joined
    }

    /// The key two paths collide on when a file system ignores case (Windows, macOS).
    /// FIXME: Unicode normalisation (NFC vs NFD, which macOS folds) is not applied yet.
    pub fn case_folded(&self) -> String {
        self.0.to_lowercase()
    }

    /// Every proper ancestor directory, shortest first: `a/b/c` gives `a` and `a/b`.
    pub fn ancestors(&self) -> Vec<PackagePath> {
        let mut ancestors = Vec::new();
        for (index, character) in self.0.char_indices() {
            if character == '/' {
                ancestors.push(PackagePath(self.0[..index].to_owned()));
            }
        }
        ancestors
    }
}

fn check_length(path: &str) -> Result<(), NameError> {
    if path.is_empty() {
        return Err(NameError::Empty);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(NameError::TooLong {
            length: path.len(),
            limit: MAX_PATH_BYTES,
        });
    }
    Ok(())
}

fn check_component(component: &str, path: &str) -> Result<(), NameError> {
    let shown = || shorten(path);
    if component.is_empty() {
        return Err(NameError::EmptyComponent { path: shown() });
    }
    if component == "." || component == ".." {
        return Err(NameError::DotComponent { path: shown() });
    }
    if component.len() > MAX_COMPONENT_BYTES {
        return Err(NameError::TooLong {
            length: component.len(),
            limit: MAX_COMPONENT_BYTES,
        });
    }
    // Windows silently drops a trailing dot or space, so `a.` and `a` would be one file there.
    if component.ends_with('.') || component.ends_with(' ') {
        return Err(NameError::TrailingDotOrSpace { path: shown() });
    }
    let stem = component
        .split('.')
        .next()
        .unwrap_or(component)
        .to_ascii_uppercase();
    let reserved = ["CON", "PRN", "AUX", "NUL"].contains(&stem.as_str())
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        return Err(NameError::ReservedDeviceName { path: shown() });
    }
    Ok(())
}

/// A hostile name may be megabytes long; error messages carry at most its first 120 characters.
fn shorten(text: &str) -> String {
    text.chars().take(120).collect()
}

macro_rules! text_newtype_impls {
    ($type:ident) => {
        impl fmt::Display for $type {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl fmt::Debug for $type {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "{}({:?})", stringify!($type), self.0)
            }
        }

        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::new(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_newtype_impls!(PackageName);
text_newtype_impls!(PackagePath);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_pass_including_spaces_and_non_ascii() {
        for path in [
            "bin/tool",
            "My Documents/naïve café.txt",
            "a/b/c.d",
            "日本語/ファイル",
        ] {
            assert!(PackagePath::new(path).is_ok(), "{path}");
        }
    }

    #[test]
    fn hostile_paths_are_refused_with_the_reason() {
        let cases = [
            ("../x", "`..`"),
            ("a/../../x", "`..`"),
            ("/x", "absolute"),
            ("..\\x", "backslash"),
            ("C:\\x", "backslash"),
            ("C:x", "colon"),
            ("a//b", "empty component"),
            ("./a", "`.`"),
            ("a/", "empty component"),
            ("a\0b", "control"),
            ("nul.txt", "reserved"),
            ("com1", "reserved"),
            ("a./b", "dot or space"),
            ("", "empty"),
        ];
        for (path, reason) in cases {
            let error = PackagePath::new(path).expect_err(path).to_string();
            assert!(error.contains(reason), "{path}: {error}");
        }
    }

    #[test]
    fn length_and_depth_are_capped() {
        assert!(PackagePath::new(&"a".repeat(256)).is_err());
        assert!(PackagePath::new("a/".repeat(40).trim_end_matches('/')).is_err());
        assert!(PackagePath::new(&"abc/".repeat(300)).is_err());
    }

    #[test]
    fn ancestors_and_joining() {
        let path = PackagePath::new("a/b/c").expect("valid");
        let ancestors: Vec<_> = path
            .ancestors()
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        assert_eq!(ancestors, ["a", "a/b"]);
        assert_eq!(path.under(Path::new("/r")), PathBuf::from("/r/a/b/c"));
    }

    #[test]
    fn package_names_are_strict() {
        assert!(PackageName::new("office-printer_2.0").is_ok());
        for name in ["", "-x", "Upper", "a/b", "a b", &"a".repeat(65)] {
            assert!(PackageName::new(name).is_err(), "{name}");
        }
    }
}
