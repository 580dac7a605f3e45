//! The rule a deployment was made under, checked again before every transfer: the API and
//! the CLI check it when the deployment is made and when it is resumed, but a scheduled or
//! slow rollout outlives both, and meanwhile its ticket may close, lose a device, or its
//! creator may lose the deployer role. A deployment whose rule no longer holds pauses with
//! the reason on its ticket; `resume` checks the rule again.

use anyhow::Result;
use hotline_protocol::DeviceId;

use crate::authz::{Action, Principal, permits};
use crate::store::{DeploymentRow, Store};

/// Why `deployment` may not send to `devices` now, or `None` when it may.
pub(super) async fn refusal(
    store: &Store,
    deployment: &DeploymentRow,
    devices: &[DeviceId],
) -> Result<Option<String>> {
    // An operator on the console host made it: the CLI's rule is an open ticket.
    if deployment.created_by.starts_with("cli:") {
        return ticket_open(store, deployment).await;
    }
    let Some(name) = deployment.created_by.strip_prefix("analyst:") else {
        return Ok(Some(format!(
            "its creator {:?} is not an account",
            deployment.created_by
        )));
    };
    let Some(account) = store.account(name).await? else {
        return Ok(Some(format!("its creator {name} no longer has an account")));
    };
    if account.disabled {
        return Ok(Some(format!("its creator {name} is disabled")));
    }
    let creator = Principal {
        name: account.name,
        roles: account.roles,
        token: None,
    };
    for device in devices {
        let ticket = Some(deployment.ticket);
        if let Err(reason) = permits(store, &creator, Action::Deploy, Some(device), ticket).await {
            return Ok(Some(format!("for device {device}: {reason}")));
        }
    }
    Ok(None)
}

async fn ticket_open(store: &Store, deployment: &DeploymentRow) -> Result<Option<String>> {
    let number = deployment.ticket;
    Ok(match store.ticket(number).await? {
        None => Some(format!("ticket {number} does not exist")),
        Some(ticket) if !ticket.status.is_open() => Some(format!(
            "ticket {number} is {}, not open",
            ticket.status.as_str()
        )),
        Some(_) => None,
    })
}
