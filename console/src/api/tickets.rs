//! `/api/tickets`: list with filters, open, show with the timeline, change, note, close and
//! export. Rights are checked on every call through `authz::authorize`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hotline_protocol::DeviceId;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::double_option;
use super::{ApiError, AppState, Body, Caller};
use crate::accounts::{AccountName, one_line};
use crate::audit::{TimelineItem, now_ms, rfc3339_ms};
use crate::authz::{Action, authorize};
use crate::store::{NewTicket, TicketChange, TicketFilter};
use crate::tickets::{self, MAX_DEVICES, MAX_FIELD_LEN, Status, Ticket, TicketNumber};

/// Parses the `{n}` of a ticket path.
pub(super) fn number(text: &str) -> Result<TicketNumber, ApiError> {
    text.parse().map_err(ApiError::not_found)
}

fn field(name: &str, text: &str) -> Result<String, ApiError> {
    one_line(name, text, MAX_FIELD_LEN).map_err(ApiError::invalid)
}

fn optional_field(name: &str, text: Option<&str>) -> Result<Option<String>, ApiError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => field(name, text).map(Some),
    }
}

fn devices(list: &[String]) -> Result<Vec<DeviceId>, ApiError> {
    if list.len() > MAX_DEVICES {
        return Err(ApiError::invalid(format!(
            "more than {MAX_DEVICES} devices"
        )));
    }
    list.iter()
        .map(|id| id.parse().map_err(|e| ApiError::invalid(format!("{e}"))))
        .collect()
}

fn assignee(name: Option<&str>) -> Result<Option<AccountName>, ApiError> {
    name.filter(|n| !n.is_empty())
        .map(|n| n.parse().map_err(ApiError::invalid))
        .transpose()
}

fn priority(value: i64) -> Result<u8, ApiError> {
    tickets::priority(value).map_err(ApiError::invalid)
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Ticket>>, ApiError> {
    authorize(
        &state.store,
        &caller.principal(),
        Action::ViewTickets,
        None,
        None,
    )
    .await?;
    let get = |key: &str| query.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let filter = TicketFilter {
        status: get("status")
            .map(str::parse)
            .transpose()
            .map_err(ApiError::invalid)?,
        assignee: get("assignee").map(|a| a.chars().take(64).collect()),
        device: get("device").map(|d| d.chars().take(64).collect()),
        priority: get("priority")
            .map(|p| {
                p.parse::<i64>()
                    .map_err(|_| ApiError::invalid("priority must be 1-4"))
            })
            .transpose()?
            .map(priority)
            .transpose()?,
        text: get("q").map(|q| q.chars().take(MAX_FIELD_LEN).collect()),
    };
    Ok(Json(state.store.tickets(&filter).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CallerIn {
    name: String,
    contact: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTicketIn {
    title: String,
    caller: CallerIn,
    #[serde(default)]
    devices: Vec<String>,
    #[serde(default = "default_priority")]
    priority: i64,
    assignee: Option<String>,
    external_ref: Option<String>,
}

fn default_priority() -> i64 {
    3
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(input): Body<NewTicketIn>,
) -> Result<(StatusCode, Json<Ticket>), ApiError> {
    let who = caller.principal();
    authorize(&state.store, &who, Action::EditTicket, None, None).await?;
    let new = NewTicket {
        title: field("title", &input.title)?,
        caller: tickets::Caller {
            name: field("caller name", &input.caller.name)?,
            contact: field("caller contact", &input.caller.contact)?,
        },
        devices: devices(&input.devices)?,
        priority: priority(input.priority)?,
        assignee: assignee(input.assignee.as_deref())?,
        external_ref: optional_field("external_ref", input.external_ref.as_deref())?,
    };
    let ticket = state.store.create_ticket(new, who.actor()).await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

/// A ticket, its timeline, or 404.
async fn ticket_and_timeline(
    state: &AppState,
    n: TicketNumber,
) -> Result<(Ticket, Vec<TimelineItem>), ApiError> {
    let ticket = state
        .store
        .ticket(n)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no ticket {n}")))?;
    Ok((ticket, state.store.timeline(n).await?))
}

pub(super) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let n = number(&n)?;
    authorize(
        &state.store,
        &caller.principal(),
        Action::ViewTickets,
        None,
        Some(n),
    )
    .await?;
    let (ticket, timeline) = ticket_and_timeline(&state, n).await?;
    Ok(Json(json!({ "ticket": ticket, "timeline": timeline })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeIn {
    title: Option<String>,
    status: Option<String>,
    priority: Option<i64>,
    #[serde(default, deserialize_with = "double_option")]
    assignee: Option<Option<String>>,
    devices: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    external_ref: Option<Option<String>>,
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
    Body(input): Body<ChangeIn>,
) -> Result<Json<Ticket>, ApiError> {
    let n = number(&n)?;
    let who = caller.principal();
    authorize(&state.store, &who, Action::EditTicket, None, Some(n)).await?;
    let change = TicketChange {
        title: input
            .title
            .as_deref()
            .map(|t| field("title", t))
            .transpose()?,
        status: input
            .status
            .as_deref()
            .map(str::parse::<Status>)
            .transpose()
            .map_err(ApiError::invalid)?,
        priority: input.priority.map(priority).transpose()?,
        assignee: input.assignee.map(|a| assignee(a.as_deref())).transpose()?,
        devices: input.devices.as_deref().map(devices).transpose()?,
        external_ref: input
            .external_ref
            .map(|r| optional_field("external_ref", r.as_deref()))
            .transpose()?,
        resolution: None,
    };
    let ticket = state
        .store
        .update_ticket(n, change, who.actor(), "ticket.update")
        .await?;
    Ok(Json(ticket))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoteIn {
    text: String,
}

pub(super) async fn note(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
    Body(input): Body<NoteIn>,
) -> Result<(StatusCode, Json<TimelineItem>), ApiError> {
    let n = number(&n)?;
    let who = caller.principal();
    authorize(&state.store, &who, Action::NoteTicket, None, Some(n)).await?;
    let text = tickets::note_text(&input.text).map_err(ApiError::invalid)?;
    let item = state.store.add_note(n, who.actor(), &text).await?;
    Ok((StatusCode::CREATED, Json(item)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CloseIn {
    resolution: Option<String>,
}

pub(super) async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
    Body(input): Body<CloseIn>,
) -> Result<Json<Ticket>, ApiError> {
    let n = number(&n)?;
    let who = caller.principal();
    authorize(&state.store, &who, Action::EditTicket, None, Some(n)).await?;
    let resolution = input
        .resolution
        .filter(|r| !r.trim().is_empty())
        .map(|r| tickets::note_text(&r))
        .transpose()
        .map_err(ApiError::invalid)?;
    let change = TicketChange {
        status: Some(Status::Closed),
        resolution,
        ..TicketChange::default()
    };
    Ok(Json(
        state
            .store
            .update_ticket(n, change, who.actor(), "ticket.close")
            .await?,
    ))
}

/// The ticket, its timeline and its full audit entries with their hashes, so that a copy
/// kept outside the console can later be compared with the chain.
pub(super) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(n): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;

    let n = number(&n)?;
    authorize(
        &state.store,
        &caller.principal(),
        Action::ViewTickets,
        None,
        Some(n),
    )
    .await?;
    // The record of a ticket is not for shared caches or the browser's disk cache.
    let mut response = Json(export_json(&state.store, n).await?).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// The export document, shared with `hotline-console audit export`.
pub async fn export_json(store: &crate::store::Store, n: TicketNumber) -> Result<Value, ApiError> {
    let ticket = store
        .ticket(n)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no ticket {n}")))?;
    let timeline = store.timeline(n).await?;
    let entries: Vec<Value> = store
        .audit_entries(Some(n), None, u32::MAX)
        .await?
        .iter()
        .map(crate::audit::AuditRecord::to_json)
        .collect();
    Ok(json!({
        "ticket": ticket,
        "timeline": timeline,
        "audit": entries,
        "exported_at": rfc3339_ms(now_ms()),
    }))
}
