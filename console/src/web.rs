//! The HTTPS listener for people. For now it serves a status page and a health check; the
//! web console proper builds on this router.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::link::Link;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    devices_connected: usize,
}

pub fn router(link: Arc<Link>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(health))
        .with_state(link)
}

async fn health(State(link): State<Arc<Link>>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        devices_connected: link.registry.len(),
    })
}

async fn index(State(link): State<Arc<Link>>) -> impl IntoResponse {
    let connected = link.registry.len();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Hotline console</title></head><body>\
         <h1>Hotline console</h1><p>{connected} device(s) connected.</p></body></html>"
    ))
}
