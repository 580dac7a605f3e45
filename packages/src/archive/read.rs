//! Walking a package's tar under its limits. Every entry is checked before its content is
//! handed on: type (regular files only), name, mode, size, digest and its place in the manifest.

use std::io::{self, Read};

use tar::EntryType;

use super::streams::{BoundedReader, HashingReader};
use super::{Encoding, MANIFEST_ENTRY, PAYLOAD_PREFIX};
use crate::digest::{Sha256Digest, StreamingDigest};
use crate::limits::Limits;
use crate::manifest::{FileEntry, Manifest, ManifestError};
use crate::names::{NameError, PackagePath};

/// Why a package was refused. Each names the entry at fault; none is raised after anything
/// was written outside the staging directory.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("package too large: {size} > {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("package expands beyond {limit} bytes ({ratio}x its {compressed} compressed bytes)")]
    Expansion {
        limit: u64,
        compressed: u64,
        ratio: u64,
    },
    #[error("package is not valid zstd")]
    Decompress(#[source] io::Error),
    #[error("package is not a valid tar")]
    Tar(#[source] io::Error),
    #[error("package has too many entries: more than {limit}")]
    TooManyEntries { limit: usize },
    #[error("package is empty")]
    Empty,
    #[error("entry name is not utf-8: {shown:?}")]
    NotUtf8 { shown: String },
    #[error("entry {entry:?} has an invalid path")]
    BadPath {
        entry: String,
        #[source]
        source: NameError,
    },
    #[error("entry {entry:?} is a symlink: links are never installed")]
    Symlink { entry: String },
    #[error("entry {entry:?} is a hardlink: links are never installed")]
    Hardlink { entry: String },
    #[error("entry {entry:?} is a device file or fifo")]
    DeviceFile { entry: String },
    #[error("entry {entry:?} has type {kind:?}: only regular files are allowed")]
    UnexpectedType { entry: String, kind: String },
    #[error("entry {entry:?} has mode {mode:#o}: setuid, setgid and sticky bits are refused")]
    SpecialModeBits { entry: String, mode: u32 },
    #[error("first entry is {found:?}, expected {MANIFEST_ENTRY}")]
    ManifestNotFirst { found: String },
    #[error("manifest is invalid")]
    Manifest(#[source] ManifestError),
    #[error("entry {entry:?} is neither the manifest nor under {PAYLOAD_PREFIX}")]
    OutsidePayload { entry: String },
    #[error("file {path} is not listed in the manifest")]
    NotInManifest { path: PackagePath },
    #[error("file {path} appears twice in the archive")]
    Duplicate { path: PackagePath },
    #[error("file {path} is {found} bytes, the manifest says {expected}")]
    SizeMismatch {
        path: PackagePath,
        found: u64,
        expected: u64,
    },
    #[error("file {path} has mode {found:#o}, the manifest says {expected:#o}")]
    ModeMismatch {
        path: PackagePath,
        found: u32,
        expected: u32,
    },
    #[error("file {path} does not match its sha-256 in the manifest")]
    DigestMismatch { path: PackagePath },
    #[error("file {path} is listed in the manifest but missing from the archive")]
    Missing { path: PackagePath },
    #[error("reading stopped by the caller")]
    Interrupted,
}

/// What a complete walk learned.
#[derive(Debug)]
pub(super) struct Scan {
    pub(super) manifest: Manifest,
    pub(super) unpacked_sha256: Sha256Digest,
    pub(super) unpacked_len: u64,
}

/// Reads every entry of the package in `bytes`, validating as it goes, and hands each payload
/// file's content to `on_file` (which may stop the walk by returning an error).
pub(super) fn walk(
    bytes: &[u8],
    encoding: Encoding,
    limits: &Limits,
    on_file: impl FnMut(&FileEntry, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<Scan, ArchiveError> {
    let compressed = bytes.len() as u64;
    if compressed > limits.max_package_bytes {
        return Err(ArchiveError::TooLarge {
            size: compressed,
            limit: limits.max_package_bytes,
        });
    }
    let allowance = match encoding {
        Encoding::Zstd => limits.unpacked_allowance(compressed),
        Encoding::Tar => limits.max_unpacked_bytes,
    };
    let source: Box<dyn Read + '_> = match encoding {
        Encoding::Tar => Box::new(bytes),
        Encoding::Zstd => Box::new(decoder(bytes, limits)?),
    };
    let mut reader = BoundedReader::new(source, allowance);

    let result = walk_tar(&mut reader, limits, on_file);
    if reader.exceeded {
        let ratio = limits.max_expansion_ratio;
        return Err(ArchiveError::Expansion {
            limit: allowance,
            compressed,
            ratio,
        });
    }
    if let Some(error) = reader.decode_error.take() {
        return Err(ArchiveError::Decompress(error));
    }
    let manifest = result?;
    let (unpacked_sha256, unpacked_len) = reader.finish();
    Ok(Scan {
        manifest,
        unpacked_sha256,
        unpacked_len,
    })
}

/// Decompresses a whole `.hpkg` under the same limits as [`walk`].
pub(super) fn decompress_all(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, ArchiveError> {
    let compressed = bytes.len() as u64;
    let allowance = limits.unpacked_allowance(compressed);
    let mut reader = BoundedReader::new(Box::new(decoder(bytes, limits)?), allowance);
    let mut tar = Vec::new();
    let result = reader.read_to_end(&mut tar);
    if reader.exceeded {
        let ratio = limits.max_expansion_ratio;
        return Err(ArchiveError::Expansion {
            limit: allowance,
            compressed,
            ratio,
        });
    }
    result.map_err(ArchiveError::Decompress)?;
    Ok(tar)
}

fn decoder<'a>(bytes: &'a [u8], limits: &Limits) -> Result<impl Read + 'a, ArchiveError> {
    let mut decoder =
        zstd::stream::read::Decoder::with_buffer(bytes).map_err(ArchiveError::Decompress)?;
    // Bounds the window a hostile frame header can make the decoder allocate.
    decoder
        .window_log_max(limits.max_window_log)
        .map_err(ArchiveError::Decompress)?;
    Ok(decoder)
}

fn walk_tar(
    reader: &mut BoundedReader<'_>,
    limits: &Limits,
    mut on_file: impl FnMut(&FileEntry, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<Manifest, ArchiveError> {
    let mut archive = tar::Archive::new(reader);
    let mut manifest: Option<Manifest> = None;
    let mut seen = std::collections::HashSet::new();

    for (index, entry) in archive.entries().map_err(ArchiveError::Tar)?.enumerate() {
        if index >= limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let mut entry = entry.map_err(ArchiveError::Tar)?;
        let name = check_entry_header(&entry)?;

        // The manifest comes first so every later entry can be checked against it at once.
        let Some(manifest) = manifest.as_ref() else {
            if name != MANIFEST_ENTRY {
                return Err(ArchiveError::ManifestNotFirst { found: name });
            }
            manifest = Some(read_manifest(&mut entry, limits)?);
            continue;
        };

        let path = payload_path(&name)?;
        let file = manifest
            .files
            .iter()
            .find(|file| file.path == path)
            .ok_or_else(|| ArchiveError::NotInManifest { path: path.clone() })?;
        if !seen.insert(path.clone()) {
            return Err(ArchiveError::Duplicate { path });
        }
        check_against_manifest(&entry, file)?;
        let mut hashing = HashingReader {
            inner: &mut entry,
            digest: StreamingDigest::default(),
        };
        on_file(file, &mut hashing)?;
        io::copy(&mut hashing, &mut io::sink()).map_err(ArchiveError::Tar)?;
        if hashing.digest.finish() != file.sha256 {
            return Err(ArchiveError::DigestMismatch { path });
        }
    }

    let manifest = manifest.ok_or(ArchiveError::Empty)?;
    if let Some(missing) = manifest
        .files
        .iter()
        .find(|file| !seen.contains(&file.path))
    {
        return Err(ArchiveError::Missing {
            path: missing.path.clone(),
        });
    }
    // Whatever follows the end-of-archive marker still counts toward the digest and limits.
    io::copy(archive.into_inner(), &mut io::sink()).map_err(ArchiveError::Tar)?;
    Ok(manifest)
}

/// Refuses every entry type but a regular file, and special permission bits.
fn check_entry_header<R: Read>(entry: &tar::Entry<'_, R>) -> Result<String, ArchiveError> {
    let raw = entry.path_bytes();
    let entry_name = String::from_utf8(raw.to_vec()).map_err(|_| ArchiveError::NotUtf8 {
        shown: String::from_utf8_lossy(&raw).chars().take(120).collect(),
    })?;
    let shown = entry_name.chars().take(120).collect::<String>();
    let header = entry.header();

    match header.entry_type() {
        EntryType::Regular => {}
        EntryType::Symlink => return Err(ArchiveError::Symlink { entry: shown }),
        EntryType::Link => return Err(ArchiveError::Hardlink { entry: shown }),
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            return Err(ArchiveError::DeviceFile { entry: shown });
        }
        other => {
            return Err(ArchiveError::UnexpectedType {
                entry: shown,
                kind: format!("{other:?}"),
            });
        }
    }
    let mode = header.mode().map_err(ArchiveError::Tar)?;
    if mode & 0o7000 != 0 {
        return Err(ArchiveError::SpecialModeBits { entry: shown, mode });
    }
    Ok(entry_name)
}

fn read_manifest<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    limits: &Limits,
) -> Result<Manifest, ArchiveError> {
    // Refuse by the declared size before reading, then read at most the limit regardless.
    let size = entry.size();
    if size > limits.max_manifest_bytes {
        let limit = limits.max_manifest_bytes;
        return Err(ArchiveError::Manifest(ManifestError::TooLarge {
            size,
            limit,
        }));
    }
    let mut bytes = Vec::new();
    entry
        .take(limits.max_manifest_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(ArchiveError::Tar)?;
    Manifest::from_json(&bytes, limits).map_err(ArchiveError::Manifest)
}

fn payload_path(name: &str) -> Result<PackagePath, ArchiveError> {
    let Some(relative) = name.strip_prefix(PAYLOAD_PREFIX) else {
        // Report the real reason for `../x`, `/x` or `C:\x` rather than "outside payload".
        if let Err(source) = PackagePath::new(name) {
            return Err(ArchiveError::BadPath {
                entry: name.chars().take(120).collect(),
                source,
            });
        }
        return Err(ArchiveError::OutsidePayload {
            entry: name.chars().take(120).collect(),
        });
    };
    PackagePath::new(relative).map_err(|source| ArchiveError::BadPath {
        entry: name.chars().take(120).collect(),
        source,
    })
}

fn check_against_manifest<R: Read>(
    entry: &tar::Entry<'_, R>,
    file: &FileEntry,
) -> Result<(), ArchiveError> {
    let path = file.path.clone();
    if entry.size() != file.size {
        return Err(ArchiveError::SizeMismatch {
            path,
            found: entry.size(),
            expected: file.size,
        });
    }
    let mode = entry.header().mode().map_err(ArchiveError::Tar)? & 0o777;
    if mode != file.mode {
        return Err(ArchiveError::ModeMismatch {
            path,
            found: mode,
            expected: file.mode,
        });
    }
    if entry.link_name_bytes().is_some_and(|link| !link.is_empty()) {
        return Err(ArchiveError::Hardlink {
            entry: path.to_string(),
        });
    }
    Ok(())
}
