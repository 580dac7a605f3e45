//! A utmp file of our own, so an agent under test sees a user signed in on a test display
//! (the agent's `run --utmp`) without touching the system's.

use std::path::Path;

/// Bytes of one glibc `struct utmp` record on 64-bit Linux.
const RECORD: usize = 384;
/// `ut_type` of a signed-in user's process.
const USER_PROCESS: i16 = 7;

/// Writes a utmp file at `path` holding one graphical session: `user` on `display`.
pub fn write_session(path: &Path, user: &str, display: &str) {
    let mut record = vec![0u8; RECORD];
    record[0..2].copy_from_slice(&USER_PROCESS.to_ne_bytes());
    record[4..8].copy_from_slice(&std::process::id().to_ne_bytes());
    put(&mut record[8..40], display);
    put(&mut record[44..76], user);
    // A graphical session records its X display as the host.
    put(&mut record[76..332], display);
    std::fs::write(path, record).expect("writing the test utmp file");
}

fn put(field: &mut [u8], text: &str) {
    let bytes = text.as_bytes();
    assert!(
        bytes.len() < field.len(),
        "{text:?} does not fit a utmp field"
    );
    field[..bytes.len()].copy_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use hotline_agent::inventory::platform_with_utmp;

    use super::*;

    #[test]
    fn the_agent_reads_the_session_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("utmp");
        write_session(&path, "alice", ":42");
        let sessions = platform_with_utmp(&path).collect().sessions;
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].user, "alice");
        assert_eq!(sessions[0].display.as_deref(), Some(":42"));
    }
}
