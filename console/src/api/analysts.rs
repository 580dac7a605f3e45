//! `/api/analysts` (accounts, for admins) and `/api/tokens` (API tokens, for everyone, never
//! with more rights than their creator).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::caller::TOKEN_PREFIX;
use super::{ApiError, AppState, Body, Caller, Via};
use crate::accounts::{AccountName, MAX_DISPLAY_NAME_LEN, Role, Roles, one_line};
use crate::audit::{NewEntry, Outcome};
use crate::authz::{Action, authorize};
use crate::store::{Account, unix_now};

/// Longest API token lifetime: a year.
const MAX_TOKEN_SECS: i64 = 365 * 24 * 3600;
const DEFAULT_TOKEN_SECS: i64 = 30 * 24 * 3600;

fn account_json(account: &Account) -> Value {
    json!({
        "username": account.name,
        "display_name": account.display_name,
        "roles": account.roles,
        "disabled": account.disabled,
        "must_change_password": account.must_change_password,
    })
}

fn roles(list: &[String]) -> Result<Roles, ApiError> {
    if list.len() > Role::ALL.len() * 2 {
        return Err(ApiError::invalid("too many roles"));
    }
    list.iter()
        .map(|r| r.parse::<Role>().map_err(ApiError::invalid))
        .collect()
}

/// Accounts, for choosing an assignee (any role) or managing them (admin).
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Value>>, ApiError> {
    authorize(
        &state.store,
        &caller.principal(),
        Action::ViewTickets,
        None,
        None,
    )
    .await?;
    let accounts = state.store.accounts().await?;
    Ok(Json(accounts.iter().map(account_json).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewAnalyst {
    username: String,
    display_name: String,
    roles: Vec<String>,
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(input): Body<NewAnalyst>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let who = caller.principal();
    authorize(&state.store, &who, Action::ManageAccounts, None, None).await?;
    let name: AccountName = input.username.parse().map_err(ApiError::invalid)?;
    let display = one_line("display name", &input.display_name, MAX_DISPLAY_NAME_LEN)
        .map_err(ApiError::invalid)?;
    let roles = roles(&input.roles)?;
    let password =
        crate::commands::analyst::create(&state.store, &name, &display, &roles, who.actor())
            .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "username": name, "one_time_password": password })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AnalystChange {
    roles: Option<Vec<String>>,
    disabled: Option<bool>,
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    Body(input): Body<AnalystChange>,
) -> Result<Json<Value>, ApiError> {
    let who = caller.principal();
    authorize(&state.store, &who, Action::ManageAccounts, None, None).await?;
    let account = state
        .store
        .account(&username)
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    let new_roles = input.roles.as_deref().map(roles).transpose()?;
    crate::commands::analyst::change(
        &state.store,
        &account,
        new_roles,
        input.disabled,
        who.actor(),
    )
    .await?;
    let account = state
        .store
        .account_by_id(account.id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    Ok(Json(account_json(&account)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    name: String,
    roles: Vec<String>,
    /// Lifetime in seconds.
    expires_in: Option<i64>,
}

/// Mints a token whose roles are a subset of the caller's (SimpleHelp CVE-2024-57726 let a
/// technician mint an admin token). Tokens cannot mint tokens.
pub(super) async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Body(input): Body<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name =
        one_line("token name", &input.name, MAX_DISPLAY_NAME_LEN).map_err(ApiError::invalid)?;
    let wanted = roles(&input.roles)?;
    if wanted.is_empty() {
        return Err(ApiError::invalid("a token needs at least one role"));
    }
    let lifetime = input.expires_in.unwrap_or(DEFAULT_TOKEN_SECS);
    if !(60..=MAX_TOKEN_SECS).contains(&lifetime) {
        return Err(ApiError::invalid(format!(
            "expires_in must be 60 to {MAX_TOKEN_SECS} seconds"
        )));
    }

    let actor = caller.principal().actor();
    let excess: Vec<&str> = wanted
        .difference(&caller.roles)
        .map(|r| r.as_str())
        .collect();
    let refusal = if matches!(caller.via, Via::Token(_)) {
        Some("API tokens cannot create tokens; log in to create one".to_owned())
    } else if !excess.is_empty() {
        Some(format!(
            "a token cannot hold roles its creator lacks: {}",
            excess.join(", ")
        ))
    } else {
        None
    };
    let params = json!({ "name": name, "roles": wanted });
    if let Some(reason) = refusal {
        let entry = NewEntry::new(actor, "token.create")
            .params(params)
            .outcome(Outcome::Refused(reason.clone()));
        state.store.append_audit(entry).await?;
        return Err(ApiError::forbidden(reason));
    }

    let token = format!("{TOKEN_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
    let now = unix_now();
    let id = state
        .store
        .create_api_token(
            caller.account.id,
            &name,
            &wanted,
            &token,
            now,
            now + lifetime,
        )
        .await?;
    let mut params = params;
    params["id"] = json!(id);
    state
        .store
        .append_audit(NewEntry::new(actor, "token.create").params(params))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "id": id, "token": token, "name": name, "roles": wanted, "expires_at": now + lifetime }),
        ),
    ))
}

/// The caller's live tokens; an admin sees everyone's.
pub(super) async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let owner = (!caller.roles.contains(&Role::Admin)).then_some(caller.account.id);
    Ok(Json(json!(
        state.store.api_tokens(owner, unix_now()).await?
    )))
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found("no such token"))?;
    let owner = state
        .store
        .api_token_owner(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such token"))?;
    if owner != caller.account.id {
        authorize(
            &state.store,
            &caller.principal(),
            Action::ManageAccounts,
            None,
            None,
        )
        .await?;
    }
    state.store.revoke_api_token(id, unix_now()).await?;
    let entry =
        NewEntry::new(caller.principal().actor(), "token.revoke").params(json!({ "id": id }));
    state.store.append_audit(entry).await?;
    Ok(StatusCode::NO_CONTENT)
}
