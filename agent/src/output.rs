//! What `hotline-agent audit verify|list` and `consent ask|bar` print: the CLI's output layer,
//! the only place the agent writes to standard output.

#![allow(clippy::print_stdout, reason = "this module is the CLI's output layer")]

use anyhow::Result;
use hotline_agent::audit::Inspection;
use hotline_agent::consent::ConsentAnswer;
use hotline_agent::consent::bar::BarEvent;
use hotline_protocol::audit::AgentAuditEntry;
use hotline_protocol::enroll::encode_hex;
use serde_json::json;

/// Reports a log whose chain is whole (an error has already been returned otherwise).
pub(crate) fn verify(inspection: &Inspection) -> Result<()> {
    let count = inspection.entries.len();
    match (inspection.entries.first(), inspection.entries.last()) {
        (Some(first), Some(last)) => println!(
            "audit log whole: entries {}..={} ({count}), acknowledged by the console up to {}",
            first.seq, last.seq, inspection.acked
        ),
        _ => println!(
            "audit log whole and empty (entries up to {} compacted away)",
            inspection.base_seq
        ),
    }
    if inspection.base_seq > 0 {
        println!(
            "entries up to {} were compacted away after the console acknowledged them",
            inspection.base_seq
        );
    }
    if inspection.torn_bytes > 0 {
        println!(
            "the last {} bytes are a record torn by a crash; the agent cuts them when it starts",
            inspection.torn_bytes
        );
    }
    Ok(())
}

/// Lists the entries as a table or as JSON.
pub(crate) fn list(inspection: &Inspection, as_json: bool) -> Result<()> {
    if as_json {
        let entries: Vec<_> = inspection
            .entries
            .iter()
            .map(|entry| entry_json(entry, inspection.acked))
            .collect();
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    println!(
        "{:>6}  {:>13}  {:<20} {:<8} {:<5} DETAIL",
        "SEQ", "AT_MS", "ACTION", "OUTCOME", "ACKED"
    );
    for entry in &inspection.entries {
        let detail = entry.outcome.reason().unwrap_or(&entry.params_json);
        let acked = if entry.seq <= inspection.acked {
            "yes"
        } else {
            "no"
        };
        println!(
            "{:>6}  {:>13}  {:<20} {:<8} {:<5} {detail}",
            entry.seq,
            entry.at_ms,
            entry.action,
            entry.outcome.name(),
            acked
        );
    }
    Ok(())
}

/// Prints a prompt's answer as its word, with the reason when it could not be shown.
pub(crate) fn consent_answer(answer: &ConsentAnswer) {
    match answer {
        ConsentAnswer::CannotShow(reason) => println!("{}: {reason}", answer.label()),
        _ => println!("{}", answer.label()),
    }
}

/// Prints what the caller pressed on the session bar: `end`, `view_only`, or `lost: REASON`.
pub(crate) fn bar_event(event: &BarEvent) {
    match event {
        BarEvent::End => println!("end"),
        BarEvent::ViewOnly => println!("view_only"),
        BarEvent::Lost(reason) => println!("lost: {reason}"),
    }
}

fn entry_json(entry: &AgentAuditEntry, acked: u64) -> serde_json::Value {
    json!({
        "seq": entry.seq,
        "at_ms": entry.at_ms,
        "action": entry.action,
        "params": serde_json::from_str::<serde_json::Value>(&entry.params_json)
            .unwrap_or(serde_json::Value::Null),
        "ticket": entry.ticket,
        "outcome": entry.outcome.name(),
        "reason": entry.outcome.reason(),
        "prev_hash": encode_hex(&entry.prev_hash),
        "hash": encode_hex(&entry.hash),
        "acked": entry.seq <= acked,
    })
}

/// The monitors `hotline-agent screen monitors` found, one JSON object per line.
pub(crate) fn monitors(monitors: &[hotline_agent::screen::capture::Monitor]) -> Result<()> {
    for monitor in monitors {
        println!("{}", serde_json::to_string(monitor)?);
    }
    Ok(())
}

/// One line per frame `hotline-agent screen capture` wrote.
pub(crate) fn captured(index: usize, width: u16, height: u16, path: &std::path::Path) {
    println!("frame {index}: {width}x{height} -> {}", path.display());
}
