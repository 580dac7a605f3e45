//! The device's credential policy: whether system accounts may be reset and when the
//! signed-in user is asked first. Read from `STATE/credentials.json` when present; the
//! defaults apply otherwise.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

/// The file name inside the state directory.
pub const POLICY_FILE: &str = "credentials.json";

/// When the person at the device must allow a reset first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentRule {
    /// Ask when the account's own user is signed in; no prompt when they are not.
    #[default]
    WhenSignedIn,
    /// Always ask; with nobody signed in to answer, the reset is refused.
    Always,
    /// Never ask.
    Never,
}

/// What the device allows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CredentialPolicy {
    /// Allow resetting system accounts (uid below 1000 or no login shell). Root never.
    pub allow_system_accounts: bool,
    pub consent: ConsentRule,
    /// How long the prompt waits for an answer before it counts as a refusal.
    pub consent_timeout_secs: u64,
}

impl Default for CredentialPolicy {
    fn default() -> CredentialPolicy {
        CredentialPolicy {
            allow_system_accounts: false,
            consent: ConsentRule::WhenSignedIn,
            consent_timeout_secs: 60,
        }
    }
}

impl CredentialPolicy {
    /// Reads the policy of the state directory `state`, or the defaults when it has none.
    // FIXME: the policy is a local file; setting it from the console (the `policy.set`
    // action) needs its own signed message and is not built yet.
    pub fn load(state: &Path) -> Result<CredentialPolicy> {
        let path = state.join(POLICY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("reading the credential policy {}", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Ok(CredentialPolicy::default())
            }
            Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn consent_timeout(&self) -> Duration {
        Duration::from_secs(self.consent_timeout_secs.clamp(5, 600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_gives_the_defaults_and_a_file_overrides_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            CredentialPolicy::load(dir.path()).expect("loads"),
            CredentialPolicy::default()
        );
        std::fs::write(
            dir.path().join(POLICY_FILE),
            r#"{"allow_system_accounts": true, "consent": "never"}"#,
        )
        .expect("written");
        let policy = CredentialPolicy::load(dir.path()).expect("loads");
        assert!(policy.allow_system_accounts);
        assert_eq!(policy.consent, ConsentRule::Never);
        std::fs::write(dir.path().join(POLICY_FILE), r#"{"consent": "sometimes"}"#)
            .expect("written");
        assert!(CredentialPolicy::load(dir.path()).is_err());
    }
}
