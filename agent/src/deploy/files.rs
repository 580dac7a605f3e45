//! Small file helpers for the deployment state: private atomic writes and the chunk store
//! that lets a cut transfer resume after the last chunk written whole.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes`, mode 0600, synced before the rename, so a crash leaves
/// either the old file or the new one.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension("tmp");
    fs::remove_file(&temporary).ok();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, path)
}

/// The chunks of one target kept so far, under `deploy/chunks/<sha256>/`.
#[derive(Debug)]
pub struct ChunkStore {
    dir: PathBuf,
    chunk_size: u64,
    length: u64,
}

impl ChunkStore {
    pub fn open(root: &Path, sha256: &[u8; 32], chunk_size: u32, length: u64) -> io::Result<Self> {
        // The chunk size is part of the path: chunks cut to another size do not resume.
        let dir = root
            .join("chunks")
            .join(format!("{}-{chunk_size}", hex::encode(sha256)));
        DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        Ok(ChunkStore {
            dir,
            chunk_size: u64::from(chunk_size),
            length,
        })
    }

    pub fn count(&self) -> u64 {
        self.length.div_ceil(self.chunk_size)
    }

    fn expected_len(&self, index: u64) -> u64 {
        (self.length - index * self.chunk_size).min(self.chunk_size)
    }

    fn path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("{index:08}"))
    }

    /// How many chunks from the start are kept whole: the first to fetch.
    pub fn resume_from(&self) -> u64 {
        (0..self.count())
            .find(|&index| {
                fs::metadata(self.path(index)).map(|m| m.len()).ok()
                    != Some(self.expected_len(index))
            })
            .unwrap_or(self.count())
    }

    /// Keeps chunk `index`, refusing one of the wrong size.
    pub fn put(&self, index: u64, data: &[u8]) -> io::Result<()> {
        if index >= self.count() || data.len() as u64 != self.expected_len(index) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "chunk {index} has {} bytes, not {}",
                    data.len(),
                    self.expected_len(index.min(self.count().saturating_sub(1)))
                ),
            ));
        }
        write_private(&self.path(index), data)
    }

    /// Every chunk, joined.
    pub fn assemble(&self) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(usize::try_from(self.length).unwrap_or(0));
        for index in 0..self.count() {
            bytes.extend_from_slice(&fs::read(self.path(index))?);
        }
        Ok(bytes)
    }

    /// Drops the chunks (after an install, or when they assemble into the wrong bytes).
    pub fn remove(&self) {
        fs::remove_dir_all(&self.dir).ok();
    }
}
