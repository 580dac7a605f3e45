//! The HTTPS side for people: the web console's pages and static files, the printable ticket
//! export, the live timeline socket and the live deployment socket (mounted with the API's
//! routes, which describe it). The JSON API lives in `crate::api`; `serve` merges both
//! routers.
//!
//! The pages are one static shell plus ES modules that render from the JSON API, embedded in
//! the binary ([`assets`]), so running the console needs no front-end build step.

pub mod assets;
pub mod deployment_live;
pub mod export;
pub mod headers;
pub mod html;
pub mod live;
pub mod screen;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde::Serialize;

use crate::api::AppState;

/// The addresses the browser may open directly; each loads the shell, whose scripts render
/// the page the address names.
pub const PAGES: &[&str] = &[
    "/",
    "/login",
    "/password",
    "/devices",
    "/tickets",
    "/tickets/new",
    "/tickets/{number}",
    "/tickets/{number}/screen",
    "/admin/analysts",
    "/deployments",
    "/deployments/new",
    "/deployments/{id}",
];

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    devices_connected: usize,
}

/// Pages and static files, for any router state: they read nothing from it.
pub fn static_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route("/assets/{*path}", get(assets::serve));
    for page in PAGES {
        router = router.route(page, get(assets::shell));
    }
    router
}

/// The pages, the printable export, the live timeline and the health check; `serve` merges
/// this with `api::router()` and supplies the state.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/tickets/{number}/export", get(export::page))
        .route("/api/tickets/{n}/live", get(live::upgrade))
        .route("/api/tickets/{n}/screen", get(screen::upgrade))
        .merge(static_router())
}

/// Adds the security headers to every response of `router`.
pub fn secured(router: Router) -> Router {
    router.layer(middleware::from_fn(headers::security))
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        devices_connected: state.link.registry.len(),
    })
}
