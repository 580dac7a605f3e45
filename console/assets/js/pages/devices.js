// Devices: who is online, what they run, who is signed in on them. Everything here was
// reported by a device, so every value goes through `text()` (a capped text node).

import { api, get } from "../api.js";
import { ago, formatTime, h, notify, replace, text } from "../dom.js";
import { selectableTable } from "../list.js";

export const title = () => "Devices";

const users = (device) => [...new Set((device.inventory?.sessions || []).map((s) => s.user))];
const os = (device) => {
  const info = device.inventory?.os;
  return info ? [info.name, info.version].filter(Boolean).join(" ") : "";
};

export async function render(main, ctx) {
  const all = await get("/api/devices");
  const filter = h("input", { type: "search", id: "device-filter", "data-filter": true, placeholder: "Filter: host, user, OS, id  ( / )", "aria-label": "Filter devices" });
  const onlineOnly = h("input", { type: "checkbox", id: "online-only" });
  const count = h("span", { class: "muted" });
  const holder = h("div", { class: "table-wrap" });
  const detail = h("section", { class: "detail", "aria-live": "polite", "aria-label": "Device details" });

  function matches(device, words) {
    const hay = [device.id, device.hostname, os(device), ...users(device)].join(" ").toLowerCase();
    return words.every((word) => hay.includes(word));
  }
  function draw() {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = all.filter((d) => (!onlineOnly.checked || d.online) && matches(d, words));
    count.textContent = `${shown.length} of ${all.length}`;
    replace(holder, selectableTable("Devices", [
      { label: "", class: "dot-col", cell: (d) => h("span", { class: `dot ${d.online ? "on" : "off"}`, title: d.online ? "online" : "offline" }, d.online ? "online" : "offline") },
      { label: "Host", cell: (d) => h("strong", {}, text(d.hostname, 64)) },
      { label: "OS", cell: (d) => text(os(d), 48) },
      { label: "Users", cell: (d) => text(users(d).join(", "), 48) },
      { label: "Last seen", cell: (d) => h("span", { title: formatTime(d.last_seen) }, d.online ? "now" : ago(d.last_seen)) },
      { label: "Id", class: "mono", cell: (d) => text(d.id, 24) },
    ], shown, (device) => showDetail(detail, device, ctx.me)));
  }

  filter.addEventListener("input", draw);
  onlineOnly.addEventListener("change", draw);
  main.append(
    h("div", { class: "toolbar" }, h("h1", {}, "Devices"), filter,
      h("label", { class: "check" }, onlineOnly, " online only"), count),
    holder, detail);
  draw();
}

function showDetail(detail, device, me) {
  const inv = device.inventory || {};
  const sessions = inv.sessions || [];
  const displays = inv.displays || [];
  replace(detail,
    h("h2", {}, text(device.hostname, 64), " ", h("span", { class: `pill ${device.online ? "ok" : "muted"}` }, device.online ? "online" : "offline")),
    h("dl", { class: "facts" },
      h("dt", {}, "Device id"), h("dd", { class: "mono" }, text(device.id, 64)),
      h("dt", {}, "Operating system"), h("dd", {}, text(os(device), 120)),
      h("dt", {}, "Family / arch"), h("dd", {}, text(`${inv.os?.family || ""} / ${inv.arch || ""}`, 80)),
      h("dt", {}, "Last seen"), h("dd", {}, formatTime(device.last_seen)),
      h("dt", {}, "Agent"), h("dd", {}, text(device.agent_version || "", 40))),
    h("h3", {}, `Sessions (${sessions.length})`),
    sessions.length ? h("ul", { class: "plain" }, sessions.slice(0, 50).map((s) =>
      h("li", {}, h("strong", {}, text(s.user, 64)), " on ", text(s.line, 32),
        s.display ? [" display ", text(s.display, 32)] : null, " since ", formatTime(s.since)))) : h("p", { class: "muted" }, "Nobody signed in."),
    h("h3", {}, `Displays (${displays.length})`),
    displays.length ? h("ul", { class: "plain" }, displays.slice(0, 20).map((d) =>
      h("li", {}, text(d.name, 32), " ", text(typeof d.kind === "string" ? d.kind : JSON.stringify(d.kind), 32)))) : h("p", { class: "muted" }, "None."),
    h("p", {}, h("a", { href: `/tickets/new?device=${encodeURIComponent(device.id)}` }, "New ticket for this device"), " \u00b7 ",
      h("a", { href: `/tickets?device=${encodeURIComponent(device.id)}` }, "Its tickets")),
    policySection(device, me));
  detail.scrollIntoView({ block: "nearest" });
}

const OPEN = ["new", "open", "waiting"];

// The device's policy: everyone sees it; admins change it for an open ticket that names the
// device (the change goes onto that ticket's record, old and new value).
function policySection(device, me) {
  const section = h("section", { class: "policy", id: "device-policy", "aria-label": "Policy" },
    h("h3", {}, "Policy"), h("p", { class: "muted" }, "Loading\u2026"));
  const admin = (me?.roles || []).includes("admin");
  const path = `/api/devices/${encodeURIComponent(device.id)}/policy`;
  Promise.all([get(path), admin ? get(`/api/tickets?device=${encodeURIComponent(device.id)}`) : []])
    .then(([policy, tickets]) => drawPolicy(section, path, policy, admin, tickets.filter((t) => OPEN.includes(t.status))))
    .catch((error) => replace(section, h("h3", {}, "Policy"), h("p", { class: "error" }, error.message)));
  return section;
}

function drawPolicy(section, path, policy, admin, tickets) {
  const label = "Unattended sessions: a remote session may start without a prompt while nobody is signed in";
  const state = h("p", { id: "unattended-state" }, `Unattended sessions: ${policy.unattended_sessions ? "allowed" : "not allowed"}.`);
  if (!admin) return replace(section, h("h3", {}, "Policy"), state);
  const box = h("input", { type: "checkbox", id: "unattended-sessions" });
  box.checked = policy.unattended_sessions;
  const ticket = h("select", { id: "policy-ticket", "aria-label": "Ticket for the change" },
    tickets.length ? null : h("option", { value: "" }, "No open ticket names this device"),
    tickets.map((t) => h("option", { value: String(t.number) }, `#${t.number} ${t.title}`)));
  const save = h("button", { type: "submit", id: "policy-save", disabled: !tickets.length }, "Save policy");
  const form = h("form", { class: "policy-form" },
    h("label", { class: "check" }, box, " ", label), h("div", { class: "field" }, h("label", { for: "policy-ticket" }, "For ticket"), ticket), save);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    try {
      const now = await api("PUT", path, { ticket: Number(ticket.value), unattended_sessions: box.checked });
      drawPolicy(section, path, now, admin, tickets);
      notify("Policy saved.");
    } catch (error) {
      notify(error.message, "error");
      save.disabled = false;
    }
  });
  replace(section, h("h3", {}, "Policy"), state, form);
}
