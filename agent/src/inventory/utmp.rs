//! Signed-in users from the utmp file, parsed as bytes (no libc calls, so no unsafe).
//!
//! The record layout is glibc's `struct utmp` on 64-bit Linux: 384 bytes per record, with
//! 32-bit time fields for compatibility between 32- and 64-bit programs.

use std::path::Path;

use hotline_protocol::inventory::{MAX_TEXT, UserSession};

use super::capped;

const RECORD: usize = 384;
/// `ut_type` of a signed-in user's process.
const USER_PROCESS: i16 = 7;
/// Most records read, so that a corrupt or hostile file cannot make us read gigabytes.
const MAX_RECORDS: usize = 4096;

/// The user sessions in the utmp file at `path`; none when it is missing or unreadable.
pub(super) fn sessions(path: &Path) -> Vec<UserSession> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    bytes
        .chunks_exact(RECORD)
        .take(MAX_RECORDS)
        .filter_map(parse)
        .collect()
}

fn parse(record: &[u8]) -> Option<UserSession> {
    let kind = i16::from_ne_bytes([record[0], record[1]]);
    if kind != USER_PROCESS {
        return None;
    }
    let line = text(&record[8..40]);
    let user = text(&record[44..76]);
    let host = text(&record[76..332]);
    let since = i32::from_ne_bytes([record[340], record[341], record[342], record[343]]);
    if user.is_empty() {
        return None;
    }
    // Graphical sessions record their X display (":0") as the host.
    let display = host.starts_with(':').then(|| capped(&host, MAX_TEXT));
    Some(UserSession {
        user: capped(&user, MAX_TEXT),
        line: capped(&line, MAX_TEXT),
        display,
        since: i64::from(since),
    })
}

/// A NUL-padded C string field as text.
fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: i16, line: &str, user: &str, host: &str, since: i32) -> Vec<u8> {
        let mut bytes = vec![0u8; RECORD];
        bytes[0..2].copy_from_slice(&kind.to_ne_bytes());
        bytes[8..8 + line.len()].copy_from_slice(line.as_bytes());
        bytes[44..44 + user.len()].copy_from_slice(user.as_bytes());
        bytes[76..76 + host.len()].copy_from_slice(host.as_bytes());
        bytes[340..344].copy_from_slice(&since.to_ne_bytes());
        bytes
    }

    #[test]
    fn user_processes_are_sessions_and_the_rest_are_not() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("utmp");
        let mut bytes = record(2, "~", "reboot", "6.1.0", 1);
        bytes.extend(record(USER_PROCESS, "tty2", "alice", ":0", 1_700_000_000));
        bytes.extend(record(
            USER_PROCESS,
            "pts/1",
            "bob",
            "192.0.2.4",
            1_700_000_100,
        ));
        bytes.extend([1, 2, 3]); // a torn last record is ignored
        std::fs::write(&path, bytes).expect("write");

        let found = sessions(&path);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].user, "alice");
        assert_eq!(found[0].display.as_deref(), Some(":0"));
        assert_eq!(found[1].line, "pts/1");
        assert_eq!(found[1].display, None);
        assert_eq!(found[1].since, 1_700_000_100);
    }
}
