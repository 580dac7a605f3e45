// Small pieces shared by the deployment pages: the words a device's progress is counted by,
// status pills, and counts as a compact line.

import { get } from "../api.js";
import { h, replace, text } from "../dom.js";

/** Every progress word, in the order a rollout moves through them, with its label. */
export const PROGRESS = [
  ["pending", "pending"],
  ["transferring", "transferring"],
  ["installed", "installed"],
  ["already-present", "already present"],
  ["reboot-required", "reboot required"],
  ["failed", "failed"],
  ["skipped", "skipped"],
  ["refused", "refused"],
];
const LABELS = Object.fromEntries(PROGRESS);
const STATES = ["active", "paused", "cancelled", "finished"];

/** A deployment's status as a pill. */
export function deploymentPill(status) {
  const known = STATES.includes(status) ? status : "unknown";
  return h("span", { class: `pill deploy-${known}`, "data-deployment-status": known }, text(status, 16));
}

/** A device's progress word as a pill. */
export function progressPill(word) {
  const known = LABELS[word] ? word : "pending";
  return h("span", { class: `pill progress-${known}`, "data-progress": known }, LABELS[known]);
}

/** "2 installed, 1 failed" from counts by progress word, leaving out the zeros. */
export function countsLine(counts) {
  const parts = PROGRESS.filter(([word]) => (counts?.[word] || 0) > 0)
    .map(([word, label]) => `${counts[word]} ${label}`);
  return parts.length ? parts.join(", ") : "no devices";
}

/**
 * The ticket page's deployment panel: the ticket's deployments, and for deployers on an open
 * ticket a link to start one. Filled in once the list arrives.
 */
export function deploymentsPanel(ticket, me) {
  const list = h("ul", { class: "plain", id: "ticket-deployments" });
  const open = !["resolved", "closed"].includes(ticket.status);
  const deployer = (me?.roles || []).includes("deployer");
  get(`/api/deployments?ticket=${encodeURIComponent(ticket.number)}`).then((mine) => {
    replace(list, mine.length ? mine.map((d) => h("li", {},
      h("a", { href: `/deployments/${d.id}` }, `#${d.id} `, text(`${d.package}@${d.version}`, 60)), " ",
      deploymentPill(d.status), " ", h("small", { class: "hint" }, `${d.done}/${d.total}`)))
      : h("li", { class: "hint" }, "None."));
  }).catch((failure) => replace(list, h("li", { class: "hint" }, failure.message)));
  return h("section", { class: "stack", "aria-label": "Deployments" },
    h("h2", {}, "Deployments"), list,
    open && deployer ? h("a", { class: "button", id: "ticket-new-deployment", href: `/deployments/new?ticket=${ticket.number}` }, "New deployment") : null);
}
