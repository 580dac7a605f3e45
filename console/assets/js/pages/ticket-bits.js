// Small pieces shared by the ticket pages: status pills, priority badges, timeline entries.

import { formatTime, h, text } from "../dom.js";

export const STATUSES = ["new", "open", "waiting", "resolved", "closed"];
export const PRIORITIES = { 1: "P1 critical", 2: "P2 high", 3: "P3 normal", 4: "P4 low" };

export function statusPill(status) {
  const known = STATUSES.includes(status) ? status : "unknown";
  return h("span", { class: `pill status-${known}` }, text(status, 16));
}

export function priorityBadge(priority) {
  const p = Number(priority);
  return h("span", { class: `prio p${[1, 2, 3, 4].includes(p) ? p : 0}`, title: PRIORITIES[p] || "" }, `P${Number.isFinite(p) ? p : "?"}`);
}

/** Who did it, from an actor the API renders as a string or as `{kind, name}`. */
export function actorName(actor) {
  if (actor === null || actor === undefined) return "";
  if (typeof actor === "string") return actor;
  if (typeof actor === "object") {
    const [kind, value] = Object.entries(actor)[0] || [];
    if (actor.name || actor.id) return String(actor.name || actor.id);
    return value === undefined ? String(kind) : `${kind}: ${typeof value === "string" ? value : JSON.stringify(value)}`;
  }
  return String(actor);
}

/** One timeline entry as a list item: a note's text, or an audit entry's action and outcome. */
export function timelineItem(item) {
  const outcome = item.outcome && typeof item.outcome === "object" ? item.outcome.outcome : item.outcome;
  const reason = item.reason || (item.outcome && typeof item.outcome === "object" ? item.outcome.reason : "");
  const head = h("div", { class: "when" },
    h("time", { datetime: String(item.at ?? "") }, formatTime(item.at)), " ",
    h("strong", {}, text(actorName(item.actor), 64)),
    item.kind === "audit" ? [" ", h("code", {}, text(item.action, 64))] : null,
    item.device ? [" on ", h("span", { class: "mono" }, text(item.device, 32))] : null,
    outcome && outcome !== "ok" ? [" ", h("span", { class: `pill outcome-${outcome === "refused" ? "refused" : "failed"}` }, text(outcome, 16))] : null);
  const body = item.kind === "note"
    ? h("div", { class: "note-text" }, text(item.text, 10000))
    : h("div", { class: "audit-text" },
      reason ? h("div", {}, "Reason: ", text(reason, 500)) : null,
      item.params && Object.keys(item.params).length ? h("code", { class: "params" }, text(JSON.stringify(item.params), 400)) : null);
  return h("li", { class: `entry ${item.kind === "note" ? "note" : "audit"}`, "data-seq": String(item.seq ?? "") }, head, body);
}
