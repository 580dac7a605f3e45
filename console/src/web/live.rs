//! `GET /api/tickets/{n}/live`: a WebSocket that pushes a ticket's new timeline items.
//!
//! A browser sends cookies with a WebSocket handshake from any site, and the same-origin
//! policy does not apply to WebSockets, so a page elsewhere could otherwise open this socket
//! with the analyst's session (cross-site WebSocket hijacking, MeshCentral CVE-2024-26135).
//! The upgrade is therefore refused unless the `Origin` header is present and is the
//! console's own, the caller holds a valid session cookie, and it may view the ticket. While
//! the socket is open the session and the right are checked again every few seconds, so a
//! logout, a disabled account or a lost role ends it.
//!
//! Items reach the socket through a small bounded queue. A client that cannot keep up is
//! told to reload (`{"kind":"lagged"}`) and disconnected, rather than buffered without limit.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tracing::debug;

use crate::api::{ApiError, AppState, Caller, Via};
use crate::audit::TimelineItem;
use crate::authz::{Action, Principal, authorize};
use crate::store::unix_now;
use crate::tickets::TicketNumber;

/// How often an open socket re-checks its session and rights.
const RECHECK: Duration = Duration::from_secs(5);
/// Items of this ticket waiting for one socket; more than this and the client must reload.
const QUEUE: usize = 64;
/// Longest a single write to the client may take before the client counts as stalled.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message accepted from the client, which has nothing to say but pings and closes.
const MAX_CLIENT_MESSAGE: usize = 1024;

#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    /// The last sequence number the page already shows; later items are replayed first, so
    /// nothing appended between loading the page and opening the socket is missed.
    after: Option<i64>,
}

/// The upgrade handler: origin first, then the session cookie, then the right to view.
pub async fn upgrade(
    State(state): State<AppState>,
    Path(number): Path<String>,
    Query(query): Query<LiveQuery>,
    headers: HeaderMap,
    caller: Result<Caller, ApiError>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers, &state) {
        debug!(origin = ?headers.get("origin"), "live timeline: upgrade from another origin refused");
        return ApiError::forbidden("WebSocket from another origin refused").into_response();
    }
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let Via::Cookie(session) = caller.via.clone() else {
        return ApiError::forbidden("the live timeline needs a web session, not an API token")
            .into_response();
    };
    let Ok(ticket) = number.parse::<TicketNumber>() else {
        return ApiError::not_found(format!("no ticket {number}")).into_response();
    };
    match state.store.ticket(ticket).await {
        Ok(Some(_)) => {}
        Ok(None) => return ApiError::not_found(format!("no ticket {ticket}")).into_response(),
        Err(error) => return ApiError::from(error).into_response(),
    }
    let principal = caller.principal();
    if let Err(refusal) = authorize(
        &state.store,
        &principal,
        Action::ViewTickets,
        None,
        Some(ticket),
    )
    .await
    {
        return ApiError::from(refusal).into_response();
    }

    let watch = Watch {
        state,
        ticket,
        session,
        after: query.after.unwrap_or(0),
    };
    upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| watch.run(socket))
}

/// A browser's WebSocket handshake always carries `Origin`; one without it is not a page of
/// this console, so unlike the API's CSRF rule a missing header is refused here.
pub(super) fn same_origin(headers: &HeaderMap, state: &AppState) -> bool {
    headers.contains_key(axum::http::header::ORIGIN) && crate::api::origin_allowed(headers, state)
}

/// Why a socket ended, as told to the client.
pub(super) enum End {
    ClientGone,
    Lagged,
    NotAllowed(String),
    Shutdown,
}

struct Watch {
    state: AppState,
    ticket: TicketNumber,
    session: String,
    after: i64,
}

impl Watch {
    async fn run(self, mut socket: WebSocket) {
        // Subscribe before replaying, so an item appended in between is in one or the other.
        let feed = self.state.feed.subscribe();
        let (queue, mut items) = mpsc::channel(QUEUE);
        let forward = tokio::spawn(forward(feed, self.ticket, queue));
        let end = self.serve(&mut socket, &mut items).await;
        forward.abort();
        close(&mut socket, end).await;
    }

    async fn serve(&self, socket: &mut WebSocket, items: &mut mpsc::Receiver<Item>) -> End {
        let mut last = self.after;
        match self.state.store.timeline(self.ticket).await {
            Ok(timeline) => {
                let after = last;
                for item in timeline.into_iter().filter(|item| item.seq > after) {
                    last = item.seq;
                    if send(socket, &item).await.is_err() {
                        return End::ClientGone;
                    }
                }
            }
            Err(error) => debug!(error = format!("{error:#}"), "live timeline: replay failed"),
        }

        let mut recheck = tokio::time::interval(RECHECK);
        recheck.tick().await;
        loop {
            tokio::select! {
                item = items.recv() => match item {
                    Some(Item::Entry(item)) if item.seq > last => {
                        last = item.seq;
                        if send(socket, &item).await.is_err() {
                            return End::ClientGone;
                        }
                    }
                    Some(Item::Entry(_)) => {}
                    Some(Item::Lagged) => return End::Lagged,
                    None => return End::Shutdown,
                },
                _ = recheck.tick() => {
                    if let Err(reason) = self.still_allowed().await {
                        return End::NotAllowed(reason);
                    }
                }
                message = socket.recv() => match message {
                    None | Some(Err(_) | Ok(Message::Close(_))) => return End::ClientGone,
                    // Pings are answered by the socket itself; the page sends nothing else.
                    Some(Ok(_)) => {}
                },
            }
        }
    }

    /// The session still exists, its account is enabled and may still view the ticket.
    async fn still_allowed(&self) -> Result<(), String> {
        let principal = session_principal(&self.state, &self.session).await?;
        authorize(
            &self.state.store,
            &principal,
            Action::ViewTickets,
            None,
            Some(self.ticket),
        )
        .await
        .map(|_| ())
        .map_err(|refusal| refusal.reason)
    }
}

/// The account of web session `session` as `authz` sees it, while the session exists, the
/// account is enabled and needs no password change; otherwise why not, for the client.
pub(super) async fn session_principal(
    state: &AppState,
    session: &str,
) -> Result<Principal, String> {
    // FIXME: this lookup marks the session used, so an open live socket keeps an otherwise
    // idle session alive until its absolute expiry; it needs a read-only lookup.
    let account = state
        .store
        .session_account(session, unix_now(), i64::MAX)
        .await
        .map_err(|error| format!("session check failed: {error:#}"))?
        .ok_or_else(|| "your session ended".to_owned())?;
    if account.disabled {
        return Err("your account was disabled".into());
    }
    if account.must_change_password {
        return Err("password change required".into());
    }
    Ok(Principal {
        name: account.name.clone(),
        roles: account.roles.clone(),
        token: None,
    })
}

/// What the feed task hands to a socket.
enum Item {
    Entry(Box<TimelineItem>),
    Lagged,
}

/// Moves this ticket's items from the console-wide feed into the socket's bounded queue. A
/// full queue or a lagging feed both mean the client has missed items: say so and stop.
async fn forward(
    mut feed: broadcast::Receiver<TimelineItem>,
    ticket: TicketNumber,
    queue: mpsc::Sender<Item>,
) {
    loop {
        match feed.recv().await {
            Ok(item) if item.ticket == Some(ticket.0) => {
                if let Err(mpsc::error::TrySendError::Full(_)) =
                    queue.try_send(Item::Entry(Box::new(item)))
                {
                    // The queue is full, so wait for room for the one message that matters.
                    queue.send(Item::Lagged).await.ok();
                    return;
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                debug!(missed, "live timeline: feed lagged");
                queue.send(Item::Lagged).await.ok();
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn send(socket: &mut WebSocket, item: &TimelineItem) -> Result<(), ()> {
    let text = serde_json::to_string(item).map_err(|_| ())?;
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Tells the client why the socket ends (a JSON line it can show, then a close frame).
pub(super) async fn close(socket: &mut WebSocket, end: End) {
    let (notice, code, reason) = match end {
        End::ClientGone => return,
        End::Lagged => (
            json!({"kind": "lagged"}),
            close_code::AGAIN,
            "fell behind; reload".to_owned(),
        ),
        End::NotAllowed(reason) => (
            json!({"kind": "ended", "reason": reason}),
            close_code::POLICY,
            reason,
        ),
        End::Shutdown => (
            json!({"kind": "ended", "reason": "console stopping"}),
            close_code::AWAY,
            "console stopping".to_owned(),
        ),
    };
    let reason: String = reason.chars().take(100).collect();
    let frames = [
        Message::Text(notice.to_string().into()),
        Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        })),
    ];
    for frame in frames {
        if tokio::time::timeout(SEND_TIMEOUT, socket.send(frame))
            .await
            .is_err()
        {
            return;
        }
    }
}
