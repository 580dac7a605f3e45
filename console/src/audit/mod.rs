//! The audit trail's vocabulary: who did what, to which device, for which ticket, with what
//! outcome. Entries are appended to a hash chain by the store (`store/audit.rs`); the bytes
//! each hash covers are defined in `canonical.rs`; `feed.rs` pushes new entries to live
//! viewers.

mod canonical;
mod feed;

use std::fmt;
use std::str::FromStr;

use hotline_protocol::DeviceId;
use serde::{Deserialize, Serialize};

pub use canonical::{GENESIS, canonical_bytes, entry_hash};
pub use feed::{Feed, TimelineItem};

use crate::accounts::AccountName;
use crate::tickets::TicketNumber;

/// Longest `params` JSON text an entry may carry; callers summarise rather than dump.
pub const MAX_PARAMS_BYTES: usize = 8 * 1024;
/// Longest action name and reason.
pub const MAX_ACTION_LEN: usize = 64;
pub const MAX_REASON_LEN: usize = 1000;

/// Who acted. Written into the chain as its text form (`analyst:alice`, `device:…`,
/// `system`, `cli:root`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Actor {
    Analyst(AccountName),
    Device(DeviceId),
    System,
    /// An operator on the console host using the CLI, named by their OS user.
    Cli(String),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Analyst(name) => write!(f, "analyst:{name}"),
            Actor::Device(id) => write!(f, "device:{id}"),
            Actor::System => f.write_str("system"),
            Actor::Cli(user) => write!(f, "cli:{user}"),
        }
    }
}

impl From<Actor> for String {
    fn from(actor: Actor) -> String {
        actor.to_string()
    }
}

impl FromStr for Actor {
    type Err = String;

    fn from_str(text: &str) -> Result<Actor, String> {
        let invalid = || {
            format!(
                "invalid actor {:?}",
                text.chars().take(80).collect::<String>()
            )
        };
        match text.split_once(':') {
            None if text == "system" => Ok(Actor::System),
            Some(("analyst", name)) => name.parse().map(Actor::Analyst).map_err(|_| invalid()),
            Some(("device", id)) => id.parse().map(Actor::Device).map_err(|_| invalid()),
            Some(("cli", user)) if !user.is_empty() && user.len() <= 64 => {
                Ok(Actor::Cli(user.to_owned()))
            }
            _ => Err(invalid()),
        }
    }
}

impl TryFrom<String> for Actor {
    type Error = String;

    fn try_from(text: String) -> Result<Actor, String> {
        text.parse()
    }
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Refused(String),
    Failed(String),
}

impl Outcome {
    /// The outcome's name as stored: `ok`, `refused` or `failed`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused(_) => "refused",
            Outcome::Failed(_) => "failed",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Ok => None,
            Outcome::Refused(reason) | Outcome::Failed(reason) => Some(reason),
        }
    }

    /// Rebuilds an outcome from its stored columns.
    pub fn from_parts(name: &str, reason: Option<String>) -> Outcome {
        match name {
            "ok" => Outcome::Ok,
            "refused" => Outcome::Refused(reason.unwrap_or_default()),
            _ => Outcome::Failed(reason.unwrap_or_default()),
        }
    }
}

/// An entry to append. `params` must never hold a secret (passwords, tokens, keys).
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub actor: Actor,
    /// A dotted verb: `ticket.note`, `session.request`, `credential.reset`, `agent.started`.
    pub action: String,
    pub params: serde_json::Value,
    pub device: Option<DeviceId>,
    pub ticket: Option<TicketNumber>,
    pub outcome: Outcome,
    /// When it happened, in milliseconds since the Unix epoch; `None` means now. Agents'
    /// entries carry their own time.
    pub at_ms: Option<i64>,
}

impl NewEntry {
    /// An entry with no device, no ticket, empty params and outcome ok, happening now.
    pub fn new(actor: Actor, action: &str) -> NewEntry {
        NewEntry {
            actor,
            action: action.to_owned(),
            params: serde_json::Value::Object(serde_json::Map::new()),
            device: None,
            ticket: None,
            outcome: Outcome::Ok,
            at_ms: None,
        }
    }

    pub fn params(mut self, params: serde_json::Value) -> NewEntry {
        self.params = params;
        self
    }

    pub fn ticket(mut self, ticket: Option<TicketNumber>) -> NewEntry {
        self.ticket = ticket;
        self
    }

    pub fn device(mut self, device: Option<DeviceId>) -> NewEntry {
        self.device = device;
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> NewEntry {
        self.outcome = outcome;
        self
    }
}

/// An entry as stored in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(with = "hex_hash")]
    pub prev_hash: [u8; 32],
    #[serde(with = "hex_hash")]
    pub hash: [u8; 32],
    pub actor: String,
    pub action: String,
    /// The parameters exactly as hashed (JSON text).
    #[serde(skip)]
    pub params_json: String,
    pub device: Option<String>,
    pub ticket: Option<i64>,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub at_ms: i64,
    pub recorded_at_ms: i64,
}

impl AuditRecord {
    /// The parameters as JSON (`null` if the stored text is not JSON, which only an edited
    /// database can produce; `audit verify` reports that).
    pub fn params(&self) -> serde_json::Value {
        serde_json::from_str(&self.params_json).unwrap_or(serde_json::Value::Null)
    }

    /// The entry as the JSON API, the export and the webhook show it.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        value["params"] = self.params();
        value["at"] = rfc3339_ms(self.at_ms).into();
        value["recorded_at"] = rfc3339_ms(self.recorded_at_ms).into();
        value
    }
}

/// Milliseconds since the epoch as an RFC 3339 UTC time.
pub fn rfc3339_ms(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

mod hex_hash {
    pub(super) fn serialize<S: serde::Serializer>(
        hash: &[u8; 32],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(hash))
    }
}
