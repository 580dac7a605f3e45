//! `GET /api/deployments` and `GET /api/packages`: the deployment list, newest first, with
//! where each stands, and the published packages a new deployment can roll out; and whether
//! the caller may steer a deployment, so a page shows Pause, Resume and Cancel only to those
//! the API would let through.

use axum::Json;
use axum::extract::{Query, State};
use hotline_protocol::DeviceId;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, Caller};
use crate::authz::{Action, Principal, authorize, permits};
use crate::deploy::view;
use crate::store::{DeploymentRow, Store, TargetDevice};

/// Most deployments one list answer holds.
const MAX_LIST: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(default)]
    limit: Option<usize>,
    /// Only the deployments of this ticket.
    #[serde(default)]
    ticket: Option<i64>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    authorize(
        &state.store,
        &caller.principal(),
        Action::ViewTickets,
        None,
        None,
    )
    .await?;
    let limit = query.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let mut progress = state.store.deployment_progress().await?;
    let rows = state
        .store
        .deployments()
        .await?
        .into_iter()
        .filter(|deployment| {
            query
                .ticket
                .is_none_or(|ticket| deployment.ticket.0 == ticket)
        })
        .take(limit)
        .map(|deployment| {
            let groups = progress.remove(&deployment.id).unwrap_or_default();
            view::summary(&deployment, &view::fold(&groups))
        })
        .collect();
    Ok(Json(rows))
}

/// Published packages (not patches), by name and version.
pub(super) async fn packages(
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
    let mut rows: Vec<Value> = state
        .store
        .targets()
        .await?
        .into_iter()
        .filter_map(|target| {
            let (name, version) = (target.package?, target.version?);
            Some(json!({
                "package": format!("{name}@{version}"),
                "name": name,
                "version": version,
                "target": target.name,
                "length": target.length,
                "sha256": target.sha256,
            }))
        })
        .collect();
    rows.sort_by(|a, b| a["package"].as_str().cmp(&b["package"].as_str()));
    Ok(Json(rows))
}

/// Why `who` may not pause, resume or cancel `deployment`, or `None` when it may: the rule
/// `POST /api/deployments/{id}/state` applies (deploy, on its ticket, to every device),
/// decided without recording anything.
// FIXME: each device's check reads the ticket again, so a page of a fleet-wide deployment
// costs one read per device, as `set_state` does; the ticket rule could be read once.
pub(super) async fn steer_refusal(
    store: &Store,
    who: &Principal,
    deployment: &DeploymentRow,
    devices: &[TargetDevice],
) -> Option<String> {
    let ticket = Some(deployment.ticket);
    for device in devices
        .iter()
        .filter_map(|d| d.device.parse::<DeviceId>().ok())
    {
        if let Err(reason) = permits(store, who, Action::Deploy, Some(&device), ticket).await {
            return Some(reason);
        }
    }
    None
}
