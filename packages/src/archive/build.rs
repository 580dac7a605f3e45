//! Building a `.hpkg` from a publisher's source directory (`package.toml` and `payload/`).
//! Output is deterministic: entries sorted, owners and times zeroed, so a rebuild of the same
//! source gives the same tar and small delta patches.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{MANIFEST_ENTRY, PAYLOAD_PREFIX};
use crate::digest::Sha256Digest;
use crate::limits::Limits;
use crate::manifest::{FileEntry, Manifest, ManifestError, ManifestSource};
use crate::names::{NameError, PackagePath};

/// zstd level for published packages: slow to build once, fast to decompress everywhere.
const COMPRESSION_LEVEL: i32 = 19;

/// Why a package could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not valid package.toml")]
    Source {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("payload file {path} has an invalid name")]
    Name {
        path: PathBuf,
        #[source]
        source: NameError,
    },
    #[error(
        "payload entry {path} is not a regular file or directory (links and devices are never packaged)"
    )]
    NotRegular { path: PathBuf },
    #[error("payload file {path} has mode {mode:#o}: setuid, setgid and sticky bits are refused")]
    SpecialMode { path: PathBuf, mode: u32 },
    #[error("manifest is invalid")]
    Manifest(#[from] ManifestError),
    #[error("cannot write the tar or compress it")]
    Encode(#[source] io::Error),
}

/// Builds a `.hpkg` from `source_dir/package.toml` and every file below `source_dir/payload`.
pub fn build_from_dir(source_dir: &Path, limits: &Limits) -> Result<Vec<u8>, BuildError> {
    let toml_path = source_dir.join("package.toml");
    let text =
        fs::read_to_string(&toml_path).map_err(|source| io_error("read", &toml_path, source))?;
    let source: ManifestSource = toml::from_str(&text).map_err(|source| BuildError::Source {
        path: toml_path.clone(),
        source: Box::new(source),
    })?;

    let payload_dir = source_dir.join("payload");
    let mut files = Vec::new();
    if payload_dir.exists() {
        collect_files(&payload_dir, &payload_dir, &mut files)?;
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));

    let mut entries = Vec::new();
    let mut contents = Vec::new();
    for (path, disk_path, mode) in files {
        let content =
            fs::read(&disk_path).map_err(|source| io_error("read", &disk_path, source))?;
        entries.push(FileEntry {
            size: content.len() as u64,
            sha256: Sha256Digest::of(&content),
            path,
            mode,
        });
        contents.push(content);
    }
    let manifest = Manifest::from_source(source, entries);
    manifest.validate(limits)?;
    let tar = write_tar(&manifest, &contents).map_err(BuildError::Encode)?;
    compress(&tar).map_err(BuildError::Encode)
}

/// Builds a `.hpkg` from a manifest whose file list is computed from `files`. For tests and
/// tools that generate payloads in memory.
pub fn build_in_memory(
    mut manifest: Manifest,
    files: &[(PackagePath, u32, Vec<u8>)],
    limits: &Limits,
) -> Result<Vec<u8>, BuildError> {
    let mut sorted: Vec<_> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    manifest.files = sorted
        .iter()
        .map(|(path, mode, content)| FileEntry {
            path: path.clone(),
            size: content.len() as u64,
            sha256: Sha256Digest::of(content),
            mode: *mode,
        })
        .collect();
    manifest.validate(limits)?;
    let contents: Vec<Vec<u8>> = sorted.iter().map(|file| file.2.clone()).collect();
    let tar = write_tar(&manifest, &contents).map_err(BuildError::Encode)?;
    compress(&tar).map_err(BuildError::Encode)
}

/// Compresses a tar into the `.hpkg` encoding.
pub fn compress(tar: &[u8]) -> io::Result<Vec<u8>> {
    zstd::bulk::compress(tar, COMPRESSION_LEVEL)
}

/// Decompresses a `.hpkg` into its tar under `limits` (the same bounds an agent applies).
pub fn decompress(hpkg: &[u8], limits: &Limits) -> Result<Vec<u8>, super::ArchiveError> {
    if hpkg.len() as u64 > limits.max_package_bytes {
        let size = hpkg.len() as u64;
        return Err(super::ArchiveError::TooLarge {
            size,
            limit: limits.max_package_bytes,
        });
    }
    super::read::decompress_all(hpkg, limits)
}

fn write_tar(manifest: &Manifest, contents: &[Vec<u8>]) -> io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    append(&mut builder, MANIFEST_ENTRY, 0o644, &manifest.to_json())?;
    for (file, content) in manifest.files.iter().zip(contents) {
        append(
            &mut builder,
            &format!("{PAYLOAD_PREFIX}{}", file.path),
            file.mode,
            content,
        )?;
    }
    builder.into_inner()
}

fn append(
    builder: &mut tar::Builder<Vec<u8>>,
    name: &str,
    mode: u32,
    content: &[u8],
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(content.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    builder.append_data(&mut header, name, content)
}

/// Walks `directory`, refusing anything but regular files and directories.
fn collect_files(
    base: &Path,
    directory: &Path,
    files: &mut Vec<(PackagePath, PathBuf, u32)>,
) -> Result<(), BuildError> {
    let listing = fs::read_dir(directory).map_err(|source| io_error("list", directory, source))?;
    for entry in listing {
        let entry = entry.map_err(|source| io_error("list", directory, source))?;
        let path = entry.path();
        let metadata =
            fs::symlink_metadata(&path).map_err(|source| io_error("inspect", &path, source))?;
        if metadata.is_dir() {
            collect_files(base, &path, files)?;
            continue;
        }
        if !metadata.is_file() {
            return Err(BuildError::NotRegular { path });
        }
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o7000 != 0 {
            return Err(BuildError::SpecialMode { path, mode });
        }
        let relative = relative_name(base, &path)?;
        files.push((relative, path, mode));
    }
    Ok(())
}

fn relative_name(base: &Path, path: &Path) -> Result<PackagePath, BuildError> {
    let name_error = |source| BuildError::Name {
        path: path.to_path_buf(),
        source,
    };
    let relative = path.strip_prefix(base).unwrap_or(path);
    let text = relative.to_str().ok_or_else(|| {
        name_error(NameError::ControlCharacter {
            path: relative.to_string_lossy().into_owned(),
        })
    })?;
    PackagePath::new(text).map_err(name_error)
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> BuildError {
    BuildError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
