//! Refusals that are the request's fault rather than the console's: the API answers them
//! with 404, 409 or 422 and their message; the CLI prints the message.

/// A request refused by a rule of the domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Input that breaks a rule (length, range, unknown name).
    #[error("{0}")]
    Invalid(String),
    /// The thing named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The thing is in a state that does not allow the request.
    #[error("{0}")]
    Conflict(String),
}

/// Shorthand for `Err(Rejected::Invalid(..).into())`.
pub fn invalid<T>(message: impl Into<String>) -> anyhow::Result<T> {
    Err(Rejected::Invalid(message.into()).into())
}

pub fn not_found<T>(message: impl Into<String>) -> anyhow::Result<T> {
    Err(Rejected::NotFound(message.into()).into())
}

pub fn conflict<T>(message: impl Into<String>) -> anyhow::Result<T> {
    Err(Rejected::Conflict(message.into()).into())
}
