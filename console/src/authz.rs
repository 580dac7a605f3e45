//! Who may do what, decided on the server for every request (never cached), with every
//! refusal written to the audit trail before it is returned.
//!
//! The rules:
//! - Reading tickets, devices and the audit trail: any role.
//! - Opening, editing, noting and closing tickets: analyst. Any analyst may work on the
//!   record of any ticket (help desks hand tickets over); the device rules below are stricter.
//! - Remote view and control and credential resets: analyst, with an open ticket (new, open
//!   or waiting) that names the device and that the analyst may work on: it is assigned to
//!   them, or to nobody (a new ticket, to be picked up).
//! - Deploying a package to a device: deployer, with the same ticket rule.
//! - Publishing a package: deployer. Accounts and devices: admin. Policy: admin, with an open
//!   ticket they may work on (and that names the device, when there is one).
//!
//! No role implies another: an admin is not an analyst unless the account holds both.
//!
//! Remote sessions call here from `web/screen.rs`, credential resets from
//! `api/credentials.rs`, deployments from `api/deployments.rs` and the deploy commands, and
//! device policy changes from `api/policy.rs`.

use hotline_protocol::DeviceId;
use serde_json::json;
use tracing::{debug, error};

use crate::accounts::{AccountName, Role, Roles};
use crate::audit::{Actor, NewEntry, Outcome};
use crate::store::Store;
use crate::tickets::{Ticket, TicketNumber};

/// Something an account asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ViewTickets,
    ViewDevices,
    EditTicket,
    NoteTicket,
    RemoteView,
    RemoteControl,
    ResetCredential,
    PublishPackage,
    Deploy,
    ManageAccounts,
    ManageDevices,
    SetPolicy,
}

impl Action {
    /// The dotted name recorded in the audit trail when the action is refused.
    pub fn name(self) -> &'static str {
        match self {
            Action::ViewTickets => "tickets.view",
            Action::ViewDevices => "devices.view",
            Action::EditTicket => "ticket.edit",
            Action::NoteTicket => "ticket.note",
            Action::RemoteView => "session.view",
            Action::RemoteControl => "session.control",
            Action::ResetCredential => "credential.reset",
            Action::PublishPackage => "package.publish",
            Action::Deploy => "package.deploy",
            Action::ManageAccounts => "accounts.manage",
            Action::ManageDevices => "devices.manage",
            Action::SetPolicy => "policy.set",
        }
    }

    /// The role the action needs, or `None` for any role.
    fn role(self) -> Option<Role> {
        match self {
            Action::ViewTickets | Action::ViewDevices => None,
            Action::EditTicket
            | Action::NoteTicket
            | Action::RemoteView
            | Action::RemoteControl
            | Action::ResetCredential => Some(Role::Analyst),
            Action::PublishPackage | Action::Deploy => Some(Role::Deployer),
            Action::ManageAccounts | Action::ManageDevices | Action::SetPolicy => Some(Role::Admin),
        }
    }

    /// Whether the action must hang on an open ticket the account may work on.
    fn needs_ticket(self) -> bool {
        matches!(
            self,
            Action::RemoteView
                | Action::RemoteControl
                | Action::ResetCredential
                | Action::Deploy
                | Action::SetPolicy
        )
    }

    /// Whether the action must name a device (and the ticket that device).
    fn needs_device(self) -> bool {
        matches!(
            self,
            Action::RemoteView | Action::RemoteControl | Action::ResetCredential | Action::Deploy
        )
    }
}

/// The account asking, with the roles it holds for this request (a token's roles are
/// already cut down to its creator's).
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: AccountName,
    pub roles: Roles,
    /// The API token used, if any.
    pub token: Option<i64>,
}

impl Principal {
    pub fn actor(&self) -> Actor {
        Actor::Analyst(self.name.clone())
    }
}

/// Proof that an action was allowed, with the ticket it hangs on when it needs one.
#[derive(Debug, Clone)]
pub struct Grant {
    pub action: Action,
    pub ticket: Option<Ticket>,
    pub device: Option<DeviceId>,
}

/// Why an action was refused; already recorded in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    pub reason: String,
}

/// Decides whether `who` may perform `action` on `device` for `ticket`, reading the current
/// state of accounts and tickets. A refusal is appended to the audit trail (outcome
/// `refused`, with the reason) before it is returned. When the decision cannot be made
/// (database failure), the answer is a refusal: this fails closed.
pub async fn authorize(
    store: &Store,
    who: &Principal,
    action: Action,
    device: Option<&DeviceId>,
    ticket: Option<TicketNumber>,
) -> Result<Grant, Refusal> {
    let decision = decide(store, who, action, device, ticket).await;
    let reason = match decision {
        Ok(Ok(grant)) => return Ok(grant),
        Ok(Err(reason)) => reason,
        Err(failure) => {
            error!(
                error = format!("{failure:#}"),
                action = action.name(),
                "authorisation check failed"
            );
            "the rights check could not be completed".to_owned()
        }
    };
    debug!(account = %who.name, action = action.name(), %reason, "refused");

    // A refusal naming a ticket that does not exist is kept off that number, with the
    // number in its parameters: otherwise any account could write entries at the head of a
    // ticket not yet opened.
    let mut params = json!({ "token": who.token });
    let ticket = match ticket {
        Some(number) if !matches!(store.ticket(number).await, Ok(Some(_))) => {
            params["ticket_named"] = json!(number.0);
            None
        }
        ticket => ticket,
    };
    let entry = NewEntry::new(who.actor(), action.name())
        .params(params)
        .device(device.cloned())
        .ticket(ticket)
        .outcome(Outcome::Refused(reason.clone()));
    if let Err(failure) = store.append_audit(entry).await {
        error!(error = format!("{failure:#}"), "cannot record a refusal");
    }
    Err(Refusal { reason })
}

/// Decides as [`authorize`] does, but records nothing: for showing or hiding a control on a
/// page, never for allowing the action itself (the action's own call to [`authorize`]
/// decides again and records a refusal). A database failure reads as a refusal.
pub async fn permits(
    store: &Store,
    who: &Principal,
    action: Action,
    device: Option<&DeviceId>,
    ticket: Option<TicketNumber>,
) -> Result<(), String> {
    match decide(store, who, action, device, ticket).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(reason)) => Err(reason),
        Err(failure) => {
            error!(
                error = format!("{failure:#}"),
                action = action.name(),
                "authorisation check failed"
            );
            Err("the rights check could not be completed".to_owned())
        }
    }
}

/// The decision itself: `Ok(Err(reason))` for a refusal.
async fn decide(
    store: &Store,
    who: &Principal,
    action: Action,
    device: Option<&DeviceId>,
    ticket: Option<TicketNumber>,
) -> anyhow::Result<Result<Grant, String>> {
    match action.role() {
        None if who.roles.is_empty() => return Ok(Err(format!("{} holds no role", who.name))),
        Some(role) if !who.roles.contains(&role) => {
            return Ok(Err(format!("{} needs the {role} role", action.name())));
        }
        _ => {}
    }
    if action.needs_device() && device.is_none() {
        return Ok(Err(format!("{} needs a device", action.name())));
    }
    if !action.needs_ticket() {
        return Ok(Ok(Grant {
            action,
            ticket: None,
            device: device.cloned(),
        }));
    }

    let Some(number) = ticket else {
        return Ok(Err(format!("{} needs an open ticket", action.name())));
    };
    let Some(record) = store.ticket(number).await? else {
        return Ok(Err(format!("ticket {number} does not exist")));
    };
    if !record.status.is_open() {
        return Ok(Err(format!(
            "ticket {number} is {}, not open",
            record.status.as_str()
        )));
    }
    if let Some(device) = device
        && !record.devices.iter().any(|d| d == device.as_str())
    {
        return Ok(Err(format!(
            "ticket {number} does not name device {device}"
        )));
    }
    if let Some(assignee) = &record.assignee
        && assignee != who.name.as_str()
    {
        return Ok(Err(format!("ticket {number} is assigned to {assignee}")));
    }
    Ok(Ok(Grant {
        action,
        ticket: Some(record),
        device: device.cloned(),
    }))
}

#[cfg(test)]
#[path = "authz_tests.rs"]
mod tests;
