// One ticket: its fields (editable by those who may), its devices, and its timeline of notes
// and audit entries, which follows new entries live over a WebSocket.

import { get, patch, post } from "../api.js";
import { field, formatTime, h, notify, replace, text } from "../dom.js";
import { follow } from "../live.js";
import { credentialsPanel } from "./credentials.js";
import { deploymentsPanel } from "./deploy-bits.js";
import { PRIORITIES, priorityBadge, STATUSES, statusPill, timelineItem } from "./ticket-bits.js";

export const title = ([number]) => `Ticket ${number}`;

const MAX_NOTE = 10000;

export async function render(main, ctx) {
  const number = ctx.params[0];
  const { ticket, timeline } = await get(`/api/tickets/${number}`);
  const seen = new Set();
  const list = h("ol", { class: "timeline", id: "timeline", "aria-label": "Timeline", "aria-live": "polite" });
  const liveState = h("span", { class: "live-state", id: "live-state" }, "connecting\u2026");
  const header = h("div");
  const facts = h("aside", { class: "facts-panel", "aria-label": "Ticket fields" });

  function addItem(item) {
    const key = `${item.kind}:${item.seq}`;
    if (item.seq !== undefined && seen.has(key)) return;
    seen.add(key);
    // Newest first: the entry that just happened sits right under the note box.
    list.prepend(timelineItem(item));
  }
  function show(current) {
    replace(header, h("div", { class: "ticket-head" },
      h("h1", {}, h("span", { class: "muted" }, `#${current.number} `), text(current.title, 200)),
      statusPill(current.status), priorityBadge(current.priority),
      h("span", { class: "spacer" }),
      liveState,
      h("a", { class: "button", href: `/tickets/${current.number}/export`, target: "_blank", rel: "noopener" }, "Print / export"),
      h("a", { class: "button", href: `/api/tickets/${current.number}/export.json`, "data-external": true, download: `ticket-${current.number}.json` }, "JSON")));
    replace(facts, editor(current, ctx, show), credentialsPanel(current), deploymentsPanel(current, ctx.me));
  }

  [...timeline].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0)).forEach(addItem);
  show(ticket);

  main.append(header, h("div", { class: "ticket-layout" },
    h("section", { class: "ticket-main" }, noteForm(number, addItem, ticket.status === "closed"), list),
    facts));

  const stop = follow(number, addItem, (state, detail) => {
    liveState.className = `live-state ${state}`;
    liveState.textContent = { live: "\u25cf live", retrying: "reconnecting\u2026", lagged: "out of date", ended: "not live" }[state] || state;
    if (detail) liveState.title = detail;
    if (state === "lagged") {
      notify(detail, "sticky");
      replace(liveState, h("button", { type: "button", onclick: () => location.reload() }, "Reload timeline"));
    }
  });
  return stop;
}

function noteForm(number, addItem, closed) {
  const area = h("textarea", { id: "note", "data-note": true, rows: "3", maxlength: String(MAX_NOTE), required: true,
    placeholder: closed ? "This ticket is closed." : "Add a note (c), Ctrl+Enter to save", disabled: closed });
  const counter = h("small", { class: "hint" }, `0 / ${MAX_NOTE}`);
  const button = h("button", { type: "submit", class: "primary", disabled: closed }, "Add note");
  area.addEventListener("input", () => { counter.textContent = `${area.value.length} / ${MAX_NOTE}`; });
  return h("form", { class: "note-form", onsubmit: async (event) => {
    event.preventDefault();
    const value = area.value.trim();
    if (!value) return;
    button.disabled = true;
    try {
      addItem(await post(`/api/tickets/${number}/notes`, { text: value }));
      area.value = "";
      counter.textContent = `0 / ${MAX_NOTE}`;
    } catch (failure) {
      notify(failure.message, "error");
    } finally {
      button.disabled = false;
      area.focus();
    }
  } }, h("label", { for: "note", class: "visually-hidden" }, "Note"), area, h("div", { class: "actions" }, button, counter));
}

function editor(ticket, ctx, show) {
  const status = h("select", { id: "edit-status", "data-status": true }, STATUSES.map((s) => h("option", { value: s, selected: s === ticket.status }, s)));
  const priority = h("select", { id: "edit-priority" }, Object.entries(PRIORITIES).map(([v, label]) => h("option", { value: v, selected: Number(v) === ticket.priority }, label)));
  const assignee = h("input", { id: "edit-assignee", value: ticket.assignee || "", maxlength: "64", autocomplete: "off" });
  const resolution = h("input", { id: "close-resolution", maxlength: "500", placeholder: "Resolution (optional)" });
  const closed = ticket.status === "closed";

  async function save(event) {
    event.preventDefault();
    const changes = {};
    if (status.value !== ticket.status) changes.status = status.value;
    if (Number(priority.value) !== ticket.priority) changes.priority = Number(priority.value);
    if (assignee.value.trim() !== (ticket.assignee || "")) changes.assignee = assignee.value.trim() || null;
    if (Object.keys(changes).length === 0) return;
    try {
      const updated = await patch(`/api/tickets/${ticket.number}`, changes);
      show(updated && updated.number ? updated : { ...ticket, ...changes });
      notify("Ticket updated.");
    } catch (failure) {
      notify(failure.message, "error");
    }
  }
  async function close(event) {
    event.preventDefault();
    try {
      const body = resolution.value.trim() ? { resolution: resolution.value.trim() } : {};
      const updated = await post(`/api/tickets/${ticket.number}/close`, body);
      show(updated && updated.number ? updated : { ...ticket, status: "closed" });
      notify("Ticket closed.");
    } catch (failure) {
      notify(failure.message, "error");
    }
  }

  return h("div", {},
    h("form", { class: "stack", onsubmit: save, "aria-label": "Edit ticket" },
      field("Status (e)", status), field("Priority", priority),
      field("Assignee", assignee),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Save"),
        h("button", { type: "button", class: "link", onclick: () => { assignee.value = ctx.me.username; } }, "Take it"))),
    h("dl", { class: "facts" },
      h("dt", {}, "Caller"), h("dd", {}, text(ticket.caller?.name, 80)),
      h("dt", {}, "Contact"), h("dd", {}, text(ticket.caller?.contact || "\u2013", 80)),
      h("dt", {}, "Devices"), h("dd", {}, (ticket.devices || []).length
        ? h("ul", { class: "plain" }, ticket.devices.map((d) => h("li", {}, h("a", { class: "mono", href: `/tickets?device=${encodeURIComponent(d)}` }, text(d, 40)),
          ticket.status === "closed" ? null : h("span", { class: "device-actions" },
            h("a", { class: "button", href: `/tickets/${ticket.number}/screen?device=${encodeURIComponent(d)}&mode=view`, "data-screen": "view" }, "View screen"),
            h("a", { class: "button", href: `/tickets/${ticket.number}/screen?device=${encodeURIComponent(d)}&mode=control`, "data-screen": "control" }, "Control")))))
        : "\u2013"),
      h("dt", {}, "External"), h("dd", {}, text(ticket.external_ref || "\u2013", 80)),
      h("dt", {}, "Opened"), h("dd", {}, formatTime(ticket.created_at)),
      h("dt", {}, "Updated"), h("dd", {}, formatTime(ticket.updated_at)),
      closed ? [h("dt", {}, "Closed"), h("dd", {}, formatTime(ticket.closed_at))] : null),
    closed ? null : h("form", { class: "stack", onsubmit: close, "aria-label": "Close ticket" },
      field("Resolution", resolution), h("div", { class: "actions" }, h("button", { type: "submit", class: "danger" }, "Close ticket"))));
}
