//! Who is calling: a web session cookie (`hotline_session`) or an API token
//! (`Authorization: Bearer hlt_…`), looked up on every request, with the CSRF rule for
//! cookie-authenticated writes and the first-login password change enforced here.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use super::{ApiError, AppState};
use crate::accounts::Roles;
use crate::authz::Principal;
use crate::store::{Account, unix_now};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hotline_session";
/// A session ends this long after login, or after this long without a request.
pub(super) const SESSION_LIFETIME_SECS: i64 = 12 * 3600;
pub(super) const SESSION_IDLE_SECS: i64 = 2 * 3600;
/// Prefix of API tokens, so that leaked ones are easy to find in code and logs.
pub(super) const TOKEN_PREFIX: &str = "hlt_";

/// Paths a session that must change its password may still use.
const PASSWORD_CHANGE_PATHS: &[&str] = &["/api/me", "/api/password", "/api/logout"];

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A web session; holds the cookie value so logout and password change can act on it.
    Cookie(String),
    /// An API token, by id.
    Token(i64),
}

/// An authenticated caller with the roles it holds for this request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    /// For a session, the account's roles; for a token, its roles cut down to the account's.
    pub roles: Roles,
    pub via: Via,
}

impl Caller {
    /// The caller as `authz` sees it.
    pub fn principal(&self) -> Principal {
        Principal {
            name: self.account.name.clone(),
            roles: self.roles.clone(),
            token: match self.via {
                Via::Token(id) => Some(id),
                Via::Cookie(_) => None,
            },
        }
    }
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether the request's `Origin` is the console's: `state.origin`, or `https://` and the
/// request's own `Host`. A request without `Origin` passes (browsers send it on every
/// cross-origin write and on WebSocket upgrades, so its absence means a same-origin or
/// non-browser client).
pub fn origin_allowed(headers: &HeaderMap, state: &AppState) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // A browser that sends no Origin still says where a request came from in Fetch
        // Metadata; one from another site is refused like a foreign Origin.
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        return !matches!(site, Some("cross-site" | "same-site"));
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    origin == state.origin || host.is_some_and(|host| origin == format!("https://{host}"))
}

/// The client's IP address as the socket saw it.
pub(super) fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let now = unix_now();
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if let Some(token) = bearer {
            return from_token(state, token.trim(), now).await;
        }

        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(ApiError::unauthorized(
                "not logged in: no session cookie or API token",
            ));
        };
        check_csrf(parts, state)?;
        let account = state
            .store
            .session_account(token, now, SESSION_IDLE_SECS)
            .await?
            .ok_or_else(|| ApiError::unauthorized("session expired or logged out; log in again"))?;
        if account.disabled {
            return Err(ApiError::unauthorized("account disabled"));
        }
        if account.must_change_password && !PASSWORD_CHANGE_PATHS.contains(&parts.uri.path()) {
            return Err(ApiError::forbidden(
                "password change required: set a new password with POST /api/password first",
            ));
        }
        Ok(Caller {
            roles: account.roles.clone(),
            account,
            via: Via::Cookie(token.to_owned()),
        })
    }
}

async fn from_token(state: &AppState, token: &str, now: i64) -> Result<Caller, ApiError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
        return Err(ApiError::unauthorized("malformed API token"));
    }
    let (id, account, roles) = state
        .store
        .api_token_account(token, now)
        .await?
        .ok_or_else(|| ApiError::unauthorized("API token unknown, expired or revoked"))?;
    if account.disabled {
        return Err(ApiError::unauthorized("the token's account is disabled"));
    }
    if account.must_change_password {
        return Err(ApiError::forbidden(
            "the token's account must change its password first",
        ));
    }
    Ok(Caller {
        account,
        roles,
        via: Via::Token(id),
    })
}

/// The CSRF defence for cookie-authenticated writes: a JSON (or, for uploads, octet-stream)
/// content type, which a plain HTML form cannot send cross-origin without a preflight, and,
/// when present, our own Origin.
fn check_csrf(parts: &Parts, state: &AppState) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    // Both types are outside the few a cross-origin page may send without a preflight,
    // which this server never grants; octet-stream is for file uploads.
    let preflighted = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            let value = value.trim().to_ascii_lowercase();
            value.starts_with("application/json") || value.starts_with("application/octet-stream")
        });
    if !preflighted {
        return Err(ApiError::forbidden(
            "cookie-authenticated requests that change state must be Content-Type: application/json (or application/octet-stream for uploads)",
        ));
    }
    if !origin_allowed(&parts.headers, state) {
        return Err(ApiError::forbidden("request from another origin refused"));
    }
    Ok(())
}
