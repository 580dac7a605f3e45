// The ticket page's credential panel: list a device's local accounts and reset one. The
// temporary password is shown once, in this panel, until the analyst dismisses it; it is
// never put in the URL, the page title, storage or a notification.

import { get, post } from "../api.js";
import { field, h, notify, replace, text } from "../dom.js";

const DEFAULT_LENGTH = 16;
const MIN_LENGTH = 15;

/** The panel for an open ticket's devices; null for a closed ticket or one without devices. */
export function credentialsPanel(ticket) {
  const devices = ticket.devices || [];
  if (!devices.length || ["resolved", "closed"].includes(ticket.status)) return null;
  return h("section", { class: "stack credentials", "aria-label": "Local accounts" },
    h("h2", {}, "Local accounts"),
    devices.map((device) => devicePart(ticket.number, device)));
}

function devicePart(number, device) {
  const body = h("div", { class: "credential-device" });
  const load = async () => {
    replace(body, h("p", { class: "hint" }, "asking the device\u2026"));
    try {
      const answer = await get(`/api/devices/${encodeURIComponent(device)}/accounts?ticket=${number}`);
      replace(body, accountTable(number, device, answer.accounts || [], load));
    } catch (failure) {
      replace(body, h("p", { class: "hint" }, failure.message));
    }
  };
  return h("div", {},
    h("div", { class: "actions" },
      h("span", { class: "mono" }, text(device, 40)),
      h("button", { type: "button", "data-accounts": device, onclick: load }, "Show accounts")),
    body);
}

function yesNo(value) {
  return value ? "yes" : "no";
}

function accountTable(number, device, accounts, reload) {
  if (!accounts.length) return h("p", { class: "hint" }, "No local human accounts on this device.");
  const form = h("div");
  const rows = accounts.map((account) => h("tr", {},
    h("td", { class: "mono" }, text(account.name, 32)),
    h("td", {}, text(account.full_name, 60)),
    h("td", {}, account.locked ? "locked" : ""),
    h("td", { class: "num" }, String(account.failed_logins)),
    h("td", {}, account.signed_in ? "signed in" : ""),
    h("td", {}, h("button", { type: "button", "data-reset": account.name,
      onclick: () => replace(form, resetForm(number, device, account, form, reload)) }, "Reset\u2026"))));
  return h("div", {},
    h("div", { class: "table-wrap" }, h("table", { class: "list" },
      h("thead", {}, h("tr", {}, ["Account", "Name", "Lock", "Failed", "Session", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows))),
    form);
}

function resetForm(number, device, account, holder, reload) {
  const newPassword = h("input", { type: "checkbox", id: "reset-password", checked: true });
  const unlock = h("input", { type: "checkbox", id: "reset-unlock", checked: false });
  const change = h("input", { type: "checkbox", id: "reset-change", checked: true });
  const length = h("input", { type: "number", id: "reset-length", min: String(MIN_LENGTH), max: "64", value: String(DEFAULT_LENGTH) });
  const button = h("button", { type: "submit", class: "primary" }, `Reset ${account.name}`);
  const submit = async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      const done = await post(`/api/devices/${encodeURIComponent(device)}/reset`, {
        ticket: Number(number), account: account.name, new_password: newPassword.checked,
        unlock: unlock.checked, require_change: change.checked,
        length: Math.max(MIN_LENGTH, Number(length.value) || DEFAULT_LENGTH),
      });
      replace(holder, result(account.name, done, holder, reload));
    } catch (failure) {
      notify(failure.message, "error");
      button.disabled = false;
    }
  };
  return h("form", { class: "stack", onsubmit: submit, "aria-label": `Reset ${account.name}` },
    h("p", {}, account.locked
      ? "This account is locked. It stays locked unless you tick Unlock."
      : "Choose what to do with this account."),
    field("New temporary password", newPassword),
    field("Unlock (clear failed logins and the lock)", unlock),
    field("Require a change at next login", change),
    field("Password length", length, `at least ${MIN_LENGTH}`),
    h("div", { class: "actions" }, button,
      h("button", { type: "button", class: "link", onclick: () => replace(holder) }, "Cancel")));
}

function result(name, done, holder, reload) {
  const password = done.temporary_password;
  const dismiss = () => { replace(holder); reload(); };
  return h("div", { class: "stack reset-result", role: "status" },
    password
      ? [h("p", {}, `Temporary password for ${name}. Read it to the caller now; it is not shown again.`),
        h("p", {}, h("code", { class: "temporary-password", "data-temporary-password": true }, password))]
      : h("p", {}, `${name}: done, the password is unchanged.`),
    h("p", { class: "hint" },
      `Must change at next login: ${yesNo(done.must_change)}. Locked: ${yesNo(done.locked)}. ` +
      `Failed logins cleared: ${done.cleared_failures}.`),
    h("div", { class: "actions" }, h("button", { type: "button", onclick: dismiss }, "Done")));
}
