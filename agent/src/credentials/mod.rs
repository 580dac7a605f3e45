//! Local credential resets on an analyst's request: list the device's human accounts, and
//! reset one (a generated temporary password, an unlock, a forced change at the next login).
//!
//! Every request is checked here before any system tool runs: not stale, not replayed, for
//! this device (`replay.rs`); a valid name (`names.rs`) of an existing account that is not
//! root and, unless the policy allows, not a system account; the consent of the signed-in
//! user when the policy asks for it. Each refusal and each reset is written to the audit log,
//! and a reset is written there before it starts. The temporary password appears in the
//! reply only: never in the audit log, a log line, a tool's arguments or environment.

mod backend;
mod linux;
mod names;
mod password;
mod policy;
mod replay;

use std::sync::{Arc, Mutex};

use hotline_protocol::DeviceId;
use hotline_protocol::credentials::{
    CredentialOperation, CredentialOutcome, CredentialReply, CredentialRequest, LocalAccount,
    MAX_ACCOUNTS, ResetDone, ResetOptions,
};
use hotline_protocol::inventory::UserSession;
use serde_json::json;
use tracing::{debug, info, warn};

pub use backend::{AccountBackend, AccountRecord, AccountStatus, BackendError};
pub use linux::LinuxAccounts;
pub use names::AccountName;
pub use password::generate;
pub use policy::{ConsentRule, CredentialPolicy, POLICY_FILE};

use crate::audit::{Audit, Outcome};
use crate::consent::{ConsentAnswer, ConsentPrompt, ConsentRequest, PromptTarget};
use replay::ReplayGuard;

/// The lowest uid of a human account; below it are system accounts.
pub const FIRST_HUMAN_UID: u32 = 1000;
/// The uid of `nobody`, which has no login either way.
const NOBODY_UID: u32 = 65534;

/// The signed-in user sessions right now, from the inventory.
pub type SessionSource = Box<dyn Fn() -> Vec<UserSession> + Send + Sync>;

/// Everything a credential request needs, shared by the link's connections.
pub struct Credentials {
    pub backend: Box<dyn AccountBackend>,
    pub policy: CredentialPolicy,
    pub prompt: Arc<dyn ConsentPrompt>,
    pub audit: Arc<Audit>,
    pub sessions: SessionSource,
    replay: Mutex<ReplayGuard>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A refusal: the request is not carried out, and the reason goes to the analyst.
struct Refused(String);

impl Credentials {
    pub fn new(
        device: DeviceId,
        backend: Box<dyn AccountBackend>,
        policy: CredentialPolicy,
        (prompt, audit): (Arc<dyn ConsentPrompt>, Arc<Audit>),
        sessions: SessionSource,
    ) -> Credentials {
        Credentials {
            backend,
            policy,
            prompt,
            audit,
            sessions,
            replay: Mutex::new(ReplayGuard::new(device, replay::RULES)),
        }
    }

    /// Answers one request at `now_ms`. Blocks on system tools and on the consent prompt:
    /// call it from `spawn_blocking`.
    pub fn handle(&self, request: &CredentialRequest, now_ms: i64) -> CredentialReply {
        let admitted = replay::admit(
            &mut self
                .replay
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            request,
            now_ms,
        );
        let outcome = match (&request.operation, admitted) {
            (CredentialOperation::ListAccounts, Ok(())) => self.list(),
            (CredentialOperation::Reset { account, options }, Ok(())) => {
                self.reset(request, account, *options)
            }
            (operation, Err(reason)) => {
                let account = match operation {
                    CredentialOperation::Reset { account, .. } => Some(account.as_str()),
                    CredentialOperation::ListAccounts => None,
                };
                self.record_refusal(request, account, &reason);
                CredentialOutcome::Refused(reason)
            }
        };
        CredentialReply {
            id: request.id,
            outcome,
        }
    }

    /// The human accounts with their state.
    fn list(&self) -> CredentialOutcome {
        let records = match self.backend.accounts() {
            Ok(records) => records,
            Err(error) => return CredentialOutcome::Failed(error.to_string()),
        };
        let signed_in = (self.sessions)();
        let mut accounts = Vec::new();
        for record in records.into_iter().filter(is_human).take(MAX_ACCOUNTS) {
            let Ok(name) = AccountName::parse(&record.name) else {
                continue;
            };
            let status = match self.backend.status(&name) {
                Ok(status) => status,
                Err(error) => return CredentialOutcome::Failed(error.to_string()),
            };
            accounts.push(LocalAccount {
                signed_in: signed_in.iter().any(|s| s.user == record.name),
                name: record.name,
                uid: record.uid,
                full_name: hotline_protocol::messages::truncate(&record.full_name, 256).to_owned(),
                locked: status.locked,
                failed_logins: status.failed_logins,
                must_change: status.must_change,
            });
        }
        CredentialOutcome::Accounts(accounts)
    }

    fn reset(
        &self,
        request: &CredentialRequest,
        account: &str,
        options: ResetOptions,
    ) -> CredentialOutcome {
        let checked = self
            .check_reset(request, account, options)
            .and_then(|(name, record)| self.ask_consent(request, &record).map(|()| name));
        let name = match checked {
            Ok(name) => name,
            Err(Refused(reason)) => {
                self.record_refusal(request, Some(account), &reason);
                return CredentialOutcome::Refused(reason);
            }
        };

        // The entry goes to disk before anything changes: if it cannot be written, the
        // reset would go unrecorded, so it does not happen.
        let params = params(request, account, options);
        if let Err(error) = self.audit.append(
            "credential.reset.begin",
            &params,
            Some(request.ticket),
            Outcome::Ok,
        ) {
            let reason = error.to_string();
            warn!(%reason, "credential reset refused: cannot record it");
            return CredentialOutcome::Refused(reason);
        }

        let result = self.perform(&name, options);
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(reason) => Outcome::Failed(reason.clone()),
        };
        let mut params = params;
        if let Ok(done) = &result {
            params["locked"] = done.locked.into();
            params["cleared_failures"] = done.cleared_failures.into();
            params["must_change"] = done.must_change.into();
        }
        if let Err(error) =
            self.audit
                .append("credential.reset", &params, Some(request.ticket), outcome)
        {
            warn!(%error, "could not record the end of a credential reset");
        }
        match result {
            Ok(done) => {
                info!(account, ticket = request.ticket, "credential reset done");
                CredentialOutcome::Reset(done)
            }
            Err(reason) => CredentialOutcome::Failed(reason),
        }
    }

    /// Every check that needs no person: name, existence, root, system account, options.
    fn check_reset(
        &self,
        request: &CredentialRequest,
        account: &str,
        options: ResetOptions,
    ) -> Result<(AccountName, AccountRecord), Refused> {
        let name = AccountName::parse(account).map_err(Refused)?;
        if !options.new_password && !options.unlock && !options.require_change {
            return Err(Refused("nothing to do: no option was asked".to_owned()));
        }
        let records = self
            .backend
            .accounts()
            .map_err(|error| Refused(format!("cannot read the accounts: {error}")))?;
        let Some(record) = records.into_iter().find(|r| r.name == name.as_str()) else {
            return Err(Refused(format!("no local account {name} on this device")));
        };
        if record.uid == 0 || name.as_str() == "root" {
            return Err(Refused(format!(
                "{name} is the superuser, which is never reset remotely"
            )));
        }
        if !is_human(&record) && !self.policy.allow_system_accounts {
            return Err(Refused(format!(
                "{name} is a system account (uid {} or no login shell); the device's policy \
                 does not allow resetting it",
                record.uid
            )));
        }
        debug!(account = %name, ticket = request.ticket, "credential reset checks passed");
        Ok((name, record))
    }

    /// Asks the signed-in user when the policy says so. Only an explicit allow passes.
    fn ask_consent(
        &self,
        request: &CredentialRequest,
        record: &AccountRecord,
    ) -> Result<(), Refused> {
        let sessions = (self.sessions)();
        let own = sessions.iter().find(|s| s.user == record.name);
        let ask = match self.policy.consent {
            ConsentRule::Never => false,
            ConsentRule::Always => true,
            ConsentRule::WhenSignedIn => own.is_some(),
        };
        if !ask {
            return Ok(());
        }
        let session = own.or_else(|| sessions.iter().find(|s| s.display.is_some()));
        let answer = match session.and_then(|s| s.display.clone().map(|d| (s, d))) {
            Some((session, display)) => {
                let target = PromptTarget {
                    user: session.user.clone(),
                    display,
                };
                let prompt = ConsentRequest {
                    analyst: request.analyst.clone(),
                    ticket_number: request.ticket,
                    ticket_title: String::new(),
                    what: format!("reset the password of your account {}", record.name),
                    timeout: self.policy.consent_timeout(),
                };
                self.prompt.ask(&target, &prompt)
            }
            None => ConsentAnswer::CannotShow(format!(
                "consent is required but {} has no graphical session to ask on",
                record.name
            )),
        };
        match answer {
            ConsentAnswer::Allow => Ok(()),
            ConsentAnswer::Deny => Err(Refused("the signed-in user denied the reset".into())),
            ConsentAnswer::Timeout => Err(Refused(
                "the signed-in user did not answer the consent prompt".into(),
            )),
            ConsentAnswer::CannotShow(reason) => Err(Refused(format!(
                "consent is required and could not be asked: {reason}"
            ))),
        }
    }

    /// The changes themselves. A new password on Linux also clears an administrator's lock,
    /// so an account that was locked is locked again unless unlock was asked.
    fn perform(&self, name: &AccountName, options: ResetOptions) -> Result<ResetDone, String> {
        let backend = &self.backend;
        let fail = |step: &str, error: BackendError| format!("{step}: {error}");
        let before = backend
            .status(name)
            .map_err(|e| fail("reading the account", e))?;

        let mut temporary_password = None;
        if options.new_password {
            let password = generate(options.length).map_err(|e| e.to_string())?;
            if password.expose().contains([':', '\n', '\r']) {
                return Err("generated password holds a separator; not set".to_owned());
            }
            backend
                .set_password(name, &password)
                .map_err(|e| fail("setting the password", e))?;
            temporary_password = Some(password);
            if before.locked && !options.unlock {
                backend
                    .lock(name)
                    .map_err(|e| fail("locking the account again after the new password", e))?;
            }
        }
        let mut cleared_failures = 0;
        if options.unlock {
            if backend.status(name).map(|s| s.locked).unwrap_or(true) {
                backend.unlock(name).map_err(|e| fail("unlocking", e))?;
            }
            backend
                .clear_failures(name)
                .map_err(|e| fail("clearing failed logins", e))?;
            cleared_failures = before.failed_logins;
        }
        if options.require_change {
            backend
                .require_change(name)
                .map_err(|e| fail("requiring a change at next login", e))?;
        }

        let after = backend
            .status(name)
            .map_err(|e| fail("reading the account", e))?;
        Ok(ResetDone {
            temporary_password,
            locked: after.locked,
            cleared_failures,
            must_change: after.must_change,
        })
    }

    fn record_refusal(&self, request: &CredentialRequest, account: Option<&str>, reason: &str) {
        debug!(
            reason,
            ticket = request.ticket,
            "credential request refused"
        );
        let (action, params) = match (&request.operation, account) {
            (CredentialOperation::Reset { options, .. }, Some(account)) => {
                ("credential.reset", params(request, account, *options))
            }
            _ => (
                "credential.accounts",
                json!({ "analyst": request.analyst, "request": request.id.to_string() }),
            ),
        };
        let outcome = Outcome::Refused(reason.to_owned());
        if let Err(error) = self
            .audit
            .append(action, &params, Some(request.ticket), outcome)
        {
            warn!(%error, "could not record a credential refusal");
        }
    }
}

/// Whether an account belongs to a person: a uid from 1000 on (but not `nobody`) and a
/// login shell.
fn is_human(record: &AccountRecord) -> bool {
    record.uid >= FIRST_HUMAN_UID && record.uid != NOBODY_UID && record.login_shell
}

/// The audit parameters of a reset: which account, who asked, which options. Never the
/// password (and `Audit::append` refuses any key that looks like one).
fn params(request: &CredentialRequest, account: &str, options: ResetOptions) -> serde_json::Value {
    json!({
        "account": hotline_protocol::messages::truncate(account, 64),
        "analyst": request.analyst,
        "request": request.id.to_string(),
        "temporary": options.new_password,
        "unlock": options.unlock,
        "require_change": options.require_change,
        "length": options.length.max(hotline_protocol::credentials::MIN_PASSWORD_LEN),
    })
}
