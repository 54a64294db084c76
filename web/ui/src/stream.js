// Streamed lab actions. "Start lab" and "Run tests" stay plain forms; the
// bundle posts the same forms with fetch, asking for Server-Sent Events
// (an EventSource cannot POST), and shows what comes as it comes:
//   start: "phase" events (image, create, start, files, ready), then "ready"
//          with the sandbox panel's HTML, swapped in for the old panel;
//   run:   "output" events with test output as text, then "result" with the
//          page's own per-test view (server-rendered HTML);
//   both:  "error" with JSON {message, status, retryAfter}.
// Anything unexpected (signed out, an old server) falls back to the plain
// form submit. The lifetime banner is shown when its warning time comes.
import "./stream.css";
import { el } from "./util.js";

const PHASES = [
  ["image", "Preparing the lab image"],
  ["create", "Creating your container"],
  ["start", "Starting it"],
  ["files", "Copying your files in"],
  ["ready", "Ready"],
];
const MAX_AUTO_RETRIES = 3; // busy starts retried by themselves

// postEvents posts form with fetch and calls onEvent(name, data) for each
// event as it arrives. It resolves to the response, or null when the answer
// was not an event stream (the caller then submits the form plainly).
export async function postEvents(form, onEvent) {
  const res = await fetch(form.action, {
    method: "POST",
    body: new URLSearchParams(new FormData(form)),
    headers: { Accept: "text/event-stream" },
    credentials: "same-origin",
  });
  if (!(res.headers.get("Content-Type") || "").startsWith("text/event-stream") || !res.body) return null;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buf += decoder.decode(value, { stream: true });
    buf = buf.replace(/\r\n?/g, "\n");
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      dispatch(buf.slice(0, i), onEvent);
      buf = buf.slice(i + 2);
    }
    if (done) break;
  }
  if (buf.trim()) dispatch(buf, onEvent);
  return res;
}

function dispatch(block, onEvent) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue; // keep-alive comment
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (data.length) onEvent(name, data.join("\n"));
}

function parseError(data) {
  try {
    const e = JSON.parse(data);
    return { message: e.message || "Something went wrong.", status: e.status || 0, retryAfter: e.retryAfter || 0 };
  } catch {
    return { message: data, status: 0, retryAfter: 0 };
  }
}

// fromHTML returns the first element of a server-rendered fragment.
function fromHTML(html) {
  const t = document.createElement("template");
  t.innerHTML = html;
  return t.content.firstElementChild;
}

// unbusy undoes app.js's busy label on a submit button.
function unbusy(button) {
  if (!button) return;
  setTimeout(() => { // after app.js's own zero-delay timer
    button.disabled = false;
    if (button.dataset.label) {
      button.textContent = button.dataset.label;
      delete button.dataset.label;
    }
  }, 0);
}

// enhanceStart streams "Start lab" in the sandbox panel; onReady(panel) is
// called with the new panel once the sandbox runs.
export function enhanceStart(form, onReady) {
  if (!form || !window.fetch || !window.ReadableStream) return;
  let retries = 0;
  form.addEventListener("submit", (e) => {
    if (e.defaultPrevented) return;
    e.preventDefault();
    retries = 0;
    start(e.submitter || form.querySelector("button[type=submit]"));
  });

  async function start(button) {
    const panel = form.closest('[data-testid="sandbox"]');
    for (const old of panel.querySelectorAll('[data-testid="start-phases"], [data-testid="start-error"]')) old.remove();
    const list = el("ol", { class: "phases", "data-testid": "start-phases", "aria-live": "polite" });
    for (const [phase, label] of PHASES) list.append(el("li", { "data-phase": phase, "data-state": "pending" }, label));
    form.after(list);
    const mark = (phase) => {
      const at = PHASES.findIndex(([p]) => p === phase);
      if (at < 0) return;
      list.querySelectorAll("li").forEach((li, i) => {
        li.dataset.state = i < at || phase === "ready" ? "done" : i === at ? "active" : "pending";
      });
    };
    let failure = null;
    let ready = null;
    let res;
    try {
      res = await postEvents(form, (name, data) => {
        if (name === "phase") mark(data);
        else if (name === "ready") ready = data;
        else if (name === "error") failure = parseError(data);
      });
    } catch {
      failure = { message: "The connection broke while starting. Your saved files are safe; try again.", retryAfter: 0 };
    }
    if (res === null) { form.submit(); return; } // not a stream: let the server answer the form
    if (ready) {
      mark("ready");
      const next = fromHTML(ready);
      if (next) {
        panel.replaceWith(next);
        onReady(next);
        return;
      }
    }
    if (!failure) failure = { message: "The sandbox did not say it was ready. Reload the page to see its state.", retryAfter: 0 };
    list.remove();
    const alert = el("p", { class: "alert", role: "alert", "data-testid": "start-error" }, failure.message);
    form.after(alert);
    unbusy(button);
    if (failure.retryAfter > 0 && retries < MAX_AUTO_RETRIES) {
      retries++;
      let left = failure.retryAfter;
      const note = el("span", { class: "muted", "data-testid": "start-retry" });
      alert.append(" ", note);
      const tick = () => {
        if (!alert.isConnected) return;
        if (left <= 0) { start(button); return; }
        note.textContent = `Trying again in ${left} s…`;
        left--;
        setTimeout(tick, 1000);
      };
      tick();
    }
  }
}

// enhanceRun streams "Run tests": a live panel with the output in the
// page's test slot, replaced by the server's per-test view when the run
// ends. onStart brings the slot into view.
export function enhanceRun(form, onStart) {
  if (!form || !window.fetch || !window.ReadableStream) return;
  let running = false;
  form.addEventListener("submit", (e) => {
    if (e.defaultPrevented) return; // the editor saves first, then submits again
    e.preventDefault();
    if (!running) run(e.submitter || form.querySelector("button[type=submit]"));
  });

  async function run(button) {
    running = true;
    const pre = el("pre", { class: "output live", "data-testid": "run-stream" });
    const state = el("p", { role: "status", "data-testid": "run-live-state", "data-state": "running" }, "Running the visible tests…");
    const live = el("section", { class: "panel", "data-testid": "run-live" }, el("h2", {}, "Test run"), state, pre);
    const old = document.querySelector('[data-testid="run-output"], [data-testid="run-live"], [data-testid="run-empty"]');
    if (old) old.replaceWith(live);
    else document.querySelector('[data-testid="run-slot"]').append(live);
    if (onStart) onStart();
    let result = null;
    let failure = null;
    let res;
    try {
      res = await postEvents(form, (name, data) => {
        if (name === "output") {
          const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          pre.append(data);
          if (stick) pre.scrollTop = pre.scrollHeight;
        } else if (name === "result") result = data;
        else if (name === "error") failure = parseError(data);
      });
    } catch {
      failure = { message: "The connection broke during the run. Try again." };
    }
    running = false;
    if (res === null) { form.submit(); return; }
    unbusy(button);
    const view = result && fromHTML(result);
    if (view) {
      live.replaceWith(view);
      return;
    }
    state.dataset.state = "error";
    state.className = "alert";
    state.setAttribute("role", "alert");
    state.textContent = (failure && failure.message) || "The run ended without a result. Try again.";
  }
}

// watchLifetime shows the panel's lifetime banner when its warning time
// comes and keeps its "in N min" current; the server renders it hidden
// with the seconds until then (relative, so the browser's clock does not
// matter).
export function watchLifetime(root) {
  const banner = root && root.querySelector('[data-testid="sandbox-expiry"][data-stops-in]');
  if (!banner) return;
  const t0 = Date.now();
  const warnAt = t0 + Number(banner.dataset.warnIn || 0) * 1000;
  const stopsAt = t0 + Number(banner.dataset.stopsIn || 0) * 1000;
  const time = banner.querySelector("time");
  if (time && time.dateTime) {
    const d = new Date(time.dateTime);
    if (!Number.isNaN(d.getTime())) time.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  const left = banner.querySelector("[data-left]");
  const tick = () => {
    if (!banner.isConnected) return;
    const now = Date.now();
    if (now < warnAt) {
      setTimeout(tick, Math.min(warnAt - now, 2 ** 31 - 1));
      return;
    }
    banner.hidden = false;
    const ms = stopsAt - now;
    if (left) left.textContent = ms <= 0 ? "now" : ms < 60000 ? "in under a minute" : `in ${Math.ceil(ms / 60000)} min`;
    if (stopsAt > now) setTimeout(tick, 15000);
  };
  tick();
}
