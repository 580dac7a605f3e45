// Building the page without ever parsing data as HTML. Every string from the server (and so
// from a device or a caller) becomes a text node, capped in length, so a host name such as
// `<img src=x onerror=...>` is shown as the characters it is (THREATS.md, MeshCentral XSS).

/** Longest string shown in a table cell or a field; the full value stays in the title. */
export const CAP = 120;

/** Cuts `value` to `max` characters (by code point) with an ellipsis; null becomes "". */
export function cap(value, max = CAP) {
  if (value === null || value === undefined) return "";
  const text = String(value);
  const chars = Array.from(text);
  return chars.length > max ? chars.slice(0, max - 1).join("") + "\u2026" : text;
}

/**
 * Creates an element. `attrs` sets attributes (`class`, `for`, `aria-*`, `data-*`...) or, for
 * keys starting with "on", event listeners. Children are nodes or strings; strings become
 * text nodes. There is deliberately no way to pass HTML.
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "value") {
      element.value = value;
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

/** Appends children (nodes, strings, arrays of them) as nodes and text. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** A capped text node inside a span whose title holds the longer value for hovering. */
export function text(value, max = CAP) {
  const full = value === null || value === undefined ? "" : String(value);
  const shown = cap(full, max);
  return h("span", shown === full ? {} : { title: cap(full, 1000) }, shown);
}

/** Replaces everything inside `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** Parses a time the API sends (unix milliseconds, unix seconds or RFC 3339) into a Date. */
export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number") return new Date(value < 1e12 ? value * 1000 : value);
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : new Date(parsed);
}

const pad = (n) => String(n).padStart(2, "0");

/** "2025-03-04 14:05" in local time: sortable, compact, unambiguous. */
export function formatTime(value) {
  const date = toDate(value);
  if (!date) return "\u2013";
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** "3 min ago", for how fresh a device's last contact is. */
export function ago(value) {
  const date = toDate(value);
  if (!date) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

/** A labelled form field: label, control and an id linking them for screen readers. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control,
    hint ? h("small", { class: "hint" }, hint) : null);
}

/** Shows a status line in the page's live region (read out by screen readers). */
export function notify(message, kind = "info") {
  const banner = document.getElementById("banner");
  if (!banner) return;
  banner.className = `banner ${kind}`;
  banner.textContent = cap(message, 300);
  banner.hidden = false;
  clearTimeout(notify.timer);
  if (kind !== "error" && kind !== "sticky") {
    notify.timer = setTimeout(() => { banner.hidden = true; }, 4000);
  }
}
