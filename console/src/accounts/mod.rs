//! Analyst accounts: validated names, roles, and password handling. Storage is in
//! `store/accounts.rs`; the rules on who may do what are in `authz.rs`.

mod password;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use password::{MIN_PASSWORD_LEN, hash_password, one_time_password, verify_password};

/// Longest display name, ticket title and similar one-line text.
pub const MAX_DISPLAY_NAME_LEN: usize = 100;

/// An account's login name: 1–64 characters from `[a-z0-9._-]`, starting with a letter or a
/// digit. Names are compared as given, so there is no case folding to get wrong.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountName(String);

impl AccountName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AccountName {
    type Err = String;

    fn from_str(text: &str) -> Result<AccountName, String> {
        let valid = (1..=64).contains(&text.len())
            && text
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && text.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if valid {
            Ok(AccountName(text.to_owned()))
        } else {
            Err(format!(
                "invalid user name {:?}: use 1-64 characters from a-z, 0-9, '.', '_' and '-'",
                text.chars().take(70).collect::<String>()
            ))
        }
    }
}

impl TryFrom<String> for AccountName {
    type Error = String;

    fn try_from(text: String) -> Result<AccountName, String> {
        text.parse()
    }
}

impl From<AccountName> for String {
    fn from(name: AccountName) -> String {
        name.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// What an account may do. An account holds any set of them; none implies another (an admin
/// manages accounts and devices but is not thereby an analyst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads tickets, devices and the audit trail.
    Viewer,
    /// Works tickets: creates, edits and notes them; remote sessions and credential resets on
    /// the devices of open tickets they may work on.
    Analyst,
    /// Publishes packages and deploys them.
    Deployer,
    /// Manages accounts, devices and policy.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Analyst, Role::Deployer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown role {:?}: expected viewer, analyst, deployer or admin",
                    text.chars().take(40).collect::<String>()
                )
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of roles.
pub type Roles = BTreeSet<Role>;

/// Checks a one-line human text (display name, title, caller name): trimmed, not empty, at
/// most `max` characters, no control characters. Returns the trimmed text.
pub fn one_line(field: &str, text: &str, max: usize) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if text.chars().count() > max {
        return Err(format!("{field} is longer than {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{field} contains control characters"));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_validated() {
        assert!("alice".parse::<AccountName>().is_ok());
        assert!("a.b-c_1".parse::<AccountName>().is_ok());
        for bad in ["", "Alice", "-x", "a b", "a:b", "é", &"a".repeat(65)] {
            assert!(bad.parse::<AccountName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles_parse_and_print() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn one_line_text_is_checked() {
        assert_eq!(
            one_line("title", "  printer  ", 10).as_deref(),
            Ok("printer")
        );
        assert!(one_line("title", " ", 10).is_err());
        assert!(one_line("title", "a\nb", 10).is_err());
        assert!(one_line("title", "abcdefghijk", 10).is_err());
    }
}
