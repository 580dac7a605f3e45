// Changing one's password, which the console forces on the first sign-in with a one-time
// password: until then the session may do nothing else.

import { post } from "../api.js";
import { field, h, notify } from "../dom.js";

export const title = () => "Change password";

const MIN_LENGTH = 12;

export async function render(main, ctx) {
  const forced = Boolean(ctx.me?.must_change_password);
  const current = h("input", { id: "current", type: "password", autocomplete: "current-password", required: true });
  const next = h("input", { id: "new", type: "password", autocomplete: "new-password", required: true, minlength: String(MIN_LENGTH) });
  const confirm = h("input", { id: "confirm", type: "password", autocomplete: "new-password", required: true, minlength: String(MIN_LENGTH) });
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, "Change password");

  const form = h("form", { class: "card narrow", "aria-labelledby": "password-title", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (next.value !== confirm.value) {
      error.textContent = "The two new passwords differ.";
      return;
    }
    if (next.value.length < MIN_LENGTH) {
      error.textContent = `Use at least ${MIN_LENGTH} characters.`;
      return;
    }
    button.disabled = true;
    try {
      await post("/api/password", { current: current.value, new: next.value });
      current.value = next.value = confirm.value = "";
      await ctx.refreshMe();
      notify("Password changed.");
      ctx.navigate("/tickets", { replace: true });
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      button.disabled = false;
    }
  } },
  h("h1", { id: "password-title" }, forced ? "Choose your password" : "Change password"),
  forced ? h("p", {}, "You signed in with a one-time password. Choose your own to continue.") : null,
  field(forced ? "One-time password" : "Current password", current),
  field("New password", next, `At least ${MIN_LENGTH} characters.`),
  field("New password again", confirm),
  error,
  h("div", { class: "actions" }, button));

  main.append(form);
  current.focus();
}
