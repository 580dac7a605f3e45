//! Logging in and out, the caller's own account, and password changes. Failed logins are
//! rate-limited per account name and per source address; unknown names and wrong passwords
//! get the same answer after the same work.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::OnceLock;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::caller::{SESSION_LIFETIME_SECS, peer_ip};
use super::{ApiError, AppState, Body, Caller, SESSION_COOKIE, Via, origin_allowed};
use crate::accounts::{MIN_PASSWORD_LEN, hash_password, verify_password};
use crate::audit::{NewEntry, Outcome};
use crate::store::{Account, unix_now};

/// Failed logins allowed in the window, per account name and per source address.
const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
const MAX_FAILURES_PER_ADDRESS: i64 = 30;
const FAILURE_WINDOW_SECS: i64 = 15 * 60;
const MAX_PASSWORD_LEN: usize = 256;
const WRONG: &str = "wrong user name or password";

/// The client's IP address, when the listener recorded it.
#[derive(Debug, Clone, Copy)]
pub(super) struct PeerIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<PeerIp, Infallible> {
        Ok(PeerIp(peer_ip(parts)))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Login {
    username: String,
    password: String,
}

/// What `/api/login` and `/api/me` say about an account.
fn account_json(account: &Account) -> Value {
    json!({
        "username": account.name,
        "display_name": account.display_name,
        "roles": account.roles,
        "must_change_password": account.must_change_password,
    })
}

/// An argon2 hash of nothing in particular, verified against when the user name is unknown,
/// so that the answer takes as long as for a known name.
fn decoy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("decoy password for unknown names").unwrap_or_default())
}

async fn verify_blocking(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

fn session_cookie(token: &str, max_age: i64) -> HeaderValue {
    let value = format!(
        "{SESSION_COOKIE}={token}; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}"
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub(super) async fn login(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    Body(login): Body<Login>,
) -> Result<Response, ApiError> {
    if !origin_allowed(&headers, &state) {
        return Err(ApiError::forbidden("login from another origin refused"));
    }
    let now = unix_now();
    let address = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let username: String = login.username.chars().take(64).collect();

    let (by_user, by_address) = state
        .store
        .failed_logins(&username, &address, now - FAILURE_WINDOW_SECS)
        .await?;
    if by_user >= MAX_FAILURES_PER_ACCOUNT || by_address >= MAX_FAILURES_PER_ADDRESS {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; wait 15 minutes and try again",
        ));
    }

    let account = state.store.account(&username).await?;
    let password = login.password;
    let matches = password.len() <= MAX_PASSWORD_LEN
        && match &account {
            Some(account) => verify_blocking(password, account.password_hash.clone()).await,
            None => {
                verify_blocking(password, decoy_hash().to_owned()).await;
                false
            }
        };
    state
        .store
        .record_login(&username, &address, matches, now)
        .await?;
    let Some(account) = account.filter(|_| matches) else {
        return Err(ApiError::unauthorized(WRONG));
    };
    if account.disabled {
        return Err(ApiError::unauthorized("account disabled"));
    }

    let token = format!("hls_{}", hex::encode(rand::random::<[u8; 32]>()));
    state
        .store
        .create_session(account.id, &token, now, now + SESSION_LIFETIME_SECS)
        .await?;
    let entry = NewEntry::new(
        crate::audit::Actor::Analyst(account.name.clone()),
        "account.login",
    )
    .params(json!({ "address": address }));
    state.store.append_audit(entry).await?;

    let mut response = Json(account_json(&account)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&token, SESSION_LIFETIME_SECS),
    );
    Ok(response)
}

pub(super) async fn logout(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Via::Cookie(token) = &caller.via {
        state.store.delete_session(token).await?;
        response
            .headers_mut()
            .insert(header::SET_COOKIE, session_cookie("", 0));
    }
    Ok(response)
}

pub(super) async fn me(caller: Caller) -> Json<Value> {
    let mut value = account_json(&caller.account);
    value["roles"] = json!(caller.roles);
    value["via"] = json!(match caller.via {
        Via::Cookie(_) => "session",
        Via::Token(_) => "token",
    });
    Json(value)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordChange {
    current: String,
    new: String,
}

pub(super) async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Body(change): Body<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let Via::Cookie(session) = &caller.via else {
        return Err(ApiError::forbidden(
            "passwords are changed from a web session, not with a token",
        ));
    };
    let length = change.new.chars().count();
    if length < MIN_PASSWORD_LEN || change.new.len() > MAX_PASSWORD_LEN {
        return Err(ApiError::invalid(format!(
            "the new password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters long"
        )));
    }
    if change.new == change.current {
        return Err(ApiError::invalid(
            "the new password must differ from the current one",
        ));
    }
    let account = &caller.account;
    let actor = crate::audit::Actor::Analyst(account.name.clone());
    if !verify_blocking(change.current, account.password_hash.clone()).await {
        let entry = NewEntry::new(actor, "account.password")
            .outcome(Outcome::Refused("current password wrong".into()));
        state.store.append_audit(entry).await?;
        return Err(ApiError::forbidden("the current password is wrong"));
    }
    let new = change.new;
    let hash = tokio::task::spawn_blocking(move || hash_password(&new))
        .await
        .map_err(|_| anyhow::anyhow!("password hashing task failed"))??;
    state
        .store
        .set_password(account.id, &hash, false, unix_now())
        .await?;
    // Whoever might have learnt the old password loses the sessions it opened.
    state
        .store
        .delete_other_sessions(account.id, session)
        .await?;
    state
        .store
        .append_audit(NewEntry::new(actor, "account.password"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
