// Live pages: a WebSocket to the console that pushes each new timeline entry of one ticket, or
// each new state of one deployment. The console checks the origin and the session before it
// upgrades, and again while the socket is open; if it falls behind it says so and closes, and
// we ask for a reload.

const RETRY_MS = [1000, 2000, 5000, 10000];

/**
 * Follows ticket `number`: `onItem(item)` per entry, `onState(state, detail)` with "live",
 * "retrying", "lagged" (reload needed) or "ended" (signed out or no longer allowed).
 * Returns a function that stops following.
 */
export function follow(number, onItem, onState) {
  return followSocket(`/api/tickets/${encodeURIComponent(number)}/live`, onItem, onState);
}

/** Follows the socket at `path` as `follow` does, with `onItem(message)` per message. */
export function followSocket(path, onItem, onState) {
  let socket = null;
  let attempt = 0;
  let stopped = false;
  let timer = 0;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}${path}`);
    socket.addEventListener("open", () => {
      attempt = 0;
      onState("live");
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.kind === "lagged") {
        stopped = true;
        onState("lagged", "The page fell behind; reload to see every entry.");
      } else if (message.kind === "ended") {
        stopped = true;
        onState("ended", message.reason || "Live updates ended.");
      } else {
        onItem(message);
      }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if (stopped) return;
      // 1008 (policy violation) means the session is gone or no longer allowed: retrying
      // would only be refused again.
      if (event.code === 1008) {
        stopped = true;
        onState("ended", event.reason || "Your session ended.");
        return;
      }
      const delay = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)];
      attempt += 1;
      onState("retrying", `Reconnecting in ${delay / 1000} s`);
      timer = setTimeout(connect, delay);
    });
  }

  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (socket) socket.close(1000, "page left");
  };
}
