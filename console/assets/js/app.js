// The web console's entry point: who is signed in, which page the address names, the header
// and the keyboard. Pages are modules that render into <main> from the JSON API; there is no
// build step, the browser loads these ES modules as they are.

import { api, get, post } from "./api.js";
import { h, notify, replace } from "./dom.js";
import { installKeys, SHORTCUTS } from "./keys.js";
import * as login from "./pages/login.js";
import * as password from "./pages/password.js";
import * as devices from "./pages/devices.js";
import * as tickets from "./pages/tickets.js";
import * as newTicket from "./pages/new-ticket.js";
import * as ticket from "./pages/ticket.js";
import * as analysts from "./pages/analysts.js";
import * as screen from "./pages/screen.js";
import * as deployments from "./pages/deployments.js";
import * as deployment from "./pages/deployment.js";
import * as newDeployment from "./pages/new-deployment.js";

const routes = [
  [/^\/login$/, login, false],
  [/^\/password$/, password, true],
  [/^\/devices$/, devices, true],
  [/^\/tickets$/, tickets, true],
  [/^\/tickets\/new$/, newTicket, true],
  [/^\/tickets\/(\d+)$/, ticket, true],
  [/^\/tickets\/(\d+)\/screen$/, screen, true],
  [/^\/admin\/analysts$/, analysts, true],
  [/^\/deployments$/, deployments, true],
  [/^\/deployments\/new$/, newDeployment, true],
  [/^\/deployments\/(\d+)$/, deployment, true],
];

const state = { me: null, cleanup: null };
const main = () => document.getElementById("main");

/** Goes to `path` without reloading the page. */
export function navigate(path, { replace: replaceEntry = false } = {}) {
  if (path !== location.pathname + location.search) {
    history[replaceEntry ? "replaceState" : "pushState"](null, "", path);
  }
  render();
}

async function loadMe() {
  try {
    state.me = await get("/api/me");
  } catch {
    state.me = null;
  }
}

function showHeader() {
  const me = state.me;
  const signedIn = Boolean(me) && !me.must_change_password;
  document.body.classList.toggle("signed-in", signedIn);
  document.getElementById("bar").hidden = !signedIn;
  if (!signedIn) return;
  const roles = me.roles || [];
  document.querySelectorAll("[data-role]").forEach((element) => {
    element.hidden = !roles.includes(element.dataset.role);
  });
  replace(document.getElementById("who"), me.display_name || me.username, " ",
    h("span", { class: "roles" }, roles.join(", ")));
  document.querySelectorAll("[data-nav]").forEach((link) => {
    const current = location.pathname.startsWith(link.getAttribute("href"));
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
}

async function render() {
  if (state.cleanup) {
    state.cleanup();
    state.cleanup = null;
  }
  let path = location.pathname;
  if (path === "/" || path === "") {
    history.replaceState(null, "", "/tickets");
    path = "/tickets";
  }
  const match = routes.find(([pattern]) => pattern.test(path));
  if (!match) {
    replace(main(), h("h1", {}, "Not found"), h("p", {}, h("a", { href: "/tickets" }, "Back to tickets")));
    return;
  }
  const [pattern, page, needsSession] = match;

  // Signed-out people see the login page; a session that must change its password sees only
  // the password page, as the API allows nothing else for it.
  if (needsSession && !state.me) return navigate(`/login?next=${encodeURIComponent(path + location.search)}`, { replace: true });
  if (state.me?.must_change_password && page !== password && page !== login) return navigate("/password", { replace: true });

  showHeader();
  const params = path.match(pattern).slice(1);
  const ctx = { me: state.me, params, navigate, refreshMe: async () => { await loadMe(); showHeader(); } };
  document.title = `${page.title ? page.title(params) : "Hotline"} \u2013 Hotline`;
  const container = main();
  replace(container);
  try {
    state.cleanup = (await page.render(container, ctx)) || null;
  } catch (error) {
    replace(container, h("h1", {}, "Something went wrong"), h("p", { class: "error" }, error.message || String(error)));
  }
  container.focus({ preventScroll: true });
}

function interceptLinks() {
  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
    if (!link || link.target || link.hasAttribute("download") || link.dataset.external !== undefined) return;
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener("popstate", render);
}

function helpDialog() {
  const dialog = document.getElementById("shortcuts");
  const rows = SHORTCUTS.map(([key, what]) => h("tr", {}, h("td", {}, h("kbd", {}, key)), h("td", {}, what)));
  replace(dialog, h("h2", {}, "Keyboard shortcuts"), h("table", { class: "keys" }, h("tbody", {}, rows)),
    h("form", { method: "dialog" }, h("button", { type: "submit" }, "Close")));
  document.getElementById("help").addEventListener("click", () => dialog.showModal());
}

async function signOut() {
  try {
    await post("/api/logout");
  } catch (error) {
    notify(error.message, "error");
  }
  state.me = null;
  navigate("/login");
}

window.addEventListener("hotline:signed-out", () => {
  if (state.me) {
    state.me = null;
    notify("Your session ended; sign in again.", "sticky");
    navigate(`/login?next=${encodeURIComponent(location.pathname)}`);
  }
});

export async function signedIn() {
  await loadMe();
}

async function start() {
  helpDialog();
  interceptLinks();
  installKeys((path) => navigate(path));
  document.getElementById("logout").addEventListener("click", signOut);
  await loadMe();
  await render();
}

// `api` is re-exported for debugging from the console's developer tools.
export { api };
start();
