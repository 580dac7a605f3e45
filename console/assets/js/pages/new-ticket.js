// Opening a ticket: the caller, the device(s) concerned, a priority, and optionally who works
// it and the help desk's own ticket id.

import { get, post } from "../api.js";
import { field, h, text } from "../dom.js";
import { PRIORITIES } from "./ticket-bits.js";

export const title = () => "New ticket";

export async function render(main, ctx) {
  const preselected = new URLSearchParams(location.search).get("device");
  const devices = await get("/api/devices").catch(() => []);

  const titleInput = h("input", { id: "new-title", required: true, maxlength: "200", autocomplete: "off" });
  const callerName = h("input", { id: "new-caller", required: true, maxlength: "200", autocomplete: "off" });
  const callerContact = h("input", { id: "new-contact", maxlength: "200", autocomplete: "off", placeholder: "phone, e-mail, desk" });
  const priority = h("select", { id: "new-priority" },
    Object.entries(PRIORITIES).map(([value, label]) => h("option", { value, selected: value === "3" }, label)));
  const assignee = h("input", { id: "new-assignee", maxlength: "64", autocomplete: "off", placeholder: "user name, empty for nobody" });
  const externalRef = h("input", { id: "new-external", maxlength: "200", autocomplete: "off", placeholder: "e.g. INC-1234" });
  const deviceList = h("select", { id: "new-devices", multiple: true, size: String(Math.min(8, Math.max(3, devices.length))) },
    devices.map((d) => h("option", { value: d.id, selected: d.id === preselected },
      text(`${d.hostname} \u2014 ${d.id}${d.online ? "" : " (offline)"}`, 90).textContent)));
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, "Open ticket");

  const form = h("form", { class: "card", "aria-labelledby": "new-title-h", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    button.disabled = true;
    const body = {
      title: titleInput.value.trim(),
      caller: { name: callerName.value.trim(), contact: callerContact.value.trim() },
      devices: [...deviceList.selectedOptions].map((o) => o.value),
      priority: Number(priority.value),
    };
    if (assignee.value.trim()) body.assignee = assignee.value.trim();
    if (externalRef.value.trim()) body.external_ref = externalRef.value.trim();
    try {
      const ticket = await post("/api/tickets", body);
      ctx.navigate(`/tickets/${ticket.number}`);
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      button.disabled = false;
    }
  } },
  h("h1", { id: "new-title-h" }, "New ticket"),
  h("div", { class: "grid2" },
    field("Title", titleInput),
    field("Priority", priority),
    field("Caller", callerName),
    field("Contact", callerContact),
    field("Devices", deviceList, "Ctrl+click to pick several."),
    h("div", {},
      field("Assignee", assignee),
      h("button", { type: "button", class: "link", onclick: () => { assignee.value = ctx.me.username; } }, "Assign to me"),
      field("External ticket", externalRef))),
  error,
  h("div", { class: "actions" }, button, h("a", { href: "/tickets", class: "button" }, "Cancel"), h("small", { class: "hint" }, "Ctrl+Enter submits")));

  main.append(form);
  titleInput.focus();
}
