//! Credential requests from the console and the device's replies: list the device's local
//! human accounts, or reset one (a new temporary password, an unlock, a forced change at the
//! next login).
//!
//! A request is a privileged command: it carries a random id and an expiry and names the
//! device and the ticket it was authorised for, so that the agent can refuse one that is
//! replayed, stale, or meant for another device. The temporary password exists in exactly one
//! message, the reply to the request that made it; [`TemporaryPassword`] never shows it in
//! `Debug` output, so a log line that prints a message prints no secret.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::ids::DeviceId;
use crate::inventory::MAX_TEXT;

/// Bytes of a request id.
pub const REQUEST_ID_LEN: usize = 16;
/// Shortest temporary password the agent makes, whatever a request asks for.
pub const MIN_PASSWORD_LEN: u8 = 15;
/// Length of a temporary password unless a request asks for another.
pub const DEFAULT_PASSWORD_LEN: u8 = 16;
/// Longest temporary password the agent makes.
pub const MAX_PASSWORD_LEN: u8 = 64;
/// Furthest in the future a request may expire, in milliseconds. The agent remembers each
/// id until its request expires, so this bounds that memory; the console's requests expire
/// well within it.
pub const MAX_REQUEST_LIFETIME_MS: i64 = 5 * 60 * 1000;
/// Most accounts one reply lists.
pub const MAX_ACCOUNTS: usize = 512;
/// Longest account name, in bytes (Linux allows 32; Windows 20 characters).
pub const MAX_ACCOUNT_NAME: usize = 64;

/// A request's unique id, chosen at random by the console.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId(pub [u8; REQUEST_ID_LEN]);

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({self})")
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// What the analyst asks of an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetOptions {
    /// Set a new temporary password.
    pub new_password: bool,
    /// Clear failed-login lockouts and an administrator's lock.
    pub unlock: bool,
    /// Make the user choose a new password at the next login.
    pub require_change: bool,
    /// Length of the temporary password; the agent never goes below [`MIN_PASSWORD_LEN`].
    pub length: u8,
}

impl Default for ResetOptions {
    fn default() -> ResetOptions {
        ResetOptions {
            new_password: true,
            unlock: false,
            require_change: true,
            length: DEFAULT_PASSWORD_LEN,
        }
    }
}

/// The operation a request asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredentialOperation {
    /// List the device's local human accounts.
    ListAccounts,
    /// Reset one account.
    Reset {
        account: String,
        options: ResetOptions,
    },
}

/// A credential command from the console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRequest {
    pub id: RequestId,
    /// The device the console authorised this for; the agent refuses any other.
    pub device: DeviceId,
    /// After this time (milliseconds since the Unix epoch) the agent refuses the request.
    pub expires_at_ms: i64,
    /// The open ticket the request was authorised on.
    pub ticket: u64,
    /// The analyst who asked, as the console names them (for the audit and the prompt).
    pub analyst: String,
    pub operation: CredentialOperation,
}

/// A local account as the agent reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalAccount {
    pub name: String,
    pub uid: u32,
    /// The full name from the account's comment field, possibly empty.
    pub full_name: String,
    /// Locked by an administrator (Linux: the password hash starts with `!`).
    pub locked: bool,
    /// Failed logins currently counted against the account (Linux: faillock).
    pub failed_logins: u32,
    /// The user must change the password at the next login.
    pub must_change: bool,
    /// The account's user is signed in to the device right now.
    pub signed_in: bool,
}

/// A temporary password. `Debug` and `Display` are redacted, so that the secret only ever
/// leaves through [`TemporaryPassword::expose`], at the one place that must show it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TemporaryPassword(String);

impl TemporaryPassword {
    pub fn new(secret: String) -> TemporaryPassword {
        TemporaryPassword(secret)
    }

    /// The password itself, for showing it to the analyst once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TemporaryPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TemporaryPassword(<redacted>)")
    }
}

impl Drop for TemporaryPassword {
    fn drop(&mut self) {
        // Overwrite the bytes before the allocation is freed, so that the secret does not
        // linger in freed memory, nor in a later core dump.
        self.0.zeroize();
    }
}

/// What a reset did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetDone {
    /// The new temporary password, when one was asked for.
    pub temporary_password: Option<TemporaryPassword>,
    /// Whether the account is locked now (it stays locked unless unlock was asked).
    pub locked: bool,
    /// Failed logins cleared by the unlock.
    pub cleared_failures: u32,
    /// Whether the user must change the password at the next login.
    pub must_change: bool,
}

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredentialOutcome {
    Accounts(Vec<LocalAccount>),
    Reset(ResetDone),
    /// Not attempted; the reason says why (unknown account, root, no consent ...).
    Refused(String),
    /// Attempted and failed; the reason says where.
    Failed(String),
}

/// The device's reply to one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialReply {
    pub id: RequestId,
    pub outcome: CredentialOutcome,
}

/// A reply over its limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialLimitError {
    #[error("too many accounts: {0} > {MAX_ACCOUNTS}")]
    TooManyAccounts(usize),
    #[error("{field} too long: {len} > {limit} bytes")]
    TooLong {
        field: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("temporary password of {0} characters is outside 15-64")]
    PasswordLength(usize),
}

fn check_len(field: &'static str, text: &str, limit: usize) -> Result<(), CredentialLimitError> {
    if text.len() > limit {
        return Err(CredentialLimitError::TooLong {
            field,
            len: text.len(),
            limit,
        });
    }
    Ok(())
}

impl CredentialReply {
    /// Checks every count and length a device controls, before the console acts on it.
    pub fn check_limits(&self) -> Result<(), CredentialLimitError> {
        match &self.outcome {
            CredentialOutcome::Accounts(accounts) => {
                if accounts.len() > MAX_ACCOUNTS {
                    return Err(CredentialLimitError::TooManyAccounts(accounts.len()));
                }
                for account in accounts {
                    check_len("account name", &account.name, MAX_ACCOUNT_NAME)?;
                    check_len("full name", &account.full_name, MAX_TEXT)?;
                }
                Ok(())
            }
            CredentialOutcome::Reset(done) => match &done.temporary_password {
                Some(password) => {
                    let len = password.expose().len();
                    let allowed = usize::from(MIN_PASSWORD_LEN)..=usize::from(MAX_PASSWORD_LEN);
                    if allowed.contains(&len) {
                        Ok(())
                    } else {
                        Err(CredentialLimitError::PasswordLength(len))
                    }
                }
                None => Ok(()),
            },
            CredentialOutcome::Refused(reason) | CredentialOutcome::Failed(reason) => {
                check_len("reason", reason, MAX_TEXT)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_password() {
        let reply = CredentialReply {
            id: RequestId([1; REQUEST_ID_LEN]),
            outcome: CredentialOutcome::Reset(ResetDone {
                temporary_password: Some(TemporaryPassword::new("canary-XK4Zq9wTtB7e".into())),
                locked: false,
                cleared_failures: 0,
                must_change: true,
            }),
        };
        let shown = format!("{reply:?} {reply:#?}");
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn replies_over_their_limits_are_refused() {
        let long = |n| CredentialReply {
            id: RequestId([0; REQUEST_ID_LEN]),
            outcome: CredentialOutcome::Reset(ResetDone {
                temporary_password: Some(TemporaryPassword::new("x".repeat(n))),
                locked: false,
                cleared_failures: 0,
                must_change: false,
            }),
        };
        assert!(long(14).check_limits().is_err());
        assert!(long(15).check_limits().is_ok());
        assert!(long(65).check_limits().is_err());
        let many = CredentialReply {
            id: RequestId([0; REQUEST_ID_LEN]),
            outcome: CredentialOutcome::Accounts(vec![
                LocalAccount {
                    name: "a".into(),
                    uid: 1000,
                    full_name: String::new(),
                    locked: false,
                    failed_logins: 0,
                    must_change: false,
                    signed_in: false,
                };
                MAX_ACCOUNTS + 1
            ]),
        };
        assert_eq!(
            many.check_limits(),
            Err(CredentialLimitError::TooManyAccounts(MAX_ACCOUNTS + 1))
        );
    }
}
