// Starting a deployment: a published package, the change ticket, the target devices, the
// canary and failure gate, when it may start and when it must be done. An error from the API
// shows beside the form, which keeps everything that was entered.

import { get, post } from "../api.js";
import { field, h, replace, text } from "../dom.js";

export const title = () => "New deployment";

/** A `datetime-local` value (the browser's local time) as RFC 3339 in UTC, whole seconds. */
function rfc3339(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return null;
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export async function render(main, ctx) {
  const [packages, devices] = await Promise.all([get("/api/packages"), get("/api/devices").catch(() => [])]);
  const preset = new URLSearchParams(location.search).get("ticket") || "";

  const ticket = h("input", { id: "deploy-ticket", type: "number", min: "1", required: true, value: preset, autocomplete: "off" });
  const ticketNote = h("small", { class: "hint", id: "deploy-ticket-note" });
  const pkg = h("select", { id: "deploy-package", required: true },
    packages.map((p) => h("option", { value: p.package }, text(p.package, 120).textContent)));
  const all = h("input", { type: "checkbox", id: "deploy-all" });
  const targets = h("div", { class: "targets", id: "deploy-targets" });
  const boxes = devices.map((d) => h("input", { type: "checkbox", value: d.id, "data-target": d.id }));
  replace(targets, devices.length
    ? devices.map((d, i) => h("label", { class: "check" }, boxes[i], " ", h("strong", {}, text(d.hostname, 48)), " ",
      h("span", { class: "mono muted" }, text(d.id, 40)), d.online ? "" : " (offline)"))
    : h("p", { class: "hint" }, "No enrolled devices."));
  const canary = h("input", { id: "deploy-canary", type: "number", min: "0", max: "100", value: "0" });
  const threshold = h("input", { id: "deploy-threshold", type: "number", min: "0", max: "100", value: "20" });
  const now = h("input", { type: "radio", name: "deploy-when", id: "deploy-now", value: "now", checked: true });
  const later = h("input", { type: "radio", name: "deploy-when", id: "deploy-later", value: "at" });
  const at = h("input", { type: "datetime-local", id: "deploy-at", disabled: true });
  const deadline = h("input", { type: "datetime-local", id: "deploy-deadline" });
  const error = h("p", { class: "error", id: "deploy-error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary", id: "deploy-submit", disabled: packages.length === 0 }, "Start deployment");

  for (const radio of [now, later]) radio.addEventListener("change", () => { at.disabled = !later.checked; });
  all.addEventListener("change", () => boxes.forEach((box) => { box.checked = all.checked; }));
  boxes.forEach((box) => box.addEventListener("change", () => { all.checked = boxes.every((b) => b.checked); }));

  // The ticket's own devices are the usual targets: tick them when the ticket is chosen.
  async function ticketChosen() {
    const number = ticket.value.trim();
    ticketNote.textContent = "";
    if (!number) return;
    try {
      const { ticket: record } = await get(`/api/tickets/${encodeURIComponent(number)}`);
      const named = new Set(record.devices || []);
      boxes.forEach((box) => { box.checked = named.has(box.value); });
      all.checked = boxes.length > 0 && boxes.every((b) => b.checked);
      ticketNote.textContent = `${record.title} (${record.status}); it names ${named.size} device${named.size === 1 ? "" : "s"}.`;
    } catch (failure) {
      ticketNote.textContent = failure.message;
    }
  }
  ticket.addEventListener("change", ticketChosen);

  async function submit(event) {
    event.preventDefault();
    error.textContent = "";
    const body = {
      ticket: Number(ticket.value),
      package: pkg.value,
      devices: boxes.filter((b) => b.checked).map((b) => b.value),
      canary: `${canary.value || 0}%`,
      failure_threshold: `${threshold.value || 0}%`,
    };
    if (later.checked) {
      body.at = rfc3339(at.value);
      if (!body.at) {
        error.textContent = "Choose when the deployment may start.";
        return;
      }
    }
    if (deadline.value) body.deadline = rfc3339(deadline.value);
    button.disabled = true;
    try {
      const created = await post("/api/deployments", body);
      ctx.navigate(`/deployments/${created.id}`);
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      button.disabled = false;
    }
  }

  main.append(h("form", { class: "card", id: "deploy-form", "aria-labelledby": "deploy-title", onsubmit: submit },
    h("h1", { id: "deploy-title" }, "New deployment"),
    packages.length ? null : h("p", { class: "hint" }, "No package is published yet: publish one with hotline-console package publish."),
    h("div", { class: "grid2" },
      h("div", {}, field("Change ticket", ticket), ticketNote),
      field("Package", pkg, "Published packages, as NAME@VERSION."),
      h("fieldset", { class: "targets-set" }, h("legend", {}, "Target devices"),
        h("label", { class: "check" }, all, " All devices"), targets,
        h("small", { class: "hint" }, "The ticket must name every device you pick.")),
      h("div", {},
        field("Canary (% of devices in a first wave)", canary, "0 for a single wave."),
        field("Failure threshold (% of a wave)", threshold, "Over this, the rollout pauses until resumed."),
        h("fieldset", { class: "targets-set" }, h("legend", {}, "Start"),
          h("label", { class: "check" }, now, " now"),
          h("label", { class: "check" }, later, " at "), at),
        field("Deadline (optional)", deadline, "Devices not reached by then are skipped."))),
    h("div", { class: "actions" }, button, h("a", { href: preset ? `/tickets/${encodeURIComponent(preset)}` : "/deployments", class: "button" }, "Back"), error)));
  if (preset) await ticketChosen();
  (preset ? pkg : ticket).focus();
}
