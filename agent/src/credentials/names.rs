//! Account names as the console sends them: hostile until checked. A name reaches the
//! system tools only through [`AccountName`], which refuses what those tools would misread
//! (`:` separates fields in `chpasswd`'s input and in /etc/passwd, a newline starts another
//! record, a leading `-` is an option).

use std::fmt;

/// Longest local account name on Linux (`LOGIN_NAME_MAX` less the NUL is larger, but
/// `useradd` caps names at 32).
pub(crate) const MAX_NAME: usize = 32;

/// A syntactically valid local account name. It says nothing about whether the account
/// exists.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AccountName(String);

impl AccountName {
    /// Checks `text`, returning the refusal the analyst sees.
    pub fn parse(text: &str) -> Result<AccountName, String> {
        let shown: String = text.chars().take(MAX_NAME).collect();
        if text.contains(':') || text.contains('\n') || text.contains('\r') {
            return Err(format!(
                "account name {shown:?} contains ':' or a line break, which the system's \
                 account files cannot hold"
            ));
        }
        if text.is_empty() || text.len() > MAX_NAME {
            return Err(format!("account name must be 1 to {MAX_NAME} bytes long"));
        }
        let first_ok = text
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
        let rest_ok = text.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'_' | b'-' | b'.')
                || (b == b'$' && i == text.len() - 1)
        });
        if !first_ok || !rest_ok {
            return Err(format!(
                "account name {shown:?} is not a valid local account name"
            ));
        }
        Ok(AccountName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_options_are_refused() {
        for name in [
            "alice:x",
            "alice\n",
            "bob\nroot:",
            "",
            "-oalice",
            "Alice",
            "a b",
            "ålice",
            &"a".repeat(33),
        ] {
            assert!(AccountName::parse(name).is_err(), "{name:?} accepted");
        }
        let refusal = AccountName::parse("eve:0").unwrap_err();
        assert!(refusal.contains("':'"), "{refusal}");
    }

    #[test]
    fn ordinary_names_pass() {
        for name in ["alice", "j.doe", "_svc", "build-01", "host$"] {
            assert_eq!(AccountName::parse(name).map(|n| n.0), Ok(name.to_owned()));
        }
    }
}
