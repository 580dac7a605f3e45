//! `/api/devices/{id}/accounts` and `/api/devices/{id}/reset`: an analyst on an open ticket
//! naming the device lists its local accounts and resets one. Rights are checked on every
//! call; the request, and the device's answer, go onto the ticket's audit trail. The
//! temporary password is in the reset's response body and nowhere else: not in the audit
//! entry, not in a log line, and the response is marked `no-store` so no cache keeps it.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hotline_protocol::DeviceId;
use hotline_protocol::credentials::{
    CredentialOperation, CredentialOutcome, DEFAULT_PASSWORD_LEN, MAX_ACCOUNT_NAME, ResetOptions,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, Body, Caller};
use crate::audit::{NewEntry, Outcome};
use crate::authz::{Action, authorize};
use crate::credentials::{Unanswered, ask};
use crate::tickets::TicketNumber;

fn device(text: &str) -> Result<DeviceId, ApiError> {
    text.parse()
        .map_err(|e: hotline_protocol::ids::InvalidDeviceId| ApiError::not_found(e.to_string()))
}

/// Marks a response that carries a secret, or state that changes by the second, as not to
/// be cached anywhere.
fn no_store(body: Value) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn unanswered(error: &Unanswered) -> ApiError {
    let status = match error {
        Unanswered::Offline(_) => StatusCode::CONFLICT,
        Unanswered::Timeout(..) => StatusCode::GATEWAY_TIMEOUT,
        Unanswered::Lost(_) => StatusCode::BAD_GATEWAY,
    };
    ApiError::new(status, error.to_string())
}

/// The device's refusal or failure as an API error: a refusal is the request's fault (422),
/// a failure the device's (502).
fn device_error(outcome: &CredentialOutcome) -> Option<ApiError> {
    match outcome {
        CredentialOutcome::Refused(reason) => {
            Some(ApiError::invalid(format!("the device refused: {reason}")))
        }
        CredentialOutcome::Failed(reason) => Some(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the device failed: {reason}"),
        )),
        _ => None,
    }
}

pub(super) async fn accounts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let device = device(&id)?;
    let ticket: TicketNumber = query
        .get("ticket")
        .ok_or_else(|| ApiError::invalid("the ticket query parameter is required"))?
        .parse()
        .map_err(ApiError::invalid)?;
    let who = caller.principal();
    let action = Action::ResetCredential;
    authorize(&state.store, &who, action, Some(&device), Some(ticket)).await?;
    let operation = CredentialOperation::ListAccounts;
    let (_, outcome) = ask(&state.link, &device, ticket, who.name.as_str(), operation)
        .await
        .map_err(|error| unanswered(&error))?;
    if let Some(error) = device_error(&outcome) {
        return Err(error);
    }
    let CredentialOutcome::Accounts(accounts) = outcome else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "the device answered a list with something else",
        ));
    };
    let accounts: Vec<Value> = accounts
        .iter()
        .map(|account| {
            json!({
                "name": account.name,
                "uid": account.uid,
                "full_name": account.full_name,
                "locked": account.locked,
                "failed_logins": account.failed_logins,
                "must_change": account.must_change,
                "signed_in": account.signed_in,
            })
        })
        .collect();
    Ok(no_store(json!({ "device": device, "accounts": accounts })))
}

fn yes() -> bool {
    true
}

fn default_length() -> u8 {
    DEFAULT_PASSWORD_LEN
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResetIn {
    ticket: i64,
    account: String,
    /// Set a new temporary password (default yes).
    #[serde(default = "yes")]
    new_password: bool,
    /// Clear lockouts and an administrator's lock (default no).
    #[serde(default)]
    unlock: bool,
    /// Require a change at the next login (default yes).
    #[serde(default = "yes")]
    require_change: bool,
    #[serde(default = "default_length")]
    length: u8,
}

/// The audit parameters of a reset: never the password.
fn reset_params(account: &str, options: &ResetOptions, request: Option<&str>) -> Value {
    json!({
        "account": account,
        "temporary": options.new_password,
        "unlock": options.unlock,
        "require_change": options.require_change,
        "length": options.length,
        "request": request,
    })
}

async fn record(state: &AppState, entry: NewEntry) -> Result<(), ApiError> {
    state.store.append_audit(entry).await?;
    Ok(())
}

pub(super) async fn reset(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<ResetIn>,
) -> Result<Response, ApiError> {
    let device = device(&id)?;
    let ticket = TicketNumber(input.ticket);
    let who = caller.principal();
    let action = Action::ResetCredential;
    authorize(&state.store, &who, action, Some(&device), Some(ticket)).await?;
    // The name is checked by the device, which knows its own rules; here it is only cut to
    // a length an audit entry can hold.
    let account: String = input.account.chars().take(MAX_ACCOUNT_NAME).collect();
    let options = ResetOptions {
        new_password: input.new_password,
        unlock: input.unlock,
        require_change: input.require_change,
        length: input.length,
    };
    let entry = |action: &str, params: Value| {
        NewEntry::new(who.actor(), action)
            .params(params)
            .device(Some(device.clone()))
            .ticket(Some(ticket))
    };

    // The request is on the record before it leaves the console.
    let params = reset_params(&account, &options, None);
    record(&state, entry("credential.reset.request", params)).await?;
    let operation = CredentialOperation::Reset {
        account: account.clone(),
        options,
    };
    let answer = ask(&state.link, &device, ticket, who.name.as_str(), operation).await;

    let (request, outcome) = match answer {
        Ok((request, outcome)) => (Some(request.to_string()), outcome),
        Err(error) => {
            let params = reset_params(&account, &options, None);
            let failed =
                entry("credential.reset", params).outcome(Outcome::Failed(error.to_string()));
            record(&state, failed).await?;
            return Err(unanswered(&error));
        }
    };
    let mut params = reset_params(&account, &options, request.as_deref());
    let recorded = match &outcome {
        CredentialOutcome::Reset(done) => {
            params["locked"] = done.locked.into();
            params["cleared_failures"] = done.cleared_failures.into();
            params["must_change"] = done.must_change.into();
            Outcome::Ok
        }
        CredentialOutcome::Refused(reason) => Outcome::Refused(reason.clone()),
        CredentialOutcome::Failed(reason) => Outcome::Failed(reason.clone()),
        CredentialOutcome::Accounts(_) => {
            Outcome::Failed("the device answered a reset with a list".to_owned())
        }
    };
    record(&state, entry("credential.reset", params).outcome(recorded)).await?;
    if let Some(error) = device_error(&outcome) {
        return Err(error);
    }
    let CredentialOutcome::Reset(done) = outcome else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "the device answered a reset with something else",
        ));
    };
    Ok(no_store(json!({
        "device": device,
        "account": account,
        "ticket": ticket,
        "temporary_password": done.temporary_password.as_ref().map(|p| p.expose()),
        "locked": done.locked,
        "cleared_failures": done.cleared_failures,
        "must_change": done.must_change,
    })))
}
