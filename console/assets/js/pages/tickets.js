// The ticket list: filters that live in the address (so a filtered view can be bookmarked or
// shared), a dense table and keyboard selection.

import { get, query } from "../api.js";
import { formatTime, h, replace, text } from "../dom.js";
import { selectableTable } from "../list.js";
import { priorityBadge, statusPill, STATUSES } from "./ticket-bits.js";

export const title = () => "Tickets";

const FILTERS = ["q", "status", "priority", "assignee", "device"];

export async function render(main, ctx) {
  const params = new URLSearchParams(location.search);
  const controls = {
    q: h("input", { type: "search", id: "ticket-q", "data-filter": true, placeholder: "Search title, caller, notes  ( / )", "aria-label": "Search tickets" }),
    status: h("select", { id: "ticket-status", "aria-label": "Status" },
      h("option", { value: "" }, "Any status"), h("option", { value: "active" }, "Not closed"),
      STATUSES.map((s) => h("option", { value: s }, s))),
    priority: h("select", { id: "ticket-priority", "aria-label": "Priority" },
      h("option", { value: "" }, "Any priority"), [1, 2, 3, 4].map((p) => h("option", { value: String(p) }, `P${p}`))),
    assignee: h("input", { type: "text", id: "ticket-assignee", placeholder: "Assignee", "aria-label": "Assignee", size: "12" }),
    device: h("input", { type: "text", id: "ticket-device", placeholder: "Device id", "aria-label": "Device", size: "12" }),
  };
  for (const name of FILTERS) controls[name].value = params.get(name) || "";

  const holder = h("div", { class: "table-wrap" });
  const count = h("span", { class: "muted", "aria-live": "polite" });
  const mine = h("button", { type: "button", onclick: () => { controls.assignee.value = ctx.me.username; apply(); } }, "Mine");

  let timer = 0;
  let generation = 0;
  async function load() {
    const filters = Object.fromEntries(FILTERS.map((name) => [name, controls[name].value.trim()]));
    // "Not closed" is a view of this page, not an API status: filter it here.
    const active = filters.status === "active";
    if (active) filters.status = "";
    const mineGen = ++generation;
    const tickets = await get(`/api/tickets${query(filters)}`);
    if (mineGen !== generation) return;
    const shown = active ? tickets.filter((t) => t.status !== "closed") : tickets;
    count.textContent = `${shown.length} ticket${shown.length === 1 ? "" : "s"}`;
    replace(holder, selectableTable("Tickets", [
      { label: "#", class: "num", cell: (t) => h("a", { href: `/tickets/${t.number}` }, String(t.number)) },
      { label: "P", class: "num", cell: (t) => priorityBadge(t.priority) },
      { label: "Status", cell: (t) => statusPill(t.status) },
      { label: "Title", class: "grow", cell: (t) => text(t.title, 100) },
      { label: "Caller", cell: (t) => text(t.caller?.name, 40) },
      { label: "Devices", class: "mono", cell: (t) => text((t.devices || []).join(", "), 40) },
      { label: "Assignee", cell: (t) => text(t.assignee || "\u2013", 32) },
      { label: "Updated", class: "time", cell: (t) => formatTime(t.updated_at) },
    ], shown, (t) => ctx.navigate(`/tickets/${t.number}`)));
  }
  function apply() {
    const values = Object.fromEntries(FILTERS.map((name) => [name, controls[name].value.trim()]));
    history.replaceState(null, "", `/tickets${query(values)}`);
    load().catch((error) => replace(holder, h("p", { class: "error" }, error.message)));
  }
  for (const name of FILTERS) {
    controls[name].addEventListener(controls[name].tagName === "SELECT" ? "change" : "input", () => {
      clearTimeout(timer);
      timer = setTimeout(apply, 200);
    });
  }

  main.append(
    h("div", { class: "toolbar" }, h("h1", {}, "Tickets"), controls.q, controls.status, controls.priority,
      controls.assignee, controls.device, mine, count,
      h("a", { class: "button primary", href: "/tickets/new", "aria-keyshortcuts": "n" }, "New ticket (n)")),
    holder);
  await load();
  return () => clearTimeout(timer);
}
