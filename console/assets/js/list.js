// A table of rows that the keyboard can walk: j/k (or arrows) move the selection, Enter opens
// the selected row. One list is active at a time; the keyboard module drives it.

import { h } from "./dom.js";

let active = null;

/** The list the keyboard drives now, or null. */
export function activeList() {
  return active && active.table.isConnected ? active : null;
}

/**
 * Builds a table. `columns` is `[{label, cell: (row) => Node|string, class?}]`; `open(row)` is
 * called on Enter or click. The first row is selected, so Enter works at once.
 */
export function selectableTable(caption, columns, rows, open) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label))));
  const body = h("tbody");
  const table = h("table", { class: "list", "aria-label": caption }, head, body);
  const list = { table, rows: [], index: -1, move, open: () => openAt(list.index) };

  rows.forEach((row, i) => {
    const tr = h("tr", { tabindex: "-1", "aria-selected": "false", onclick: (event) => {
      if (event.target.closest("a, button")) return;
      select(i);
      openAt(i);
    } }, columns.map((c) => h("td", { class: c.class }, c.cell(row))));
    body.append(tr);
    list.rows.push({ tr, row });
  });
  if (rows.length === 0) {
    body.append(h("tr", {}, h("td", { class: "empty", colspan: String(columns.length) }, "Nothing here.")));
  }

  function select(i, focus = false) {
    if (list.rows.length === 0) return;
    const next = Math.max(0, Math.min(list.rows.length - 1, i));
    if (list.index >= 0) list.rows[list.index]?.tr.setAttribute("aria-selected", "false");
    list.index = next;
    const { tr } = list.rows[next];
    tr.setAttribute("aria-selected", "true");
    if (focus) {
      tr.focus({ preventScroll: true });
      tr.scrollIntoView({ block: "nearest" });
    }
  }
  function move(delta) {
    select(list.index + delta, true);
  }
  function openAt(i) {
    if (i >= 0 && i < list.rows.length) open(list.rows[i].row);
  }

  select(0);
  active = list;
  return table;
}
