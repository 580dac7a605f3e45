// One deployment: its package, ticket, schedule and gate; each wave's devices counted by
// progress, and every device with its outcome and failure reason. The page follows the
// rollout live over a WebSocket as devices report. Pause, Resume and Cancel show only for
// those the API would let steer it; a refusal is shown with its reason.

import { get, post } from "../api.js";
import { formatTime, h, replace, text } from "../dom.js";
import { followSocket } from "../live.js";
import { countsLine, deploymentPill, PROGRESS, progressPill } from "./deploy-bits.js";

export const title = ([id]) => `Deployment ${id}`;

/** "2 h", "30 min", "45 s": a window's length or period. */
function duration(secs) {
  if (secs % 86400 === 0) return `${secs / 86400} d`;
  if (secs % 3600 === 0) return `${secs / 3600} h`;
  if (secs % 60 === 0) return `${secs / 60} min`;
  return `${secs} s`;
}

export async function render(main, ctx) {
  const id = ctx.params[0];
  const first = await get(`/api/deployments/${id}`);
  const hosts = new Map((await get("/api/devices").catch(() => [])).map((d) => [d.id, d.hostname]));
  let steer = { may: first.may_steer, refusal: first.steer_refusal };

  const liveState = h("span", { class: "live-state", id: "live-state" }, "connecting\u2026");
  const head = h("div", { class: "ticket-head" });
  const facts = h("dl", { class: "facts", id: "deployment-facts" });
  const buttons = h("div", { class: "actions", id: "deployment-actions" });
  const error = h("p", { class: "error", id: "deployment-error", role: "alert" });
  const waves = h("div", { id: "waves" });
  let current = first;
  // What the buttons were drawn for: a snapshot that changes nothing they depend on leaves
  // them alone, so a click is never lost to a redraw underneath the pointer.
  let drawn = "";

  async function change(status) {
    error.textContent = "";
    buttons.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      const updated = await post(`/api/deployments/${id}/state`, { status });
      steer = { may: updated.may_steer, refusal: updated.steer_refusal };
      show(updated);
    } catch (failure) {
      error.textContent = failure.message;
      drawn = "";
      show(current);
    }
  }

  function show(deployment) {
    current = deployment;
    replace(head,
      h("h1", {}, h("span", { class: "muted" }, `Deployment #${deployment.id} `),
        h("span", { class: "mono" }, text(`${deployment.package}@${deployment.version}`, 120))),
      h("span", { id: "deployment-status" }, deploymentPill(deployment.status)),
      h("span", { class: "spacer" }), liveState);
    showFacts(facts, deployment);
    showButtons(deployment);
    replace(waves, (deployment.waves || []).map((wave) => waveSection(wave, deployment.devices || [], hosts)));
  }

  function showButtons(deployment) {
    const key = JSON.stringify([deployment.status, steer.may, steer.refusal]);
    if (key === drawn) return;
    drawn = key;
    const open = deployment.status === "active" || deployment.status === "paused";
    if (!steer.may || !open) {
      replace(buttons, open && steer.refusal ? h("small", { class: "hint" }, "You cannot steer this deployment: ", text(steer.refusal, 200)) : null);
      return;
    }
    replace(buttons,
      deployment.status === "active"
        ? h("button", { type: "button", "data-steer": "paused", onclick: () => change("paused") }, "Pause")
        : h("button", { type: "button", class: "primary", "data-steer": "active", onclick: () => change("active") }, "Resume"),
      h("button", { type: "button", class: "danger", "data-steer": "cancelled", onclick: () => change("cancelled") }, "Cancel deployment"));
  }

  show(first);
  main.append(head, h("div", { class: "card" }, facts, buttons, error), waves);

  return followSocket(`/api/deployments/${encodeURIComponent(id)}/live`, (message) => {
    if (message.kind === "deployment" && message.deployment) show(message.deployment);
  }, (state, detail) => {
    liveState.className = `live-state ${state}`;
    liveState.textContent = { live: "\u25cf live", retrying: "reconnecting\u2026", lagged: "out of date", ended: "not live" }[state] || state;
    if (detail) liveState.title = detail;
  });
}

function showFacts(facts, d) {
  const schedule = d.schedule || {};
  const gate = d.gate || {};
  const opens = schedule.window;
  replace(facts,
    h("dt", {}, "Package"), h("dd", { class: "mono" }, text(`${d.package}@${d.version}`, 120)),
    h("dt", {}, "Ticket"), h("dd", {}, h("a", { href: `/tickets/${d.ticket}`, id: "deployment-ticket" }, `#${d.ticket}`)),
    h("dt", {}, "State"), h("dd", {}, text(d.status, 16), d.reason ? [" \u2013 ", h("span", { id: "deployment-reason" }, text(d.reason, 300))] : null),
    h("dt", {}, "Created"), h("dd", {}, formatTime(d.created_at), " by ", text(d.created_by, 64)),
    h("dt", {}, "Not before"), h("dd", {}, formatTime(schedule.not_before)),
    h("dt", {}, "Window"), h("dd", {}, opens
      ? `opens ${formatTime(opens.start)} for ${duration(opens.length_secs)}, every ${duration(opens.every_secs)} (UTC)`
      : "any time"),
    h("dt", {}, "Deadline"), h("dd", {}, schedule.deadline ? formatTime(schedule.deadline) : "none"),
    h("dt", {}, "Gate"), h("dd", {},
      `canary ${gate.canary_percent ?? 0}%, pause when over ${gate.failure_percent ?? 0}% of a wave fails`,
      gate.accepted_failures ? ` (${gate.accepted_failures} failure${gate.accepted_failures === 1 ? "" : "s"} accepted on resume)` : ""),
    h("dt", {}, "Devices"), h("dd", { id: "deployment-counts" }, countsLine(d.counts)));
}

function waveSection(wave, devices, hosts) {
  const members = devices.filter((d) => d.wave === wave.wave);
  const counts = wave.counts || {};
  return h("section", { class: "wave", "data-wave": String(wave.wave), "aria-label": wave.name },
    h("h2", {}, text(wave.name, 40), " ", h("span", { class: "muted" }, `(${wave.total} device${wave.total === 1 ? "" : "s"})`)),
    h("ul", { class: "wave-counts" }, PROGRESS.map(([word, label]) =>
      h("li", { class: (counts[word] || 0) > 0 ? "" : "zero", "data-count": word },
        h("strong", {}, String(counts[word] || 0)), " ", label))),
    h("div", { class: "table-wrap" }, h("table", { class: "list devices" },
      h("thead", {}, h("tr", {}, ["Device", "Progress", "Outcome", "Attempts", "Chunks sent", "Reason"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, members.length ? members.map((d) => h("tr", { "data-device": d.device },
        h("td", {}, h("strong", {}, text(hosts.get(d.device) || "", 48)), " ", h("span", { class: "mono muted" }, text(d.device, 40))),
        h("td", {}, progressPill(d.progress)),
        h("td", { class: "mono" }, text(d.outcome || "\u2013", 32)),
        h("td", { class: "num" }, String(d.attempts ?? 0)),
        h("td", { class: "num" }, String(d.chunks_sent ?? 0)),
        h("td", { class: "reason", "data-reason": true }, text(d.detail || "", 300))))
        : h("tr", {}, h("td", { class: "empty", colspan: "6" }, "No devices."))))));
}
