// A remote screen session: asks the device, shows the caller's answer, then draws the
// caller's screen on a canvas that scales to the window and, in a control session, sends the
// analyst's mouse and keyboard. The caller's pointer is drawn over the canvas (see
// ../screen/cursor.js). Keys travel as physical key codes (KeyboardEvent.code), so the
// caller's layout decides the character; "Type text" (an in-page dialog) sends any Unicode
// text as it is.
// Everything held down is released when the tab loses focus or control ends.

import { h, notify, replace, text } from "../dom.js";
import { CursorOverlay, TAG_POSITION, TAG_SHAPE, recordTag } from "../screen/cursor.js";
import { ScreenCanvas } from "../screen/frame.js";

export const title = ([number]) => `Screen \u2013 ticket ${number}`;

const COMBOS = [
  ["Ctrl+Alt+Del", ["ControlLeft", "AltLeft", "Delete"]],
  ["Alt+Tab", ["AltLeft", "Tab"]],
  ["Alt+F4", ["AltLeft", "F4"]],
  ["Super (Windows key)", ["MetaLeft"]],
  ["Ctrl+Esc", ["ControlLeft", "Escape"]],
  ["Print Screen", ["PrintScreen"]],
  ["Ctrl+Alt+F1", ["ControlLeft", "AltLeft", "F1"]],
];
// The longest text one "Type text" may carry, in UTF-8 bytes (the protocol's limit).
const MAX_TYPE_TEXT = 4096;
const BUTTONS = ["Left", "Middle", "Right", "Back", "Forward"];
const LABELS = {
  allow: "The caller allowed the session.",
  unattended: "Unattended session: nobody is signed in on the device.",
  deny: "The caller declined.",
  timeout: "The caller did not answer in time.",
  cannot_show: "The prompt could not be shown",
  refused: "The device refused",
};

export async function render(main, ctx) {
  const number = ctx.params[0];
  const query = new URLSearchParams(location.search);
  const device = query.get("device") || "";
  const mode = query.get("mode") === "control" ? "control" : "view";
  let control = mode === "control";
  let running = false;

  const status = h("p", { class: "session-status", id: "session-status", role: "status" }, "Asking the caller\u2026");
  const canvas = h("canvas", { id: "screen", class: "screen", tabindex: "0", "aria-label": "The caller's screen" });
  const screen = new ScreenCanvas(canvas);
  const pointerCanvas = h("canvas", { id: "caller-pointer", class: "caller-pointer", hidden: true, "aria-hidden": "true" });
  const pointer = new CursorOverlay(canvas, pointerCanvas);
  pointer.setControl(control);
  const endButton = h("button", { type: "button", class: "danger", id: "end-session" }, "End session");
  const viewOnlyButton = h("button", { type: "button", id: "view-only", hidden: !control }, "View only");
  const typeButton = h("button", { type: "button", id: "type-text", hidden: !control }, "Type text\u2026");
  const combos = h("select", { id: "combos", "aria-label": "Send keys", hidden: !control },
    h("option", { value: "" }, "Send keys\u2026"), ...COMBOS.map(([label], i) => h("option", { value: String(i) }, label)));
  const monitors = h("select", { id: "monitor", "aria-label": "Monitor", hidden: true });
  const typeInput = h("textarea", { id: "type-text-input", rows: "4", cols: "48", "aria-describedby": "type-text-hint" });
  const typeSend = h("button", { type: "submit", id: "type-text-send", value: "send" }, "Send");
  const typeCancel = h("button", { type: "button", id: "type-text-cancel" }, "Cancel");
  const typeDialog = h("dialog", { id: "type-text-dialog", "aria-labelledby": "type-text-title" },
    h("form", { method: "dialog" },
      h("h2", { id: "type-text-title" }, "Type text on the caller's screen"),
      h("label", { for: "type-text-input", id: "type-text-hint", class: "hint" },
        "Sent exactly as written, whatever the caller's keyboard layout. Ctrl+Enter sends; Escape cancels."),
      typeInput,
      h("div", { class: "actions" }, typeSend, typeCancel)));
  const bar = h("div", { class: "session-bar" },
    h("a", { href: `/tickets/${number}` }, `\u2190 Ticket #${number}`),
    h("span", { class: "mono" }, text(device, 40)),
    h("span", { class: "pill" }, control ? "view and control" : "view only"),
    h("span", { class: "spacer" }), monitors, combos, typeButton, viewOnlyButton, endButton);
  main.append(bar, status, h("div", { class: "screen-wrap" }, canvas, pointerCanvas), typeDialog);

  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const params = new URLSearchParams({ device, mode, monitor: "all" });
  const socket = new WebSocket(`${scheme}//${location.host}/api/tickets/${encodeURIComponent(number)}/screen?${params}`);
  socket.binaryType = "arraybuffer";
  const send = (message) => { if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message)); };

  // Frames are drawn strictly in order; each is acknowledged once drawn, which lets the
  // device send the next (it keeps at most two unacknowledged).
  const stats = { frames: 0, lastSeq: 0, drawnAt: 0 };
  window.__hotlineScreen = { canvas, stats, pointer };
  let drawing = Promise.resolve();
  socket.addEventListener("message", (event) => {
    if (typeof event.data === "string") return onReport(JSON.parse(event.data));
    const buffer = event.data;
    // Cursor records are small and not acknowledged; they apply at once, in their order.
    const tag = recordTag(buffer);
    if (tag === TAG_SHAPE || tag === TAG_POSITION) {
      try {
        pointer.apply(buffer);
      } catch (error) {
        setStatus(`The caller's pointer could not be shown: ${error.message}`, "error");
      }
      return;
    }
    drawing = drawing.then(async () => {
      try {
        const frame = await screen.apply(buffer);
        // The canvas may have changed size: the pointer follows its scale.
        pointer.layout();
        stats.frames += 1;
        stats.lastSeq = frame.seq;
        stats.drawnAt = performance.now();
        send({ ack: frame.seq });
      } catch (error) {
        setStatus(`A frame could not be drawn: ${error.message}`, "error");
      }
    });
  });
  socket.addEventListener("close", (event) => {
    // A refusal or an end the console explained stays on screen; otherwise say what we know.
    if (!["refused", "ended"].includes(status.dataset.state)) {
      setStatus(event.reason ? `The session ended: ${event.reason}` : "The connection to the console closed; the session ended.", "ended");
    }
    running = false;
    releaseAll();
  });

  function setStatus(message, state) {
    status.textContent = message;
    status.dataset.state = state;
  }

  function onReport(report) {
    switch (report.kind) {
      case "requested": setStatus("Waiting for the caller to allow the session\u2026", "requested"); break;
      case "answered": {
        const label = LABELS[report.answer] || report.answer;
        setStatus(report.reason ? `${label}: ${report.reason}` : label, report.allowed ? "allowed" : "refused");
        if (report.monitors?.length > 1) {
          replace(monitors, h("option", { value: "all" }, "All monitors"),
            ...report.monitors.map((m) => h("option", { value: String(m.index) }, `${m.name} (${m.width}\u00d7${m.height})`)));
          monitors.hidden = false;
        }
        break;
      }
      case "started": running = true; setStatus(control ? "Connected: you control the screen." : "Connected: view only.", "running"); canvas.focus(); break;
      case "view_only": dropControl(report.by === "caller" ? "The caller took back control: view only." : "View only."); break;
      case "ended": running = false; releaseAll(); setStatus(`The session ended (${report.by}): ${report.reason}`, "ended"); break;
      case "error": notify(report.reason, "error"); break;
      default: break;
    }
  }

  function dropControl(message) {
    releaseAll();
    if (typeDialog.open) typeDialog.close("cancel");
    control = false;
    pointer.setControl(false);
    viewOnlyButton.hidden = true;
    typeButton.hidden = true;
    combos.hidden = true;
    setStatus(message, "running");
  }

  // Input. Pointer moves are coalesced to one per animation frame, so a fast mouse never
  // queues up behind a slow link.
  const held = { keys: new Set(), buttons: new Set() };
  let pendingMove = null;
  const input = (events) => { if (control && running && events.length) send({ input: events }); };
  function flushMove() {
    if (pendingMove) input([{ PointerMove: pendingMove }]);
    pendingMove = null;
  }
  // The canvas is scaled to fit (object-fit: contain), so the picture may be letterboxed
  // inside the element's box: a point maps through the picture's own scale and offset.
  function position(event) {
    const rect = canvas.getBoundingClientRect();
    const scale = Math.min(rect.width / canvas.width, rect.height / canvas.height) || 1;
    const left = rect.left + (rect.width - canvas.width * scale) / 2;
    const top = rect.top + (rect.height - canvas.height * scale) / 2;
    const x = Math.floor((event.clientX - left) / scale);
    const y = Math.floor((event.clientY - top) / scale);
    return { x: Math.max(0, Math.min(canvas.width - 1, x)), y: Math.max(0, Math.min(canvas.height - 1, y)) };
  }
  function releaseAll() {
    if (held.keys.size || held.buttons.size) input(["ReleaseAll"]);
    held.keys.clear();
    held.buttons.clear();
  }
  canvas.addEventListener("pointermove", (event) => {
    if (!control || !running) return;
    const first = pendingMove === null;
    pendingMove = position(event);
    if (first) requestAnimationFrame(flushMove);
  });
  canvas.addEventListener("pointerdown", (event) => {
    if (!control || !running) return;
    event.preventDefault();
    canvas.focus();
    pendingMove = null;
    const button = BUTTONS[event.button] || "Left";
    held.buttons.add(button);
    input([{ PointerMove: position(event) }, { Button: { button, pressed: true } }]);
  });
  canvas.addEventListener("pointerup", (event) => {
    if (!control || !running) return;
    const button = BUTTONS[event.button] || "Left";
    held.buttons.delete(button);
    flushMove();
    input([{ PointerMove: position(event) }, { Button: { button, pressed: false } }]);
  });
  canvas.addEventListener("contextmenu", (event) => event.preventDefault());
  canvas.addEventListener("wheel", (event) => {
    if (!control || !running) return;
    event.preventDefault();
    const steps = (delta) => Math.max(-20, Math.min(20, Math.round(delta / 100) || Math.sign(delta)));
    input([{ Wheel: { dx: steps(event.deltaX), dy: steps(event.deltaY) } }]);
  }, { passive: false });
  // Keys typed on the canvas are the caller's, never the console's shortcuts.
  canvas.addEventListener("keydown", (event) => {
    if (!control || !running || !event.code) return;
    event.preventDefault();
    event.stopPropagation();
    if (event.repeat && held.keys.has(event.code)) return;
    held.keys.add(event.code);
    input([{ Key: { code: event.code, pressed: true } }]);
  });
  canvas.addEventListener("keyup", (event) => {
    if (!control || !running || !event.code) return;
    event.preventDefault();
    event.stopPropagation();
    held.keys.delete(event.code);
    input([{ Key: { code: event.code, pressed: false } }]);
  });
  const onBlur = () => releaseAll();
  canvas.addEventListener("blur", onBlur);
  window.addEventListener("blur", onBlur);
  const onHidden = () => { if (document.hidden) releaseAll(); };
  document.addEventListener("visibilitychange", onHidden);
  const onResize = () => pointer.layout();
  window.addEventListener("resize", onResize);

  combos.addEventListener("change", () => {
    const combo = COMBOS[Number(combos.value)];
    combos.value = "";
    if (!combo) return;
    const keys = combo[1];
    input([...keys.map((code) => ({ Key: { code, pressed: true } })), ...[...keys].reverse().map((code) => ({ Key: { code, pressed: false } }))]);
    canvas.focus();
  });
  // "Type text": an in-page dialog, so the text never leaves the page through a browser
  // prompt and the canvas gets the focus back however the dialog closes.
  typeButton.addEventListener("click", () => {
    typeInput.value = "";
    typeDialog.returnValue = "";
    typeDialog.showModal();
    typeInput.focus();
  });
  typeCancel.addEventListener("click", () => typeDialog.close("cancel"));
  typeDialog.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if (event.key === "Escape") {
      event.preventDefault();
      typeDialog.close("cancel");
    } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      typeDialog.close("send");
    }
  });
  typeDialog.addEventListener("close", () => {
    const text = typeInput.value;
    typeInput.value = "";
    if (typeDialog.returnValue !== "send" || !text) return canvas.focus();
    if (new TextEncoder().encode(text).length > MAX_TYPE_TEXT) notify(`The text is longer than ${MAX_TYPE_TEXT} bytes; nothing was typed.`, "error");
    else input([{ TypeText: { text } }]);
    canvas.focus();
  });
  viewOnlyButton.addEventListener("click", () => { send({ view_only: true }); dropControl("View only."); });
  monitors.addEventListener("change", () => send({ monitor: monitors.value === "all" ? "All" : { One: Number(monitors.value) } }));
  endButton.addEventListener("click", () => { releaseAll(); send({ end: true }); });

  // Leaving the page ends the session (the console ends it when the socket closes).
  return () => {
    releaseAll();
    window.removeEventListener("blur", onBlur);
    document.removeEventListener("visibilitychange", onHidden);
    window.removeEventListener("resize", onResize);
    socket.close();
    delete window.__hotlineScreen;
  };
}
