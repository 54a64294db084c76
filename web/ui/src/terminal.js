// The terminal into the learner's running sandbox: xterm.js over a WebSocket
// at {lab}/terminal. Binary messages carry raw terminal bytes both ways; the
// browser sends {"type":"resize"} as text when the size changes. Close code
// 4404 means no sandbox is running, 4401 signed out; any other drop
// reconnects with capped exponential backoff and jitter.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { backoff, el, mirrorInlineStyles } from "./util.js";

export function startTerminal(box) {
  const state = el("p", { class: "term-state muted", role: "status", "data-testid": "terminal-state", "data-state": "connecting" }, "Connecting…");
  const screen = el("div", { class: "term-screen", "data-testid": "terminal-screen" });
  box.replaceChildren(state, screen);
  box.classList.add("enhanced");

  const term = new Terminal({
    cursorBlink: true,
    fontFamily: "ui-monospace, Menlo, Consolas, monospace",
    fontSize: 13,
    scrollback: 2000,
  });
  const fit = new FitAddon();
  let pending = false; // a refit is queued for the next frame
  term.loadAddon(fit);
  term.open(screen);
  mirrorInlineStyles(screen); // xterm.js writes its theme into <style> elements
  // The size in characters, on the element too (the pane follows it).
  const showSize = () => { box.dataset.cols = String(term.cols); box.dataset.rows = String(term.rows); };
  term.onResize(showSize);
  try { fit.fit(); } catch { /* not laid out yet: the observer refits */ }
  showSize();

  const encoder = new TextEncoder();
  let ws = null;
  let attempts = 0;
  let timer = null;
  let done = false; // a final close: no more reconnects

  const setState = (s, text) => {
    state.dataset.state = s;
    state.textContent = text;
  };
  const send = (data) => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(data);
  };
  const sendResize = () => send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));

  term.onData((d) => send(encoder.encode(d)));
  term.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0) & 0xff)));
  term.onResize(sendResize);

  function connect() {
    timer = null;
    const u = new URL(box.dataset.url, location.href);
    u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    u.searchParams.set("cols", String(term.cols));
    u.searchParams.set("rows", String(term.rows));
    const sock = new WebSocket(u);
    sock.binaryType = "arraybuffer";
    ws = sock;
    sock.onopen = () => {
      attempts = 0;
      setState("open", "Connected to your sandbox.");
      sendResize();
      // Take the keyboard back only if the terminal had it (a reconnect):
      // never from the editor the learner is typing in.
      if (box.contains(document.activeElement)) term.focus();
    };
    sock.onmessage = (e) => {
      term.write(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
    };
    sock.onclose = (e) => {
      if (ws !== sock) return;
      ws = null;
      if (e.code === 4404) {
        done = true;
        setState("no-sandbox", "Start the lab to open a terminal.");
      } else if (e.code === 4401) {
        done = true;
        setState("signed-out", "You are signed out. Sign in again to open a terminal.");
      } else {
        attempts++;
        setState("reconnecting", "Reconnecting…");
        timer = setTimeout(connect, backoff(attempts));
      }
    };
  }

  // Back online or back to the tab: try now instead of waiting out the backoff.
  const retryNow = () => {
    if (!done && timer !== null) {
      clearTimeout(timer);
      connect();
    }
  };
  window.addEventListener("online", retryNow);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) retryNow(); });

  function refit() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      try { fit.fit(); } catch { /* not laid out yet */ }
    });
  }
  if (window.ResizeObserver) new ResizeObserver(refit).observe(screen);
  else window.addEventListener("resize", refit);

  connect();
}
