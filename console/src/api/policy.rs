//! `/api/devices/{id}/policy`: a device's policy, read by anyone who may see devices and set
//! only by admins, on an open ticket that names the device. Each change is an audit entry
//! `policy.set` on that ticket with the old and new values; a refusal is one too.

use axum::Json;
use axum::extract::{Path, State};
use hotline_protocol::DeviceId;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, Body, Caller};
use crate::authz::{Action, authorize};
use crate::store::DevicePolicy;
use crate::tickets::TicketNumber;

fn device(text: &str) -> Result<DeviceId, ApiError> {
    text.parse()
        .map_err(|e: hotline_protocol::ids::InvalidDeviceId| ApiError::not_found(e.to_string()))
}

/// A policy as the API shows it.
pub(crate) fn policy_json(device: &DeviceId, policy: DevicePolicy) -> Value {
    json!({ "device": device, "unattended_sessions": policy.unattended_sessions })
}

/// The audit parameters of a change: the old and the new value of each field.
pub(crate) fn change_params(old: DevicePolicy, new: DevicePolicy) -> Value {
    json!({
        "unattended_sessions": { "old": old.unattended_sessions, "new": new.unattended_sessions },
    })
}

async fn existing(state: &AppState, device: &DeviceId) -> Result<(), ApiError> {
    match state.store.device(device.as_str()).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("no device {device}"))),
    }
}

pub(super) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let device = device(&id)?;
    let who = caller.principal();
    authorize(&state.store, &who, Action::ViewDevices, Some(&device), None).await?;
    existing(&state, &device).await?;
    let policy = state.store.device_policy(&device).await?;
    Ok(Json(policy_json(&device, policy)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyIn {
    /// The open ticket, naming the device, the change is made for. Absent, the change is
    /// refused (and the refusal recorded) like any other privileged action without one.
    #[serde(default)]
    ticket: Option<i64>,
    unattended_sessions: bool,
}

pub(super) async fn set(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<PolicyIn>,
) -> Result<Json<Value>, ApiError> {
    let device = device(&id)?;
    let ticket = input.ticket.map(TicketNumber);
    let who = caller.principal();
    authorize(&state.store, &who, Action::SetPolicy, Some(&device), ticket).await?;
    existing(&state, &device).await?;

    let new = DevicePolicy {
        unattended_sessions: input.unattended_sessions,
    };
    let record = |old| {
        crate::audit::NewEntry::new(who.actor(), Action::SetPolicy.name())
            .params(change_params(old, new))
            .device(Some(device.clone()))
            .ticket(ticket)
    };
    let by = who.actor().to_string();
    state
        .store
        .set_device_policy(&device, new, &by, record)
        .await?;
    Ok(Json(policy_json(&device, new)))
}
