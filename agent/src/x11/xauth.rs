//! Finding and reading the X authority of the user whose display the agent draws on.
//!
//! The agent usually runs as root while the display belongs to the signed-in user, whose X
//! server only admits clients that present the user's cookie. The cookie lives in the file
//! the user's session names in `XAUTHORITY`, or in `~/.Xauthority`. That path is chosen by the
//! user, so the file is only read when it belongs to the user: root must not be tricked into
//! sending the bytes of a file the user could not read to a server the user controls.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use x11rb::reexports::x11rb_protocol::xauth::Family;

/// Largest authority file read; real ones hold a few entries of under 100 bytes each.
const MAX_AUTHORITY_FILE: u64 = 64 * 1024;
/// Largest process environment read while looking for `XAUTHORITY`.
const MAX_ENVIRON: u64 = 256 * 1024;
/// The only authorisation protocol X servers still offer.
const MIT_MAGIC_COOKIE: &[u8] = b"MIT-MAGIC-COOKIE-1";

/// A local account, as far as the prompt needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub(crate) uid: u32,
    pub(crate) home: PathBuf,
}

/// Looks `user` up in /etc/passwd.
// FIXME: accounts from NSS sources other than /etc/passwd (LDAP, SSSD) are not found; that
// needs getpwnam, which the agent avoids until it has a platform module for accounts.
pub(crate) fn account(user: &str) -> Option<Account> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 7 || fields[0] != user {
            return None;
        }
        Some(Account {
            uid: fields[2].parse().ok()?,
            home: PathBuf::from(fields[5]),
        })
    })
}

/// The authority file `account`'s session uses for `display`: the `XAUTHORITY` of one of the
/// user's processes running on that display, else `~/.Xauthority`.
pub(crate) fn authority_file(account: &Account, display: &str) -> PathBuf {
    session_authority(account.uid, display).unwrap_or_else(|| account.home.join(".Xauthority"))
}

/// Scans /proc for a process of `uid` whose `DISPLAY` is `display` and returns its
/// `XAUTHORITY`.
fn session_authority(uid: u32, display: &str) -> Option<PathBuf> {
    let wanted = display_number(display)?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let owned = entry.metadata().map(|m| m.uid() == uid).unwrap_or(false);
        if !owned
            || !entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let mut environ = Vec::new();
        let read = File::open(entry.path().join("environ"))
            .and_then(|file| file.take(MAX_ENVIRON).read_to_end(&mut environ));
        if read.is_err() {
            continue;
        }
        let mut same_display = false;
        let mut authority = None;
        for variable in environ.split(|&byte| byte == 0) {
            if let Some(value) = variable.strip_prefix(b"DISPLAY=") {
                same_display = display_number(&String::from_utf8_lossy(value)) == Some(wanted);
            } else if let Some(value) = variable.strip_prefix(b"XAUTHORITY=") {
                authority = Some(PathBuf::from(String::from_utf8_lossy(value).into_owned()));
            }
        }
        if same_display && authority.is_some() {
            return authority;
        }
    }
    None
}

/// The display number of `:0`, `:0.0` or `host:1`.
pub(crate) fn display_number(display: &str) -> Option<u16> {
    let (_, after) = display.rsplit_once(':')?;
    after.split('.').next()?.parse().ok()
}

/// Reads `path` if it is a regular file owned by `uid`, and returns the MIT cookie for the
/// display `number` reached through `family` and `address` (as the X connection reports its
/// peer). `None` when there is no such file or entry: the connection then tries without.
pub(crate) fn cookie(
    path: &Path,
    uid: u32,
    family: Family,
    address: &[u8],
    number: u16,
) -> Option<Vec<u8>> {
    let file = File::open(path).ok()?;
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() || metadata.uid() != uid {
        tracing::debug!(path = %path.display(), "X authority file not owned by the user; not read");
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_AUTHORITY_FILE).read_to_end(&mut bytes).ok()?;
    find_cookie(&bytes, family, address, number)
}

/// Walks the entries of an authority file: each is a big-endian u16 family, then address,
/// display number, protocol name and data, each a big-endian u16 length and its bytes.
fn find_cookie(mut bytes: &[u8], family: Family, address: &[u8], number: u16) -> Option<Vec<u8>> {
    let number = number.to_string();
    while !bytes.is_empty() {
        let entry_family = Family::from(take_u16(&mut bytes)?);
        let entry_address = take_field(&mut bytes)?;
        let entry_number = take_field(&mut bytes)?;
        let name = take_field(&mut bytes)?;
        let data = take_field(&mut bytes)?;

        let address_matches =
            entry_family == Family::WILD || (entry_family == family && entry_address == address);
        let number_matches = entry_number.is_empty() || entry_number == number.as_bytes();
        if address_matches && number_matches && name == MIT_MAGIC_COOKIE {
            return Some(data.to_vec());
        }
    }
    None
}

fn take_u16(bytes: &mut &[u8]) -> Option<u16> {
    let (head, rest) = bytes.split_first_chunk::<2>()?;
    *bytes = rest;
    Some(u16::from_be_bytes(*head))
}

fn take_field<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::from(take_u16(bytes)?);
    if bytes.len() < len {
        return None;
    }
    let (field, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(family: u16, address: &[u8], number: &[u8], name: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = family.to_be_bytes().to_vec();
        for field in [address, number, name, data] {
            out.extend_from_slice(&u16::try_from(field.len()).expect("short").to_be_bytes());
            out.extend_from_slice(field);
        }
        out
    }

    #[test]
    fn finds_the_cookie_for_the_local_display() {
        let mut file = entry(256, b"other", b"0", MIT_MAGIC_COOKIE, b"wrong-host");
        file.extend(entry(
            256,
            b"desk",
            b"1",
            MIT_MAGIC_COOKIE,
            b"wrong-display",
        ));
        file.extend(entry(256, b"desk", b"0", MIT_MAGIC_COOKIE, b"right"));
        let found = find_cookie(&file, Family::LOCAL, b"desk", 0);
        assert_eq!(found.as_deref(), Some(&b"right"[..]));
    }

    #[test]
    fn a_truncated_file_yields_nothing() {
        let file = entry(256, b"desk", b"0", MIT_MAGIC_COOKIE, b"cookie");
        assert_eq!(
            find_cookie(&file[..file.len() - 1], Family::LOCAL, b"desk", 0),
            None
        );
    }

    #[test]
    fn display_numbers() {
        assert_eq!(display_number(":0"), Some(0));
        assert_eq!(display_number(":12.0"), Some(12));
        assert_eq!(display_number("host:3"), Some(3));
        assert_eq!(display_number("wayland-0"), None);
    }

    #[test]
    fn a_file_of_another_owner_is_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("Xauthority");
        std::fs::write(&path, entry(65535, b"", b"", MIT_MAGIC_COOKIE, b"c")).expect("write");
        let owner = std::fs::metadata(&path).expect("metadata").uid();
        assert!(cookie(&path, owner, Family::LOCAL, b"x", 0).is_some());
        assert!(cookie(&path, owner.wrapping_add(1), Family::LOCAL, b"x", 0).is_none());
    }
}
