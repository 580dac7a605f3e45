//! `GET /api/deployments/{id}/live`: a WebSocket that pushes a deployment's whole state (as
//! `GET /api/deployments/{id}` shows it, without the caller's rights) each time it changes.
//!
//! It is guarded as the live timeline is (`live.rs`): the console's own `Origin`, a web
//! session, the right to view tickets, checked at the upgrade and every few seconds after.
//!
//! Each message is a complete snapshot, so a client that misses one loses nothing and no
//! queue can grow: the socket re-reads the deployment when the audit feed carries an entry
//! for its ticket (a device's result, a pause, a resume), and once a second while it is
//! active, since a device starting or progressing through a transfer writes no audit entry.
//! A snapshot equal to the last one sent is not sent again.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::broadcast;
use tracing::debug;

use super::live::{End, close, same_origin, session_principal};
use crate::api::{ApiError, AppState, Caller, Via};
use crate::authz::{Action, authorize};
use crate::deploy::request::status_json;
use crate::deploy::view;
use crate::tickets::TicketNumber;

/// How often an open socket re-checks its session and rights.
const RECHECK: Duration = Duration::from_secs(5);
/// How often an active deployment is re-read for changes no audit entry announces.
const REFRESH: Duration = Duration::from_secs(1);
/// Longest a single write to the client may take before the client counts as stalled.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message accepted from the client, which has nothing to say but pings and closes.
const MAX_CLIENT_MESSAGE: usize = 1024;

/// The upgrade handler: origin first, then the session cookie, the deployment, the right.
pub async fn upgrade(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    caller: Result<Caller, ApiError>,
    upgrade: WebSocketUpgrade,
) -> Response {
    match admit(&state, id, &headers, caller).await {
        Ok(watch) => upgrade
            .max_message_size(MAX_CLIENT_MESSAGE)
            .on_upgrade(move |socket| watch.run(socket)),
        Err(error) => error.into_response(),
    }
}

async fn admit(
    state: &AppState,
    id: i64,
    headers: &HeaderMap,
    caller: Result<Caller, ApiError>,
) -> Result<Watch, ApiError> {
    if !same_origin(headers, state) {
        debug!(origin = ?headers.get("origin"), "live deployment: upgrade from another origin refused");
        return Err(ApiError::forbidden("WebSocket from another origin refused"));
    }
    let caller = caller?;
    let Via::Cookie(session) = caller.via.clone() else {
        return Err(ApiError::forbidden(
            "the live deployment needs a web session, not an API token",
        ));
    };
    let deployment = state
        .store
        .deployment(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no deployment {id}")))?;
    authorize(
        &state.store,
        &caller.principal(),
        Action::ViewTickets,
        None,
        None,
    )
    .await?;
    Ok(Watch {
        state: state.clone(),
        id,
        ticket: deployment.ticket,
        session,
    })
}

struct Watch {
    state: AppState,
    id: i64,
    ticket: TicketNumber,
    session: String,
}

impl Watch {
    async fn run(self, mut socket: WebSocket) {
        // Subscribe before the first read, so a change in between wakes the loop.
        let feed = self.state.feed.subscribe();
        let end = self.serve(&mut socket, feed).await;
        close(&mut socket, end).await;
    }

    async fn serve(
        &self,
        socket: &mut WebSocket,
        mut feed: broadcast::Receiver<crate::audit::TimelineItem>,
    ) -> End {
        let mut last = String::new();
        let mut active = true;
        let mut refresh = tokio::time::interval(REFRESH);
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.tick().await;
        loop {
            let wake = tokio::select! {
                _ = refresh.tick() => active,
                item = feed.recv() => match item {
                    Ok(item) => item.ticket == Some(self.ticket.0),
                    // Snapshots are whole: after missing entries, one fresh read catches up.
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => return End::Shutdown,
                },
                _ = recheck.tick() => {
                    if let Err(reason) = self.still_allowed().await {
                        return End::NotAllowed(reason);
                    }
                    false
                }
                message = socket.recv() => match message {
                    None | Some(Err(_) | Ok(Message::Close(_))) => return End::ClientGone,
                    // Pings are answered by the socket itself; the page sends nothing else.
                    Some(Ok(_)) => false,
                },
            };
            if !wake && !last.is_empty() {
                continue;
            }
            match self.snapshot().await {
                Ok(Some((text, is_active))) => {
                    active = is_active;
                    if text != last {
                        if send(socket, &text).await.is_err() {
                            return End::ClientGone;
                        }
                        last = text;
                    }
                }
                Ok(None) => return End::NotAllowed(format!("deployment {} is gone", self.id)),
                Err(error) => debug!(error = format!("{error:#}"), "live deployment: read failed"),
            }
        }
    }

    /// The deployment as a message, and whether it is still active; `None` once it is gone.
    async fn snapshot(&self) -> anyhow::Result<Option<(String, bool)>> {
        let store = &self.state.store;
        let Some(deployment) = store.deployment(self.id).await? else {
            return Ok(None);
        };
        let devices = store.deployment_devices(self.id).await?;
        let mut status = status_json(store, &deployment, &devices).await?;
        view::extend(&mut status, &deployment, &devices);
        let message = json!({ "kind": "deployment", "deployment": status });
        Ok(Some((message.to_string(), deployment.status == "active")))
    }

    /// The session still exists, its account is enabled and may still view tickets.
    async fn still_allowed(&self) -> Result<(), String> {
        let principal = session_principal(&self.state, &self.session).await?;
        authorize(
            &self.state.store,
            &principal,
            Action::ViewTickets,
            None,
            None,
        )
        .await
        .map(|_| ())
        .map_err(|refusal| refusal.reason)
    }
}

async fn send(socket: &mut WebSocket, text: &str) -> Result<(), ()> {
    let message = Message::Text(text.to_owned().into());
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}
