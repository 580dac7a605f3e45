// Sign-in. The console answers wrong user and wrong password alike, and rate-limits tries;
// this page only shows what it was told.

import { post } from "../api.js";
import { field, h, notify } from "../dom.js";

export const title = () => "Sign in";

export async function render(main, ctx) {
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true, autofocus: true, maxlength: "64" });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true, maxlength: "1024" });
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");

  const form = h("form", { class: "card narrow", "aria-labelledby": "login-title", onsubmit: async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    try {
      const me = await post("/api/login", { username: username.value.trim(), password: password.value });
      password.value = "";
      await ctx.refreshMe();
      if (me.must_change_password) {
        notify("Choose your own password before you start.", "info");
        ctx.navigate("/password", { replace: true });
      } else {
        ctx.navigate(safeNext(), { replace: true });
      }
    } catch (failure) {
      error.textContent = failure.status === 429
        ? "Too many attempts. Wait a minute and try again."
        : failure.message;
      password.select();
    } finally {
      button.disabled = false;
    }
  } },
  h("h1", { id: "login-title" }, "Hotline"),
  field("User name", username),
  field("Password", password),
  error,
  h("div", { class: "actions" }, button));

  main.append(form);
  username.focus();
}

/** Where to go after signing in: only a path of this console, never another site. */
function safeNext() {
  const next = new URLSearchParams(location.search).get("next") || "/tickets";
  return /^\/(?!\/)[\w\-/?=&%.]*$/.test(next) && !next.startsWith("/login") ? next : "/tickets";
}
