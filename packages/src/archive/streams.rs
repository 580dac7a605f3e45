//! Byte streams used while reading a package: a bounded, hashing reader over the decompressed
//! tar, a hashing reader per entry, and the writer of one staged file.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::digest::{Sha256Digest, StreamingDigest};

/// Creates one staged file: new (never through an existing name or link), private until the
/// content is complete, synced, then given its mode.
pub(super) fn write_staged_file(
    path: &Path,
    mode: u32,
    content: &mut dyn Read,
) -> Result<(), (&'static str, io::Error)> {
    if let Some(parent) = path.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| ("create directory for", e))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ("create", e))?;
    io::copy(content, &mut file).map_err(|e| ("write", e))?;
    file.flush().map_err(|e| ("write", e))?;
    file.sync_all().map_err(|e| ("sync", e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| ("set mode of", e))
}

/// Counts and hashes the decompressed stream, failing once it passes `allowance`.
pub(super) struct BoundedReader<'a> {
    inner: Box<dyn Read + 'a>,
    allowance: u64,
    read: u64,
    digest: StreamingDigest,
    pub(super) exceeded: bool,
    pub(super) decode_error: Option<io::Error>,
}

impl<'a> BoundedReader<'a> {
    pub(super) fn new(inner: Box<dyn Read + 'a>, allowance: u64) -> Self {
        let digest = StreamingDigest::default();
        Self {
            inner,
            allowance,
            read: 0,
            digest,
            exceeded: false,
            decode_error: None,
        }
    }

    pub(super) fn finish(self) -> (Sha256Digest, u64) {
        (self.digest.finish(), self.read)
    }
}

impl Read for BoundedReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = match self.inner.read(buffer) {
            Ok(read) => read,
            Err(error) => {
                // Remembered so a zstd fault is reported as such, not as a tar fault.
                self.decode_error = Some(io::Error::new(error.kind(), error.to_string()));
                return Err(error);
            }
        };
        self.read += read as u64;
        if self.read > self.allowance {
            self.exceeded = true;
            return Err(io::Error::other("expansion limit reached"));
        }
        self.digest.update(&buffer[..read]);
        Ok(read)
    }
}

pub(super) struct HashingReader<'r, R> {
    pub(super) inner: &'r mut R,
    pub(super) digest: StreamingDigest,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.digest.update(&buffer[..read]);
        Ok(read)
    }
}
