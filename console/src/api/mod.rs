//! The JSON API under `/api`, for the web console's pages and for scripts. Every handler
//! authenticates its caller (`Caller`), asks `authz::authorize` on every call, validates and
//! length-caps its input, and answers errors as `{"error": "..."}` saying why.
//!
//! The routes are listed once in `ROUTES`; `router()` refuses to mount a path missing there,
//! and a unit test checks that each one is described in `openapi.json`.

mod analysts;
mod audit;
mod body;
mod caller;
mod credentials;
mod deployment_list;
mod deployments;
mod devices;
mod error;
mod fleet;
mod policy;
mod repository;
mod session;
mod tickets;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, post, put};

pub use body::Body;
pub use caller::{Caller, SESSION_COOKIE, Via, cookie, origin_allowed};
pub use error::ApiError;
pub(crate) use policy::change_params;
pub use tickets::export_json;

use crate::audit::Feed;
use crate::link::Link;
use crate::store::Store;

/// The OpenAPI 3.1 description of this API, served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Largest request body the API reads.
const MAX_BODY: usize = 64 * 1024;

/// What every handler of the console's HTTPS side shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub link: Arc<Link>,
    pub feed: Feed,
    /// The console's origin as browsers see it when no `Host` header tells otherwise
    /// (`https://host:port`). Cookie-authenticated writes and WebSocket upgrades must come
    /// from this origin or from `https://` plus the request's `Host`.
    pub origin: String,
    /// How long a caller has to answer a remote session's prompt.
    pub consent_timeout: std::time::Duration,
    /// Repository uploads in progress.
    pub uploads: Arc<crate::deploy::upload::Uploads>,
}

/// Every API route as (path, methods), in the order `router()` mounts them.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/api/openapi.json", &["get"]),
    ("/api/login", &["post"]),
    ("/api/logout", &["post"]),
    ("/api/me", &["get"]),
    ("/api/password", &["post"]),
    ("/api/devices", &["get"]),
    ("/api/devices/{id}", &["get"]),
    ("/api/devices/{id}/accounts", &["get"]),
    ("/api/devices/{id}/reset", &["post"]),
    ("/api/devices/{id}/policy", &["get", "put"]),
    ("/api/tickets", &["get", "post"]),
    ("/api/tickets/{n}", &["get", "patch"]),
    ("/api/tickets/{n}/notes", &["post"]),
    ("/api/tickets/{n}/close", &["post"]),
    ("/api/tickets/{n}/export.json", &["get"]),
    ("/api/analysts", &["get", "post"]),
    ("/api/analysts/{username}", &["patch"]),
    ("/api/tokens", &["get", "post"]),
    ("/api/tokens/{id}", &["delete"]),
    ("/api/audit", &["get"]),
    ("/api/deployments", &["get", "post"]),
    ("/api/deployments/{id}", &["get"]),
    ("/api/deployments/{id}/state", &["post"]),
    ("/api/devices/{id}/tags", &["post"]),
    ("/api/devices/{id}/tags/{tag}", &["delete"]),
    ("/api/groups", &["get", "post"]),
    ("/api/groups/{name}/window", &["put", "delete"]),
    ("/api/groups/{name}/members", &["post"]),
    ("/api/groups/{name}/members/{device}", &["delete"]),
    ("/api/deployments/{id}/live", &["get"]),
    ("/api/packages", &["get"]),
    ("/api/repository/uploads", &["post"]),
    ("/api/repository/uploads/{id}", &["delete"]),
    ("/api/repository/uploads/{id}/metadata/{name}", &["put"]),
    ("/api/repository/uploads/{id}/targets/{name}", &["put"]),
    ("/api/repository/uploads/{id}/publish", &["post"]),
];

fn mount(
    router: Router<AppState>,
    path: &'static str,
    method: MethodRouter<AppState>,
) -> Router<AppState> {
    assert!(
        ROUTES.iter().any(|(known, _)| *known == path),
        "{path} is missing from api::ROUTES and so from the OpenAPI check"
    );
    router.route(path, method)
}

/// The API's routes; the caller supplies the state.
pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    router = mount(router, "/api/openapi.json", get(openapi));
    router = mount(router, "/api/login", post(session::login));
    router = mount(router, "/api/logout", post(session::logout));
    router = mount(router, "/api/me", get(session::me));
    router = mount(router, "/api/password", post(session::change_password));
    router = mount(router, "/api/devices", get(devices::list));
    router = mount(router, "/api/devices/{id}", get(devices::show));
    router = mount(
        router,
        "/api/devices/{id}/accounts",
        get(credentials::accounts),
    );
    router = mount(router, "/api/devices/{id}/reset", post(credentials::reset));
    router = mount(
        router,
        "/api/devices/{id}/policy",
        get(policy::show).put(policy::set),
    );
    router = mount(
        router,
        "/api/tickets",
        get(tickets::list).post(tickets::create),
    );
    router = mount(
        router,
        "/api/tickets/{n}",
        get(tickets::show).patch(tickets::update),
    );
    router = mount(router, "/api/tickets/{n}/notes", post(tickets::note));
    router = mount(router, "/api/tickets/{n}/close", post(tickets::close));
    router = mount(router, "/api/tickets/{n}/export.json", get(tickets::export));
    router = mount(
        router,
        "/api/analysts",
        get(analysts::list).post(analysts::create),
    );
    router = mount(
        router,
        "/api/analysts/{username}",
        axum::routing::patch(analysts::update),
    );
    router = mount(
        router,
        "/api/tokens",
        get(analysts::list_tokens).post(analysts::create_token),
    );
    router = mount(router, "/api/tokens/{id}", delete(analysts::revoke_token));
    router = mount(router, "/api/audit", get(audit::list));
    router = mount(
        router,
        "/api/deployments",
        get(deployment_list::list).post(deployments::create),
    );
    router = mount(router, "/api/deployments/{id}", get(deployments::show));
    router = mount(
        router,
        "/api/deployments/{id}/state",
        post(deployments::set_state),
    );
    router = mount(router, "/api/devices/{id}/tags", post(fleet::add_tag));
    router = mount(
        router,
        "/api/devices/{id}/tags/{tag}",
        delete(fleet::remove_tag),
    );
    router = mount(
        router,
        "/api/groups",
        get(fleet::list_groups).post(fleet::create_group),
    );
    router = mount(
        router,
        "/api/groups/{name}/window",
        put(fleet::set_window).delete(fleet::clear_window),
    );
    router = mount(
        router,
        "/api/groups/{name}/members",
        post(fleet::add_member),
    );
    router = mount(
        router,
        "/api/groups/{name}/members/{device}",
        delete(fleet::remove_member),
    );
    router = mount(
        router,
        "/api/deployments/{id}/live",
        get(crate::web::deployment_live::upgrade),
    );
    router = mount(router, "/api/packages", get(deployment_list::packages));
    router = mount(router, "/api/repository/uploads", post(repository::begin));
    router = mount(
        router,
        "/api/repository/uploads/{id}",
        delete(repository::abandon),
    );
    // Uploaded files are streamed to disk under the upload's own limits, not the JSON one.
    router = mount(
        router,
        "/api/repository/uploads/{id}/metadata/{name}",
        put(repository::put_metadata).layer(DefaultBodyLimit::disable()),
    );
    router = mount(
        router,
        "/api/repository/uploads/{id}/targets/{name}",
        put(repository::put_target).layer(DefaultBodyLimit::disable()),
    );
    router = mount(
        router,
        "/api/repository/uploads/{id}/publish",
        post(repository::publish),
    );
    router.layer(DefaultBodyLimit::max(MAX_BODY))
}

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_mounted_and_described_in_the_openapi_document() {
        let _ = router();
        let document: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        assert_eq!(document["openapi"], "3.1.0");
        for (path, methods) in ROUTES {
            let described = &document["paths"][*path];
            assert!(described.is_object(), "{path} is not in openapi.json");
            for method in *methods {
                assert!(
                    described[*method].is_object(),
                    "{method} {path} is not in openapi.json"
                );
            }
        }
        let listed = document["paths"]
            .as_object()
            .map_or(0, serde_json::Map::len);
        assert_eq!(
            listed,
            ROUTES.len(),
            "openapi.json describes a path that is not routed"
        );
    }
}
