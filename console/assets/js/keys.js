// Keyboard shortcuts for people who live in this tool: `/` filter, `n` new ticket, `g t` /
// `g d` / `g p` / `g a` go to tickets, devices, deployments, analysts, `j`/`k` move, Enter
// opens, `?` lists them. Single-key shortcuts never fire while typing in a field.

import { activeList } from "./list.js";

export const SHORTCUTS = [
  ["/", "Focus the filter or search box"],
  ["n", "New ticket"],
  ["g t", "Go to tickets"],
  ["g d", "Go to devices"],
  ["g p", "Go to deployments"],
  ["g a", "Go to analysts (admins)"],
  ["j / \u2193", "Next row"],
  ["k / \u2191", "Previous row"],
  ["Enter", "Open the selected row"],
  ["e", "Edit the ticket's status (on a ticket)"],
  ["c", "Write a note (on a ticket)"],
  ["Ctrl+Enter", "Submit the note or form"],
  ["Esc", "Leave the field, close this help"],
  ["?", "Show this help"],
];

function typing(target) {
  if (!(target instanceof Element)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

function focusFirst(selector) {
  const element = document.querySelector(selector);
  if (!element) return false;
  element.focus();
  if (typeof element.select === "function" && element.tagName === "INPUT") element.select();
  return true;
}

/** Installs the shortcuts; `navigate(path)` changes page. */
export function installKeys(navigate) {
  let pendingG = 0;
  document.addEventListener("keydown", (event) => {
    const help = document.getElementById("shortcuts");
    if (event.key === "Escape") {
      if (help?.open) help.close();
      else if (typing(event.target)) event.target.blur();
      return;
    }
    // Ctrl+Enter submits the form the focus is in (a note, a new ticket).
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      const form = event.target instanceof Element ? event.target.closest("form") : null;
      if (form) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (!document.body.classList.contains("signed-in")) return;

    const now = Date.now();
    if (pendingG && now - pendingG < 1500) {
      pendingG = 0;
      const target = { t: "/tickets", d: "/devices", p: "/deployments", a: "/admin/analysts" }[event.key];
      if (target) {
        event.preventDefault();
        navigate(target);
      }
      return;
    }
    const list = activeList();
    switch (event.key) {
      case "g": pendingG = now; break;
      case "/": if (focusFirst("[data-filter]")) event.preventDefault(); break;
      case "n": event.preventDefault(); navigate("/tickets/new"); break;
      case "c": if (focusFirst("[data-note]")) event.preventDefault(); break;
      case "e": if (focusFirst("[data-status]")) event.preventDefault(); break;
      case "j": case "ArrowDown": if (list) { event.preventDefault(); list.move(1); } break;
      case "k": case "ArrowUp": if (list) { event.preventDefault(); list.move(-1); } break;
      case "Enter": if (list && !(event.target instanceof HTMLAnchorElement) && !(event.target instanceof HTMLButtonElement)) { event.preventDefault(); list.open(); } break;
      case "?": if (help) { event.preventDefault(); help.showModal(); } break;
      default: break;
    }
  });
}
