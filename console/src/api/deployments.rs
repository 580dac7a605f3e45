//! `/api/deployments`: start a deployment for a change ticket, follow it, and pause, resume
//! or cancel it. Each target device is authorised on every call (`Action::Deploy`: deployer
//! role, an open ticket naming the device), and a refusal is on the ticket before the answer.

use axum::Json;
use axum::extract::{Path, State};
use hotline_protocol::DeviceId;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, Body, Caller};
use crate::audit::NewEntry;
use crate::authz::{Action, authorize};
use crate::deploy::request::{
    Options, new_deployment, parse_window_choice, percent, status_json, time,
};
use crate::deploy::{plan, view};
use crate::fleet::targets::Targets;
use crate::store::unix_now;
use crate::tickets::TicketNumber;

/// Most devices one request may name.
const MAX_DEVICES: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateBody {
    ticket: i64,
    /// NAME@VERSION.
    package: String,
    #[serde(default)]
    devices: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    canary: Option<String>,
    #[serde(default)]
    failure_threshold: Option<String>,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    window: Option<String>,
    #[serde(default)]
    deadline: Option<String>,
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateBody>,
) -> Result<Json<Value>, ApiError> {
    let named = body.devices.len() + body.tags.len() + body.groups.len();
    if (named == 0 && !body.all) || named > MAX_DEVICES || body.package.len() > 200 {
        return Err(ApiError::invalid(format!(
            "name 1 to {MAX_DEVICES} devices, tags or groups (or all) and a package NAME@VERSION"
        )));
    }
    let ticket = TicketNumber(body.ticket);
    let targets = Targets::parse(&body.devices, &body.tags, &body.groups, body.all)?;
    let devices = targets.resolve(&state.store).await?;
    if devices.is_empty() {
        return Err(ApiError::invalid(
            "no target devices: the targets named hold no enrolled, unrevoked device",
        ));
    }
    // Every device the targets resolved to is authorised, all included: the ticket names
    // each device a deployment reaches.
    let principal = caller.principal();
    for device in &devices {
        authorize(
            &state.store,
            &principal,
            Action::Deploy,
            Some(device),
            Some(ticket),
        )
        .await?;
    }

    let now = unix_now();
    let (window, group_windows) = parse_window_choice(body.window.as_deref(), now)?;
    let text = |value: &Option<String>, default: &str| value.clone().unwrap_or(default.into());
    let options = Options {
        canary: percent(&text(&body.canary, "0%"))?,
        failure: percent(&text(&body.failure_threshold, "20%"))?,
        not_before: body
            .at
            .as_deref()
            .map(|t| time(t, now))
            .transpose()?
            .unwrap_or(now),
        deadline: body.deadline.as_deref().map(|t| time(t, now)).transpose()?,
        window,
        group_windows,
    };
    let actor = principal.actor();
    let new = new_deployment(
        &state.store,
        ticket,
        &body.package,
        &targets,
        devices,
        &options,
        actor.to_string(),
    )
    .await?;
    let entry = NewEntry::new(actor, "deployment.create").ticket(Some(ticket));
    let id = state.store.create_deployment(&new, entry, now).await?;
    show_deployment(&state, &caller, id).await
}

pub(super) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    show_deployment(&state, &caller, id).await
}

async fn show_deployment(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Json<Value>, ApiError> {
    authorize(
        &state.store,
        &caller.principal(),
        Action::ViewTickets,
        None,
        None,
    )
    .await?;
    let deployment = state
        .store
        .deployment(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no deployment {id}")))?;
    let devices = state.store.deployment_devices(id).await?;
    let mut status = status_json(&state.store, &deployment, &devices).await?;
    view::extend(&mut status, &deployment, &devices);
    let refusal = super::deployment_list::steer_refusal(
        &state.store,
        &caller.principal(),
        &deployment,
        &devices,
    )
    .await;
    status["may_steer"] = json!(refusal.is_none());
    status["steer_refusal"] = json!(refusal);
    Ok(Json(status))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StateBody {
    /// `paused`, `active` (resume) or `cancelled`.
    status: String,
}

pub(super) async fn set_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<StateBody>,
) -> Result<Json<Value>, ApiError> {
    let store = &state.store;
    let deployment = store
        .deployment(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no deployment {id}")))?;
    let devices = store.deployment_devices(id).await?;
    let principal = caller.principal();
    // Steering a rollout is deploying: the same rule, for every device it reaches.
    for device in devices
        .iter()
        .filter_map(|d| d.device.parse::<DeviceId>().ok())
    {
        authorize(
            store,
            &principal,
            Action::Deploy,
            Some(&device),
            Some(deployment.ticket),
        )
        .await?;
    }
    let ticket = Some(deployment.ticket);
    let changed = match body.status.as_str() {
        "paused" | "cancelled" => {
            let action = if body.status == "paused" {
                "deployment.pause"
            } else {
                "deployment.cancel"
            };
            let entry = NewEntry::new(principal.actor(), action).ticket(ticket);
            store
                .set_deployment_status(id, &body.status, None, entry)
                .await?
        }
        "active" => {
            let entry = NewEntry::new(principal.actor(), "deployment.resume").ticket(ticket);
            store
                .resume_deployment(id, plan::failures(&devices), entry)
                .await?
        }
        other => return Err(ApiError::invalid(format!("unknown status {other:?}"))),
    };
    if !changed {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!("deployment {id} is {}", deployment.status),
        ));
    }
    show_deployment(&state, &caller, id).await
}
