//! The web console's static files, compiled into the binary.
//!
//! Only the files named in [`ASSETS`] exist: a request path is compared with those names and
//! nothing else, so no spelling of `../`, `%2e%2e`, `..%5c` or an absolute path can reach the
//! file system (THREATS.md: static paths never served outside the root). Each file carries a
//! strong ETag computed once, so browsers revalidate cheaply instead of downloading again.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file: its path under `/assets/`, its bytes and its media type.
#[derive(Debug)]
pub struct Asset {
    pub path: &'static str,
    pub body: &'static [u8],
    pub content_type: &'static str,
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            body: include_bytes!(concat!("../../assets/", $path)),
            content_type: $type,
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the web console serves under `/assets/`.
pub const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("export.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/api.js", JS),
    asset!("js/app.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/keys.js", JS),
    asset!("js/list.js", JS),
    asset!("js/live.js", JS),
    asset!("js/print.js", JS),
    asset!("js/pages/analysts.js", JS),
    asset!("js/pages/credentials.js", JS),
    asset!("js/pages/deploy-bits.js", JS),
    asset!("js/pages/deployment.js", JS),
    asset!("js/pages/deployments.js", JS),
    asset!("js/pages/devices.js", JS),
    asset!("js/pages/login.js", JS),
    asset!("js/pages/new-deployment.js", JS),
    asset!("js/pages/new-ticket.js", JS),
    asset!("js/pages/password.js", JS),
    asset!("js/pages/ticket-bits.js", JS),
    asset!("js/pages/ticket.js", JS),
    asset!("js/pages/tickets.js", JS),
    asset!("js/pages/screen.js", JS),
    asset!("js/screen/cursor.js", JS),
    asset!("js/screen/frame.js", JS),
];

/// The single page every browser route loads; its scripts then render the page named by the
/// address from the JSON API.
pub const SHELL: Asset = Asset {
    path: "index.html",
    body: include_bytes!("../../assets/index.html"),
    content_type: "text/html; charset=utf-8",
};

/// The asset named exactly `path`, if there is one.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

/// `GET /assets/{*path}`.
pub async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match find(&path) {
        Some(asset) => respond(asset, &headers),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET` of a page: the shell.
pub async fn shell(headers: HeaderMap) -> Response {
    respond(&SHELL, &headers)
}

/// The asset with its type and ETag, or 304 when the browser already has this version.
fn respond(asset: &'static Asset, request: &HeaderMap) -> Response {
    let etag = etag(asset);
    let cached = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    // `no-cache` means "revalidate before use": file names carry no version, so a browser
    // must ask each time, and the ETag makes the answer a bodiless 304 when nothing changed.
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, HeaderValue::from_static(etag)),
    ];
    if cached {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else {
        (headers, asset.body).into_response()
    }
}

/// A strong ETag per asset: the first 16 bytes of its SHA-256, computed once.
fn etag(asset: &'static Asset) -> &'static str {
    static TAGS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .chain(std::iter::once(&SHELL))
            .map(|asset| {
                let digest = Sha256::digest(asset.body);
                (asset.path, format!("\"{}\"", hex::encode(&digest[..16])))
            })
            .collect()
    });
    tags.iter()
        .find(|(path, _)| *path == asset.path)
        .map_or("\"\"", |(_, tag)| tag.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_names_resolve() {
        assert!(find("js/app.js").is_some());
        for hostile in [
            "../Cargo.toml",
            "js/../app.css",
            "%2e%2e/Cargo.toml",
            "..%5cCargo.toml",
            "..\\Cargo.toml",
            "/etc/passwd",
            "/app.css",
            "app.css/",
            "APP.CSS",
            "",
        ] {
            assert!(find(hostile).is_none(), "{hostile} resolved");
        }
    }

    #[test]
    fn every_script_is_listed() {
        // A module the shell imports but the map lacks would 404 only in a browser: catch it
        // here by reading every import in the listed scripts.
        for asset in ASSETS.iter().filter(|asset| asset.path.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).expect("UTF-8 script");
            let base = asset.path.rsplit_once('/').map_or("", |(dir, _)| dir);
            for line in text.lines().filter(|line| line.starts_with("import ")) {
                let Some((_, rest)) = line.split_once("from \"") else {
                    continue;
                };
                let target = rest.split('"').next().expect("quoted");
                let resolved = resolve(base, target);
                assert!(
                    find(&resolved).is_some(),
                    "{} imports {resolved}",
                    asset.path
                );
            }
        }
    }

    fn resolve(base: &str, target: &str) -> String {
        let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
        for part in target.split('/') {
            match part {
                "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }
}
