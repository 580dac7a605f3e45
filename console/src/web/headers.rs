//! Security headers on every response of the web console.
//!
//! The Content-Security-Policy is the second line behind escaping: the pages load scripts,
//! styles, images and sockets only from the console itself, run no inline script, and may not
//! be framed (clickjacking). Pages never need more, so anything else a hostile string might
//! smuggle in is refused by the browser.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy for every page. `connect-src 'self'` covers `wss://` to the same host and port,
/// which the live timeline uses. `img-src blob:` lets the screen viewer give the analyst's
/// pointer the caller's cursor shape; only the page's own script can make a `blob:` URL.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Middleware adding the headers, without overriding one a handler set on purpose.
pub async fn security(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        // The console speaks only HTTPS: a browser that has seen it once never tries it in
        // clear text again, so a network attacker cannot strip TLS from a later visit.
        (
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ),
        // For browsers that predate `frame-ancestors`.
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    for (name, value) in fixed {
        headers.entry(name).or_insert(value);
    }
    response
}
