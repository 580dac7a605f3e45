//! `/api/audit`: audit entries, filtered by ticket or device, newest last.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use serde_json::Value;

use super::{ApiError, AppState, Caller};
use crate::authz::{Action, authorize};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let ticket = query
        .get("ticket")
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().map_err(ApiError::invalid))
        .transpose()?;
    let device = query
        .get("device")
        .filter(|d| !d.is_empty())
        .map(|d| d.chars().take(64).collect::<String>());
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| ApiError::invalid(format!("limit must be 1-{MAX_LIMIT}")))?,
    };
    authorize(
        &state.store,
        &caller.principal(),
        Action::ViewTickets,
        None,
        ticket,
    )
    .await?;
    let entries = state
        .store
        .audit_entries(ticket, device.as_deref(), limit)
        .await?;
    Ok(Json(
        entries
            .iter()
            .map(crate::audit::AuditRecord::to_json)
            .collect(),
    ))
}
