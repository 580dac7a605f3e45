//! `/api/devices`: enrolled devices with their presence and inventory. Text the device
//! reported is length-capped here; escaping it is the page's job.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{ApiError, AppState, Caller};
use crate::authz::{Action, authorize};
use crate::store::DeviceRecord;

/// Longest host name passed on (DNS allows 253).
const MAX_HOSTNAME: usize = 253;

fn time(secs: Option<i64>) -> Option<String> {
    secs.and_then(|s| u64::try_from(s).ok()).map(|s| {
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s))
            .to_string()
    })
}

pub(crate) fn device_json(device: &DeviceRecord) -> Value {
    let inventory = device
        .inventory
        .as_deref()
        .and_then(|text| serde_json::from_str::<Value>(text).ok());
    json!({
        "id": device.id,
        "hostname": device.hostname.chars().take(MAX_HOSTNAME).collect::<String>(),
        "online": device.online && device.revoked_at.is_none(),
        "revoked": device.revoked_at.is_some(),
        "last_seen": time(device.last_seen),
        "enrolled_at": time(Some(device.enrolled_at)),
        "agent_version": device.agent_version,
        "inventory": inventory,
    })
}

pub(super) async fn list(
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
    Ok(Json(
        state
            .store
            .devices()
            .await?
            .iter()
            .map(device_json)
            .collect(),
    ))
}

pub(super) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let device: hotline_protocol::DeviceId = id
        .parse()
        .map_err(|_| ApiError::not_found("no such device"))?;
    authorize(
        &state.store,
        &caller.principal(),
        Action::ViewDevices,
        Some(&device),
        None,
    )
    .await?;
    let record = state
        .store
        .device(device.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no device {device}")))?;
    Ok(Json(device_json(&record)))
}
