//! `GET /tickets/{number}/export`: a ticket's timeline as one printable HTML page, rendered on
//! the server so that it prints the same from any browser and can be saved as a record.
//!
//! Everything on it comes from the same document as `export.json` and goes through
//! [`html::safe`] (escaped and capped), including the audit hashes, so a copy kept outside
//! the console can later be compared with `hotline-console audit verify`.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

use super::html::{element, safe};
use crate::api::{ApiError, AppState, Caller, export_json};
use crate::authz::{Action, authorize};
use crate::tickets::TicketNumber;

/// Longest text of one cell on the page (notes and reasons included), in characters.
const MAX_CELL: usize = 10_000;
/// Longest short field (names, titles, actions), in characters.
const MAX_FIELD: usize = 200;

pub async fn page(
    State(state): State<AppState>,
    Path(number): Path<String>,
    caller: Result<Caller, ApiError>,
) -> Response {
    // A page opened from a bookmark or a new tab after the session ended: send the person to
    // the login page rather than showing them a JSON error.
    let Ok(caller) = caller else {
        return Redirect::to("/login").into_response();
    };
    let Ok(ticket) = number.parse::<TicketNumber>() else {
        return ApiError::not_found(format!("no ticket {number}")).into_response();
    };
    if let Err(refusal) = authorize(
        &state.store,
        &caller.principal(),
        Action::ViewTickets,
        None,
        Some(ticket),
    )
    .await
    {
        return ApiError::from(refusal).into_response();
    }
    match export_json(&state.store, ticket).await {
        Ok(document) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            render(&document),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

/// The page for an export document (the value `export_json` returns).
pub fn render(document: &Value) -> String {
    let ticket = &document["ticket"];
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let number = ticket["number"].as_i64().unwrap_or_default();
    let title = text(&ticket["title"]);

    let mut out = String::with_capacity(16 * 1024);
    out.push_str(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"stylesheet\" href=\"/assets/export.css\">\
         <script type=\"module\" src=\"/assets/js/print.js\"></script>",
    );
    write!(
        out,
        "<title>Ticket {number}: {}</title></head><body>",
        safe(&title, MAX_FIELD)
    )
    .ok();
    out.push_str(
        "<div class=\"noprint\"><button id=\"print\" type=\"button\">Print</button></div>",
    );
    write!(out, "<h1>Ticket {number}: {}</h1>", safe(&title, MAX_FIELD)).ok();

    // The ticket's fields, as a definition list.
    out.push_str("<dl class=\"meta\">");
    let devices = ticket["devices"]
        .as_array()
        .map(|ids| ids.iter().map(text).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let caller_name = text(&ticket["caller"]["name"]);
    let caller_contact = text(&ticket["caller"]["contact"]);
    let fields = [
        ("Status", text(&ticket["status"])),
        ("Priority", ticket["priority"].to_string()),
        (
            "Caller",
            format!("{caller_name} {caller_contact}").trim().to_owned(),
        ),
        ("Devices", devices),
        ("Assignee", text(&ticket["assignee"])),
        ("External ticket", text(&ticket["external_ref"])),
        ("Opened", text(&ticket["created_at"])),
        ("Updated", text(&ticket["updated_at"])),
        ("Closed", text(&ticket["closed_at"])),
        ("Resolution", text(&ticket["resolution"])),
    ];
    for (label, value) in fields.iter().filter(|(_, value)| !value.is_empty()) {
        element(&mut out, "dt", label, MAX_FIELD);
        element(&mut out, "dd", value, MAX_CELL);
    }
    out.push_str("</dl>");

    // The audit entries in chain order; notes are `ticket.note` entries with their text.
    out.push_str(
        "<table><thead><tr><th>#</th><th>When</th><th>Who</th><th>What</th>\
         <th>Outcome</th><th>Details</th></tr></thead><tbody>",
    );
    for entry in document["audit"].as_array().into_iter().flatten() {
        row(&mut out, entry, document);
    }
    out.push_str("</tbody></table>");

    write!(
        out,
        "<footer>Exported {} from the Hotline console. Each entry's hash is the SHA-256 link \
         of the console's audit chain.</footer></body></html>",
        safe(&text(&document["exported_at"]), MAX_FIELD)
    )
    .ok();
    out
}

/// One audit entry as a table row.
fn row(out: &mut String, entry: &Value, document: &Value) {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let seq = entry["seq"].as_i64().unwrap_or_default();
    let outcome = text(&entry["outcome"]);
    let class = match outcome.as_str() {
        "refused" | "failed" => outcome.as_str(),
        _ => "ok",
    };
    write!(out, "<tr><td>{seq}</td><td class=\"when\">").ok();
    out.push_str(&safe(&text(&entry["at"]), MAX_FIELD));
    out.push_str("</td>");
    element(out, "td", &text(&entry["actor"]), MAX_FIELD);
    element(out, "td", &text(&entry["action"]), MAX_FIELD);
    let reason = text(&entry["reason"]);
    let shown = if reason.is_empty() {
        outcome.clone()
    } else {
        format!("{outcome}: {reason}")
    };
    write!(
        out,
        "<td class=\"{class}\">{}</td><td class=\"text\">",
        safe(&shown, MAX_CELL)
    )
    .ok();
    out.push_str(&safe(&details(entry, seq, document), MAX_CELL));
    write!(
        out,
        "<br><code>{}</code></td></tr>",
        safe(&text(&entry["hash"]), 64)
    )
    .ok();
}

/// A note's text, or the entry's device and parameters.
fn details(entry: &Value, seq: i64, document: &Value) -> String {
    let note = document["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|item| item["kind"] == "note" && item["seq"].as_i64() == Some(seq))
        .and_then(|item| item["text"].as_str());
    if let Some(note) = note {
        return note.to_owned();
    }
    let mut parts = Vec::new();
    if let Some(device) = entry["device"].as_str() {
        parts.push(format!("device {device}"));
    }
    match &entry["params"] {
        Value::Null => {}
        Value::Object(map) if map.is_empty() => {}
        params => parts.push(params.to_string()),
    }
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn hostile_strings_are_text_on_the_page() {
        let document = json!({
            "ticket": {"number": 4, "title": "<script>alert(1)</script>", "status": "open",
                       "priority": 2, "caller": {"name": "Eve \"x\"", "contact": ""},
                       "devices": ["<img src=x onerror=alert(1)>"], "created_at": "t"},
            "timeline": [{"kind": "note", "seq": 2, "text": "</td><b>bold</b>"}],
            "audit": [{"seq": 2, "at": "t", "actor": "sam", "action": "ticket.note",
                       "outcome": "ok", "hash": "ab"}],
            "exported_at": "now",
        });
        let page = render(&document);
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img src=x"));
        assert!(!page.contains("<b>bold"));
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(page.contains("&lt;/td&gt;&lt;b&gt;bold&lt;/b&gt;"));
    }
}
