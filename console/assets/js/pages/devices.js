// Devices: who is online, what they run, who is signed in on them. Everything here was
// reported by a device, so every value goes through `text()` (a capped text node).

import { get } from "../api.js";
import { ago, formatTime, h, replace, text } from "../dom.js";
import { selectableTable } from "../list.js";

export const title = () => "Devices";

const users = (device) => [...new Set((device.inventory?.sessions || []).map((s) => s.user))];
const os = (device) => {
  const info = device.inventory?.os;
  return info ? [info.name, info.version].filter(Boolean).join(" ") : "";
};

export async function render(main) {
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
    ], shown, (device) => showDetail(detail, device)));
  }

  filter.addEventListener("input", draw);
  onlineOnly.addEventListener("change", draw);
  main.append(
    h("div", { class: "toolbar" }, h("h1", {}, "Devices"), filter,
      h("label", { class: "check" }, onlineOnly, " online only"), count),
    holder, detail);
  draw();
}

function showDetail(detail, device) {
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
      h("a", { href: `/tickets?device=${encodeURIComponent(device.id)}` }, "Its tickets")));
  detail.scrollIntoView({ block: "nearest" });
}
