//! Tickets: the record every privileged action hangs on. Storage is in `store/tickets.rs`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest ticket title, caller name, caller contact and external reference.
pub const MAX_FIELD_LEN: usize = 200;
/// Longest note or resolution.
pub const MAX_NOTE_LEN: usize = 10_000;
/// Most devices on one ticket.
pub const MAX_DEVICES: usize = 50;

/// A ticket's number, as analysts quote it on the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketNumber(pub i64);

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for TicketNumber {
    type Err = String;

    fn from_str(text: &str) -> Result<TicketNumber, String> {
        let text = text.trim_start_matches('#');
        match text.parse::<i64>() {
            Ok(n) if n > 0 => Ok(TicketNumber(n)),
            _ => Err(format!(
                "invalid ticket number {:?}",
                text.chars().take(30).collect::<String>()
            )),
        }
    }
}

/// Where a ticket stands. `new`, `open` and `waiting` are open: privileged actions may hang
/// on them. `resolved` and `closed` are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    New,
    Open,
    Waiting,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Open,
        Status::Waiting,
        Status::Resolved,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Waiting => "waiting",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::Open | Status::Waiting)
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(text: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown status {:?}: expected new, open, waiting, resolved or closed",
                    text.chars().take(30).collect::<String>()
                )
            })
    }
}

/// The caller who phoned in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub name: String,
    pub contact: String,
}

/// A ticket as the API, the CLI and the export show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ticket {
    pub number: TicketNumber,
    pub title: String,
    pub status: Status,
    pub priority: u8,
    pub caller: Caller,
    pub devices: Vec<String>,
    pub assignee: Option<String>,
    pub external_ref: Option<String>,
    pub resolution: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
}

/// Checks a priority: 1 (most urgent) to 4.
pub fn priority(value: i64) -> Result<u8, String> {
    u8::try_from(value)
        .ok()
        .filter(|p| (1..=4).contains(p))
        .ok_or_else(|| format!("priority {value} is out of range 1-4"))
}

/// Checks a note or resolution text: not blank, at most `MAX_NOTE_LEN` characters, no control
/// characters other than line breaks and tabs.
pub fn note_text(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("note text is empty".to_owned());
    }
    if text.chars().count() > MAX_NOTE_LEN {
        return Err(format!(
            "note text is longer than {MAX_NOTE_LEN} characters"
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("note text contains control characters".to_owned());
    }
    Ok(text.trim_end().replace("\r\n", "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_statuses_and_priorities_parse() {
        assert_eq!("#12".parse::<TicketNumber>(), Ok(TicketNumber(12)));
        assert!("0".parse::<TicketNumber>().is_err());
        assert!("waiting".parse::<Status>().is_ok_and(Status::is_open));
        assert!(!Status::Resolved.is_open());
        assert_eq!(priority(4), Ok(4));
        assert!(priority(5).is_err());
    }

    #[test]
    fn notes_are_capped() {
        assert!(note_text(&"x".repeat(MAX_NOTE_LEN + 1)).is_err());
        assert!(note_text("line\nline\tx").is_ok());
        assert!(note_text("bell\u{7}").is_err());
    }
}
