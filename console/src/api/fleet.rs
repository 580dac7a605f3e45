//! `/api/devices/{id}/tags` and `/api/groups`: tags on devices, device groups, their members
//! and maintenance windows. Reading groups takes any role; every change takes an admin
//! (`Action::ManageDevices`), is refused on the audit trail otherwise, and is an audit entry.

use axum::Json;
use axum::extract::{Path, State};
use hotline_protocol::DeviceId;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, Body, Caller};
use crate::authz::{Action, authorize};
use crate::commands::group::group_json;
use crate::fleet::{GroupName, GroupWindow, Tag, changes};

fn device_id(text: &str) -> Result<DeviceId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found("no such device"))
}

fn group_name(text: &str) -> Result<GroupName, ApiError> {
    text.parse()
        .map_err(|e: crate::rejected::Rejected| ApiError::invalid(e.to_string()))
}

fn tag_name(text: &str) -> Result<Tag, ApiError> {
    text.parse()
        .map_err(|e: crate::rejected::Rejected| ApiError::invalid(e.to_string()))
}

/// Checks that the caller is an admin; the refusal is on the audit trail.
async fn admin(
    state: &AppState,
    caller: &Caller,
    device: Option<&DeviceId>,
) -> Result<(), ApiError> {
    authorize(
        &state.store,
        &caller.principal(),
        Action::ManageDevices,
        device,
        None,
    )
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TagBody {
    tag: String,
}

pub(super) async fn add_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<TagBody>,
) -> Result<Json<Value>, ApiError> {
    let device = device_id(&id)?;
    admin(&state, &caller, Some(&device)).await?;
    let tag = tag_name(&body.tag)?;
    let actor = caller.principal().actor();
    let changed = changes::tag(&state.store, actor, &device, &tag, true).await?;
    Ok(Json(
        json!({ "device": device.as_str(), "tag": tag.as_str(), "changed": changed }),
    ))
}

pub(super) async fn remove_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let device = device_id(&id)?;
    admin(&state, &caller, Some(&device)).await?;
    let tag = tag_name(&tag)?;
    let actor = caller.principal().actor();
    let changed = changes::tag(&state.store, actor, &device, &tag, false).await?;
    Ok(Json(
        json!({ "device": device.as_str(), "tag": tag.as_str(), "changed": changed }),
    ))
}

pub(super) async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Value>>, ApiError> {
    authorize(
        &state.store,
        &caller.principal(),
        Action::ViewDevices,
        None,
        None,
    )
    .await?;
    let groups = state.store.groups().await?;
    Ok(Json(groups.iter().map(group_json).collect()))
}

async fn show_group(state: &AppState, group: &GroupName) -> Result<Json<Value>, ApiError> {
    let row = state
        .store
        .group(group)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no group {group}")))?;
    Ok(Json(group_json(&row)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupBody {
    name: String,
}

pub(super) async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<GroupBody>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &caller, None).await?;
    let group = group_name(&body.name)?;
    changes::create_group(&state.store, caller.principal().actor(), &group).await?;
    show_group(&state, &group).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WindowBody {
    /// HH:MM.
    start: String,
    /// A duration such as `2h`.
    length: String,
    #[serde(default)]
    days: Option<String>,
    /// `utc`, `local` or an IANA zone name.
    zone: String,
}

pub(super) async fn set_window(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<WindowBody>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &caller, None).await?;
    let group = group_name(&name)?;
    let window = GroupWindow::parse(&body.start, &body.length, body.days.as_deref(), &body.zone)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    changes::set_window(
        &state.store,
        caller.principal().actor(),
        &group,
        Some(&window),
    )
    .await?;
    show_group(&state, &group).await
}

pub(super) async fn clear_window(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &caller, None).await?;
    let group = group_name(&name)?;
    changes::set_window(&state.store, caller.principal().actor(), &group, None).await?;
    show_group(&state, &group).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MemberBody {
    device: String,
}

pub(super) async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<MemberBody>,
) -> Result<Json<Value>, ApiError> {
    let device = device_id(&body.device)?;
    admin(&state, &caller, Some(&device)).await?;
    let group = group_name(&name)?;
    changes::add_member(&state.store, caller.principal().actor(), &group, &device).await?;
    show_group(&state, &group).await
}

pub(super) async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let device = device_id(&id)?;
    admin(&state, &caller, Some(&device)).await?;
    let group = group_name(&name)?;
    changes::remove_member(&state.store, caller.principal().actor(), &group, &device).await?;
    show_group(&state, &group).await
}
