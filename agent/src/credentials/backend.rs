//! The interface every platform's account backend implements, so that the request handling
//! in `handler.rs` holds no platform code. Linux is in `linux.rs`; Windows comes later behind
//! the same trait.

use hotline_protocol::credentials::TemporaryPassword;

use super::names::AccountName;

/// A local account as the platform's account database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub name: String,
    pub uid: u32,
    pub full_name: String,
    /// Whether the account can log in interactively (Linux: its shell is in /etc/shells).
    pub login_shell: bool,
}

/// Where an account stands right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountStatus {
    /// Locked by an administrator.
    pub locked: bool,
    /// Failed logins counted against the account.
    pub failed_logins: u32,
    /// The user must choose a new password at the next login.
    pub must_change: bool,
}

/// A system tool or file failed. The detail never holds the password: the Linux backend
/// scrubs it from whatever a tool printed before building this.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{tool} failed: {detail}")]
    Tool { tool: &'static str, detail: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A platform's local accounts. Calls block (they run system tools); call them from
/// `spawn_blocking`.
pub trait AccountBackend: Send + Sync {
    /// Every local account, human or not.
    fn accounts(&self) -> Result<Vec<AccountRecord>, BackendError>;

    fn status(&self, name: &AccountName) -> Result<AccountStatus, BackendError>;

    /// Sets the password. On Linux this also clears an administrator's lock, which is why
    /// the handler locks again afterwards unless unlock was asked.
    fn set_password(
        &self,
        name: &AccountName,
        password: &TemporaryPassword,
    ) -> Result<(), BackendError>;

    /// Makes the user choose a new password at the next login.
    fn require_change(&self, name: &AccountName) -> Result<(), BackendError>;

    /// Sets an administrator's lock.
    fn lock(&self, name: &AccountName) -> Result<(), BackendError>;

    /// Clears an administrator's lock.
    fn unlock(&self, name: &AccountName) -> Result<(), BackendError>;

    /// Clears the failed-login count that locks an account out.
    fn clear_failures(&self, name: &AccountName) -> Result<(), BackendError>;
}
