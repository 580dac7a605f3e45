//! The agent's X11 platform code shared by the consent prompt, the session bar, capture and
//! input: opening the signed-in user's display with that user's X authority, and refusing
//! what this backend cannot serve (nobody signed in, a Wayland session) with a reason the
//! analyst can read.

mod xauth;

use x11rb::errors::ConnectError;
use x11rb::reexports::x11rb_protocol::parse_display::parse_display;
use x11rb::rust_connection::{DefaultStream, RustConnection};

/// Why a display could not be opened. The messages go to the analyst as they are.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("nobody is signed in on display {0}")]
    NoUser(String),
    #[error("the session of {0} has no display")]
    NoDisplay(String),
    #[error("display {0} is a Wayland session; this agent shows prompts on X11 only")]
    Wayland(String),
    #[error("user {user} is not a local account")]
    UnknownUser { user: String },
    #[error("cannot open X display {display}: {error}")]
    Open {
        display: String,
        #[source]
        error: ConnectError,
    },
}

/// An open connection and the number of its default screen.
pub type Display = (RustConnection, usize);

/// Opens `display` for `user`. When the agent runs as `user` it connects as any X client of
/// that user does (`XAUTHORITY`, then `~/.Xauthority`); otherwise (the agent as root) it
/// presents the cookie from the user's own authority file.
pub fn open(user: &str, display: &str) -> Result<Display, OpenError> {
    if user.is_empty() {
        return Err(OpenError::NoUser(display.to_owned()));
    }
    if display.is_empty() {
        return Err(OpenError::NoDisplay(user.to_owned()));
    }
    if is_wayland(display) {
        return Err(OpenError::Wayland(display.to_owned()));
    }
    let account = xauth::account(user).ok_or_else(|| OpenError::UnknownUser {
        user: user.to_owned(),
    })?;
    let failed = |error: ConnectError| OpenError::Open {
        display: display.to_owned(),
        error,
    };

    if account.uid == rustix::process::getuid().as_raw() {
        return x11rb::connect(Some(display)).map_err(failed);
    }
    connect_as(&account, display).map_err(failed)
}

/// Opens `display` for `user` as [`open`] does, or, with no user (an unattended session on a
/// display nobody is signed in to), as this process's own X client would.
pub fn open_as(user: Option<&str>, display: &str) -> Result<Display, OpenError> {
    if let Some(user) = user {
        return open(user, display);
    }
    if is_wayland(display) {
        return Err(OpenError::Wayland(display.to_owned()));
    }
    x11rb::connect(Some(display)).map_err(|error| OpenError::Open {
        display: display.to_owned(),
        error,
    })
}

/// A Wayland socket name (`wayland-0`) rather than an X display (`:0`, `host:0`).
fn is_wayland(display: &str) -> bool {
    display.starts_with("wayland") || !display.contains(':')
}

/// Connects to `display` presenting `account`'s cookie, trying each address the display name
/// resolves to the way x11rb's own `connect` does.
fn connect_as(account: &xauth::Account, display: &str) -> Result<Display, ConnectError> {
    let parsed = parse_display(Some(display))?;
    let authority = xauth::authority_file(account, display);
    let mut last_error = ConnectError::IoError(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "no address to connect to",
    ));
    for address in parsed.connect_instruction() {
        let (stream, (family, peer)) = match DefaultStream::connect(&address) {
            Ok(connected) => connected,
            Err(error) => {
                last_error = ConnectError::IoError(error);
                continue;
            }
        };
        let (name, data) =
            match xauth::cookie(&authority, account.uid, family, &peer, parsed.display) {
                Some(cookie) => (b"MIT-MAGIC-COOKIE-1".to_vec(), cookie),
                None => (Vec::new(), Vec::new()),
            };
        let screen = usize::from(parsed.screen);
        return RustConnection::connect_to_stream_with_auth_info(stream, screen, name, data)
            .map(|connection| (connection, screen));
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_reason() {
        let error = open("", ":0").expect_err("nobody signed in");
        assert_eq!(error.to_string(), "nobody is signed in on display :0");
        let error = open("alice", "").expect_err("no display");
        assert_eq!(error.to_string(), "the session of alice has no display");
        let error = open("alice", "wayland-0").expect_err("wayland");
        assert!(error.to_string().contains("Wayland"));
        let error = open("no-such-user-here", ":0").expect_err("unknown user");
        assert!(error.to_string().contains("no-such-user-here"));
    }
}
