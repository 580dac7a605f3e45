//! The install journal: an append-only file of intentions, each synced to disk before the
//! change it announces. After a crash, replaying it backwards undoes whatever happened.
//!
//! Every file change is a rename within one file system, recorded as "about to move A to B".
//! Undoing it is "if B exists and A does not, move B back to A", which is right whether or not
//! the crash came before or after the rename itself.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::sync_parent;
use crate::names::PackageName;

/// Whether a transaction installs or removes a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TxKind {
    Install,
    Uninstall,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Record {
    /// First line: what the transaction is.
    Begin {
        tx: String,
        kind: TxKind,
        package: PackageName,
        version: String,
    },
    /// About to create this directory (it did not exist).
    CreateDir { path: PathBuf },
    /// About to rename `from` to `to`.
    Move { from: PathBuf, to: PathBuf },
    /// About to start a step of `kind`'s steps.
    StepStarted { kind: TxKind, index: usize },
    /// The step runs in this process group, which recovery kills if it outlived us.
    StepProcessGroup { process_group: i32 },
    /// The transaction's changes are final.
    Committed,
}

/// An open journal being appended to.
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    /// Creates the journal at `path`, which must not exist (only one transaction at a time).
    pub(crate) fn create(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        sync_parent(path)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Appends `record` and waits until it is on disk.
    pub(crate) fn append(&mut self, record: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }

    /// Where the journal lives.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads every complete record of the journal at `path`. A torn last line (the crash came in
/// the middle of writing it) is ignored: the change it announced never started.
pub(crate) fn read(path: &Path) -> io::Result<Vec<Record>> {
    let reader = BufReader::new(File::open(path)?);
    let mut records = Vec::new();
    for line in reader.lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str(&line) {
            Ok(record) => records.push(record),
            Err(_) => break,
        }
    }
    Ok(records)
}

/// Undoes one announced rename, whether or not it happened.
pub(crate) fn undo_move(from: &Path, to: &Path) -> io::Result<()> {
    let exists = |path: &Path| fs::symlink_metadata(path).is_ok();
    if exists(to) && !exists(from) {
        if let Some(parent) = from.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::rename(to, from)?;
        sync_parent(from)?;
    }
    Ok(())
}

/// Undoes one announced directory creation: removed if it exists and is empty.
pub(crate) fn undo_create_dir(path: &Path) -> io::Result<()> {
    match fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        // Something else was put there since; leaving the directory is the safe choice.
        Err(error) if error.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_ignored() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("journal");
        let mut journal = Journal::create(&path).expect("created");
        journal.append(&Record::Committed).expect("appended");
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(br#"{"op":"move","fr"#).expect("torn write");
        assert_eq!(read(&path).expect("read"), vec![Record::Committed]);
    }

    #[test]
    fn undo_move_works_before_and_after_the_rename() {
        let directory = tempfile::tempdir().expect("temp dir");
        let (from, to) = (directory.path().join("a"), directory.path().join("b"));
        fs::write(&from, b"x").expect("write");
        undo_move(&from, &to).expect("nothing to undo");
        assert!(from.exists());
        fs::rename(&from, &to).expect("rename");
        undo_move(&from, &to).expect("undo");
        assert!(from.exists() && !to.exists());
    }

    #[test]
    fn only_one_journal_at_a_time() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("journal");
        let _first = Journal::create(&path).expect("created");
        assert!(Journal::create(&path).is_err());
    }
}
