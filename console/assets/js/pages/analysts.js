// Analyst accounts, for admins: who exists with which roles, adding one (its one-time
// password is shown here once and never again), disabling and re-enabling.

import { get, patch, post } from "../api.js";
import { field, formatTime, h, notify, replace, text } from "../dom.js";
import { selectableTable } from "../list.js";

export const title = () => "Analysts";

const ROLES = ["viewer", "analyst", "deployer", "admin"];

export async function render(main, ctx) {
  if (!(ctx.me.roles || []).includes("admin")) {
    main.append(h("h1", {}, "Analysts"), h("p", {}, "Only admins manage accounts."));
    return;
  }
  const holder = h("div", { class: "table-wrap" });
  const secret = h("div", { "aria-live": "polite" });

  async function load() {
    const accounts = await get("/api/analysts");
    replace(holder, selectableTable("Analysts", [
      { label: "User", cell: (a) => h("strong", {}, text(a.username, 64)) },
      { label: "Name", cell: (a) => text(a.display_name, 64) },
      { label: "Roles", cell: (a) => text((a.roles || []).join(", "), 64) },
      { label: "State", cell: (a) => h("span", { class: `pill ${a.disabled ? "muted" : "ok"}` }, a.disabled ? "disabled" : "active") },
      { label: "Last sign-in", class: "time", cell: (a) => formatTime(a.last_login_at) },
      { label: "", cell: (a) => a.username === ctx.me.username ? "" : h("button", { type: "button", onclick: () => toggle(a) }, a.disabled ? "Enable" : "Disable") },
    ], accounts, (a) => toggle(a)));
  }
  async function toggle(account) {
    const verb = account.disabled ? "Enable" : "Disable";
    if (!window.confirm(`${verb} ${account.username}?`)) return;
    try {
      await patch(`/api/analysts/${encodeURIComponent(account.username)}`, { disabled: !account.disabled });
      notify(`${account.username} ${account.disabled ? "enabled" : "disabled"}.`);
      await load();
    } catch (failure) {
      notify(failure.message, "error");
    }
  }

  const username = h("input", { id: "add-username", required: true, maxlength: "64", autocomplete: "off", pattern: "[a-z0-9._\\-]+" });
  const displayName = h("input", { id: "add-name", required: true, maxlength: "100", autocomplete: "off" });
  const roleBoxes = ROLES.map((role) => h("input", { type: "checkbox", value: role, id: `add-role-${role}`, checked: role === "analyst" }));
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", "aria-labelledby": "add-h", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    const roles = roleBoxes.filter((box) => box.checked).map((box) => box.value);
    try {
      const created = await post("/api/analysts", { username: username.value.trim(), display_name: displayName.value.trim(), roles });
      showSecret(secret, username.value.trim(), created.one_time_password);
      username.value = displayName.value = "";
      await load();
    } catch (failure) {
      error.textContent = failure.message;
    }
  } },
  h("h2", { id: "add-h" }, "Add an analyst"),
  h("div", { class: "grid2" }, field("User name", username, "lower case letters, digits, . _ -"), field("Display name", displayName)),
  h("fieldset", { class: "roles" }, h("legend", {}, "Roles"),
    roleBoxes.map((box) => h("label", { class: "check", for: box.id }, box, ` ${box.value}`))),
  error,
  h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add analyst")));

  main.append(h("div", { class: "toolbar" }, h("h1", {}, "Analysts")), holder, secret, form);
  await load();
}

function showSecret(holder, username, password) {
  const value = h("input", { id: "one-time-password", readonly: true, value: password, class: "mono", size: "32" });
  replace(holder, h("div", { class: "card secret", role: "status" },
    h("p", {}, "One-time password for ", h("strong", {}, text(username, 64)), ". It is shown only now; ",
      "they must change it when they first sign in."),
    field("One-time password", value),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: async () => {
        try {
          await navigator.clipboard.writeText(password);
          notify("Copied.");
        } catch {
          value.select();
        }
      } }, "Copy"),
      h("button", { type: "button", onclick: () => replace(holder) }, "Done, hide it"))));
  value.select();
}
