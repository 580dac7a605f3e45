//! The names an admin gives: tags and group names. Both are checked here, once, so that the
//! store, the CLI and the API only ever hold names that are safe in a URL path, a shell
//! argument and a terminal.

use std::fmt;
use std::str::FromStr;

use crate::rejected::Rejected;

/// Longest tag or group name, in characters.
pub(super) const MAX_NAME: usize = 32;

/// Checks `text` as a `kind` name: 1 to [`MAX_NAME`] characters of `a-z`, `0-9` and `-`,
/// starting with a letter or digit.
fn check(kind: &str, text: &str) -> Result<(), Rejected> {
    let shaped = !text.is_empty()
        && text.len() <= MAX_NAME
        && !text.starts_with('-')
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if shaped {
        return Ok(());
    }
    let shown: String = text.chars().take(MAX_NAME + 8).collect();
    Err(Rejected::Invalid(format!(
        "{kind} {shown:?} is not 1 to {MAX_NAME} characters of a-z, 0-9 and '-' \
         starting with a letter or digit"
    )))
}

/// A label on devices, such as `lab` or `floor-3`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

/// The name of a device group, such as `berlin-office`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupName(String);

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl GroupName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = Rejected;

    fn from_str(text: &str) -> Result<Tag, Rejected> {
        check("tag", text).map(|()| Tag(text.to_owned()))
    }
}

impl FromStr for GroupName {
    type Err = Rejected;

    fn from_str(text: &str) -> Result<GroupName, Rejected> {
        check("group name", text).map(|()| GroupName(text.to_owned()))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_lowercase_letters_digits_and_dashes() {
        for good in ["lab", "floor-3", "a", "0ffice", &"x".repeat(MAX_NAME)] {
            assert!(good.parse::<Tag>().is_ok(), "{good}");
            assert!(good.parse::<GroupName>().is_ok(), "{good}");
        }
        let long = "x".repeat(MAX_NAME + 1);
        for bad in [
            "",
            "Lab",
            "-lab",
            "a b",
            "a_b",
            "caf\u{e9}",
            "a/b",
            "x\n",
            &long,
        ] {
            assert!(bad.parse::<Tag>().is_err(), "{bad:?}");
            assert!(bad.parse::<GroupName>().is_err(), "{bad:?}");
        }
    }
}
