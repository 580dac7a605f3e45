//! The audit log's files: the append-only log, the acknowledged watermark, and compaction.
//! Every write that must survive a crash is synced before the call returns.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hotline_protocol::audit::{AgentAuditEntry, GENESIS_HASH};
use tracing::{info, warn};

use super::format::{self, Base, FRAME_LEN, HEADER_LEN, Scan};
use super::{AuditError, AuditLimits};

pub(super) const LOG_FILE: &str = "log";
pub(super) const ACKED_FILE: &str = "acked";

/// The open log of one state directory.
#[derive(Debug)]
pub(super) struct LogFile {
    dir: PathBuf,
    file: File,
    limits: AuditLimits,
    base: Base,
    last: Base,
    /// Offset of each record in the file; `offsets[i]` holds entry `base.seq + 1 + i`.
    offsets: Vec<u64>,
    len: u64,
    acked: u64,
    /// Set when a failed append could not be undone: the file's end is unknown.
    poisoned: bool,
    /// Makes the next appends fail as a full disk would, for the refusal tests.
    #[cfg(test)]
    pub(super) fail_writes: Option<io::ErrorKind>,
}

fn io_error(what: &'static str, path: &Path, source: io::Error) -> AuditError {
    AuditError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Syncs a directory, so that a file created or renamed in it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| io_error("syncing directory", dir, source))
}

/// Replaces `path` with `contents`: a temporary file, synced, renamed over, directory synced.
fn replace(dir: &Path, name: &str, contents: &[u8]) -> Result<(), AuditError> {
    let path = dir.join(name);
    let temporary = dir.join(format!("{name}.tmp"));
    fs::remove_file(&temporary).ok();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(|source| io_error("creating", &temporary, source))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|source| AuditError::from_write(&temporary, source))?;
    fs::rename(&temporary, &path).map_err(|source| io_error("replacing", &path, source))?;
    sync_dir(dir)
}

/// Reads the acknowledged watermark; 0 when none was ever written.
pub(super) fn read_acked(dir: &Path) -> Result<u64, AuditError> {
    let path = dir.join(ACKED_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map_err(|_| AuditError::Corrupt {
            path,
            detail: format!("watermark {:?} is not a number", text.trim()),
        }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(io_error("reading", &path, source)),
    }
}

/// Reads and scans the log without changing anything.
pub(super) fn read_scan(dir: &Path) -> Result<(Scan, u64), AuditError> {
    let path = dir.join(LOG_FILE);
    let bytes = fs::read(&path).map_err(|source| io_error("reading", &path, source))?;
    let scan = format::scan(&bytes).map_err(|error| AuditError::Corrupt {
        path,
        detail: error.to_string(),
    })?;
    Ok((scan, bytes.len() as u64))
}

impl LogFile {
    /// Opens the log in `dir`, creating the directory (0700) and an empty log when missing,
    /// cutting a torn tail, and verifying the whole chain.
    pub(super) fn open(dir: &Path, limits: AuditLimits) -> Result<LogFile, AuditError> {
        let path = dir.join(LOG_FILE);
        if !path.exists() {
            create(dir)?;
        }
        let (scan, file_len) = read_scan(dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| io_error("opening", &path, source))?;

        // A crash during an append leaves part of a record; it was never acknowledged to
        // anyone, so it is cut rather than read.
        if scan.good_len < file_len {
            warn!(
                path = %path.display(),
                offset = scan.good_len,
                bytes = file_len - scan.good_len,
                "cutting the torn end of the audit log left by a crash"
            );
            file.set_len(scan.good_len)
                .and_then(|()| file.sync_all())
                .map_err(|source| io_error("cutting the torn end of", &path, source))?;
        }

        // Compaction removes only acknowledged entries, so the watermark is at least the base;
        // a watermark beyond the last entry means acknowledged entries went missing.
        let last = scan.last();
        let acked = read_acked(dir)?.max(scan.base.seq);
        if acked > last.seq {
            return Err(AuditError::Corrupt {
                path,
                detail: format!(
                    "console acknowledged entry {acked} but the log ends at {}",
                    last.seq
                ),
            });
        }
        Ok(LogFile {
            dir: dir.to_owned(),
            file,
            limits,
            base: scan.base,
            last,
            offsets: scan.records.iter().map(|(offset, _)| *offset).collect(),
            len: scan.good_len,
            acked,
            poisoned: false,
            #[cfg(test)]
            fail_writes: None,
        })
    }

    pub(super) fn last_seq(&self) -> u64 {
        self.last.seq
    }

    pub(super) fn acked(&self) -> u64 {
        self.acked
    }

    /// Makes, writes and syncs the entry after the last one.
    pub(super) fn append(
        &mut self,
        at_ms: i64,
        fields: (String, String),
        ticket: Option<u64>,
        outcome: hotline_protocol::audit::AuditOutcome,
    ) -> Result<AgentAuditEntry, AuditError> {
        if self.poisoned {
            return Err(AuditError::Unavailable);
        }
        let entry = AgentAuditEntry::new(
            self.last.seq + 1,
            at_ms,
            fields,
            ticket,
            outcome,
            self.last.hash,
        );
        let record = format::record(&entry);
        self.make_room(record.len() as u64)?;

        if let Err(source) = self.write_at_end(&record) {
            // Undo the partial record so that the next append does not land after garbage.
            let undone = self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.sync_all());
            if undone.is_err() {
                self.poisoned = true;
            }
            return Err(AuditError::from_write(&self.dir.join(LOG_FILE), source));
        }
        self.offsets.push(self.len);
        self.len += record.len() as u64;
        self.last = Base {
            seq: entry.seq,
            hash: entry.hash,
        };
        Ok(entry)
    }

    fn write_at_end(&self, record: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        if let Some(kind) = self.fail_writes {
            // Half the record reaches the file first, as when the disk fills mid-write.
            self.file
                .write_all_at(&record[..record.len() / 2], self.len)?;
            return Err(io::Error::from(kind));
        }
        self.file.write_all_at(record, self.len)?;
        self.file.sync_data()
    }

    /// Refuses an append that would pass the limits, compacting first when that helps.
    fn make_room(&mut self, record_len: u64) -> Result<(), AuditError> {
        let unacked = self.last.seq - self.acked;
        if unacked >= self.limits.max_unacked {
            return Err(AuditError::QueueFull {
                unacked,
                limit: self.limits.max_unacked,
            });
        }
        if self.len + record_len > self.limits.max_bytes && self.acked > self.base.seq {
            self.compact()?;
        }
        if self.len + record_len > self.limits.max_bytes {
            return Err(AuditError::QueueFull {
                unacked,
                limit: self.limits.max_unacked,
            });
        }
        Ok(())
    }

    /// Reads up to `max` entries starting at `from`.
    pub(super) fn read_from(
        &self,
        from: u64,
        max: usize,
    ) -> Result<Vec<AgentAuditEntry>, AuditError> {
        let path = self.dir.join(LOG_FILE);
        let first = from.max(self.base.seq + 1);
        let mut entries = Vec::new();
        for seq in first..=self.last.seq {
            if entries.len() >= max {
                break;
            }
            let index = usize::try_from(seq - self.base.seq - 1).unwrap_or(usize::MAX);
            let start = self.offsets[index];
            let end = self.offsets.get(index + 1).copied().unwrap_or(self.len);
            let mut buffer = vec![0; usize::try_from(end - start).unwrap_or(0)];
            self.file
                .read_exact_at(&mut buffer, start)
                .map_err(|source| io_error("reading", &path, source))?;
            let entry = serde_json::from_slice(&buffer[FRAME_LEN.min(buffer.len())..]).map_err(
                |error| AuditError::Corrupt {
                    path: path.clone(),
                    detail: format!("entry {seq} changed on disk: {error}"),
                },
            )?;
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Moves the watermark to `up_to` (never back) and compacts when the log is large.
    pub(super) fn acknowledge(&mut self, up_to: u64) -> Result<(), AuditError> {
        let up_to = up_to.min(self.last.seq);
        if up_to <= self.acked {
            return Ok(());
        }
        replace(&self.dir, ACKED_FILE, format!("{up_to}\n").as_bytes())?;
        self.acked = up_to;
        if self.len > self.limits.compact_at {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the log without the acknowledged entries. The last one removed becomes the
    /// new base, so the chain still verifies from the header on.
    fn compact(&mut self) -> Result<(), AuditError> {
        if self.acked <= self.base.seq {
            return Ok(());
        }
        let new_base = match self.read_from(self.acked, 1)?.pop() {
            Some(entry) => Base {
                seq: entry.seq,
                hash: entry.hash,
            },
            None => return Ok(()),
        };
        let keep_from = self
            .offsets
            .get(usize::try_from(self.acked - self.base.seq).unwrap_or(usize::MAX))
            .copied()
            .unwrap_or(self.len);
        let mut kept = vec![0; usize::try_from(self.len - keep_from).unwrap_or(0)];
        let path = self.dir.join(LOG_FILE);
        self.file
            .read_exact_at(&mut kept, keep_from)
            .map_err(|source| io_error("reading", &path, source))?;

        let mut contents = format::header(new_base);
        contents.extend_from_slice(&kept);
        replace(&self.dir, LOG_FILE, &contents)?;
        self.file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| io_error("reopening", &path, source))?;

        let shift = keep_from - HEADER_LEN as u64;
        let dropped = usize::try_from(new_base.seq - self.base.seq).unwrap_or(usize::MAX);
        self.offsets.drain(..dropped.min(self.offsets.len()));
        self.offsets.iter_mut().for_each(|offset| *offset -= shift);
        info!(
            removed = dropped,
            kept = self.offsets.len(),
            "compacted the audit log"
        );
        self.base = new_base;
        self.len = contents.len() as u64;
        Ok(())
    }
}

/// Creates the directory and an empty log whose chain starts at the genesis hash.
fn create(dir: &Path) -> Result<(), AuditError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| io_error("creating directory", dir, source))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    let base = Base {
        seq: 0,
        hash: GENESIS_HASH,
    };
    replace(dir, LOG_FILE, &format::header(base))
}
