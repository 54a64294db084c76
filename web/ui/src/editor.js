// The lab editor: CodeMirror over the page's textarea form. The textarea stays
// the source of truth for the plain form (every edit is copied into it), so
// the Save button still posts it; autosave posts the same fields with fetch,
// asking for a JSON answer.
import { EditorState } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, highlightSpecialChars,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import {
  syntaxHighlighting, defaultHighlightStyle, indentOnInput, bracketMatching, indentUnit,
} from "@codemirror/language";
import { searchKeymap, highlightSelectionMatches } from "@codemirror/search";
import { go } from "@codemirror/lang-go";
import { backoff, el } from "./util.js";

const SAVE_DELAY = 800; // ms of quiet typing before an autosave

export function startEditor(form, list) {
  const ta = form.querySelector("textarea[name=content]");
  const pathInput = form.querySelector("input[name=path]");
  if (!ta || !pathInput) return;
  const runForm = document.querySelector('form[data-form="run"]');
  const submitForm = document.querySelector('form[data-form="submit"]');

  // files by path; each: {path, readOnly, saved, state, timer, inflight,
  // failures, error, retrying, notice}. saved is the text known to be in the
  // store (null: never saved).
  const files = new Map();
  const addFile = (path, content, readOnly, saved) => {
    const f = {
      path, readOnly, saved: saved ? content : null, state: null, timer: null,
      inflight: null, failures: 0, error: "", retrying: false, notice: "",
    };
    f.state = newState(content, readOnly);
    files.set(path, f);
    return f;
  };
  for (const f of list) addFile(f.path, f.content, f.readOnly, true);

  // The selected file; after a failed plain save the server re-renders the
  // typed path and text, which may be a file not in the list yet.
  let current = files.get(pathInput.value);
  if (!current) {
    current = addFile(pathInput.value, ta.value, false, false);
  } else if (current.state.doc.toString() !== ta.value) {
    current.state = newState(ta.value, current.readOnly);
  }
  const tabs = [current.path];
  let leaving = false;

  // ---- Build the UI around the form's fields. ----
  const tree = el("nav", { class: "ide-tree", "aria-label": "Workspace files", "data-testid": "file-tree" });
  const newBtn = el("button", { type: "button", class: "link", "data-testid": "new-file" }, "New file…");
  const tabBar = el("div", { class: "ide-tabs", role: "tablist", "data-testid": "editor-tabs" });
  const host = el("div", { class: "ide-editor", "data-testid": "code-editor" });
  const status = el("span", { class: "ide-status", role: "status", "aria-live": "polite", "data-testid": "save-status", "data-state": "idle" });
  const note = el("span", { class: "ide-note muted", "data-testid": "editor-note" });
  const help = el("span", { class: "ide-help muted", "data-testid": "shortcut-help" },
    el("kbd", {}, "Ctrl/⌘ S"), " save · ", el("kbd", {}, "Ctrl/⌘ Enter"), " run tests · ",
    el("kbd", {}, "Ctrl/⌘ Shift Enter"), " submit. Your edits save as you type.");
  const ide = el("div", { class: "ide" },
    el("div", { class: "ide-side" }, tree, newBtn),
    el("div", { class: "ide-main" }, tabBar, host, el("div", { class: "ide-bar" }, status, note, help)));

  const contentLabel = ta.closest("label");
  const pathLabel = pathInput.closest("label");
  form.insertBefore(ide, contentLabel || ta);
  form.classList.add("enhanced");
  if (contentLabel) contentLabel.classList.add("visually-hidden");
  if (pathLabel) pathLabel.classList.add("ide-hidden");
  ta.tabIndex = -1;
  ta.setAttribute("aria-hidden", "true");
  const roNote = form.querySelector(":scope > p.muted");
  if (roNote) roNote.classList.add("ide-hidden");
  const plainList = document.querySelector('[data-testid="files"]');
  if (plainList) plainList.classList.add("ide-hidden");

  const view = new EditorView({ state: current.state, parent: host });

  function newState(doc, readOnly) {
    return EditorState.create({
      doc,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(),
        drawSelection(), indentOnInput(), bracketMatching(), highlightActiveLine(),
        highlightSelectionMatches(), indentUnit.of("\t"), EditorState.tabSize.of(4),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }), go(),
        keymap.of([...defaultKeymap, ...historyKeymap, ...searchKeymap, indentWithTab]),
        EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly),
        EditorView.contentAttributes.of({ "aria-label": "Code editor", "data-testid": "code-input", tabindex: "0" }),
        EditorView.updateListener.of((u) => { if (u.docChanged) edited(); }),
      ],
    });
  }

  const textOf = (f) => (f === current ? view.state.doc.toString() : f.state.doc.toString());
  const dirty = (f) => !f.readOnly && textOf(f) !== f.saved;

  function edited() {
    ta.value = view.state.doc.toString();
    schedule(current, SAVE_DELAY);
    render();
  }

  function schedule(f, delay) {
    clearTimeout(f.timer);
    f.timer = setTimeout(() => { f.timer = null; save(f); }, delay);
  }

  // post saves one file; it resolves to the reply or throws {message, retry}.
  async function post(path, content) {
    let res;
    try {
      res = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams({ path, content }),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
    } catch {
      throw { message: "offline?", retry: true };
    }
    const json = (res.headers.get("Content-Type") || "").includes("application/json");
    const reply = json ? await res.json().catch(() => null) : null;
    if (res.ok && reply && reply.saved) return reply;
    if (reply && reply.error && res.status >= 400 && res.status < 500 && ![401, 408, 429].includes(res.status)) {
      throw { message: reply.error, retry: false }; // retrying cannot help; the next edit tries again
    }
    throw { message: res.redirected ? "signed out?" : `HTTP ${res.status}`, retry: true };
  }

  // save sends f's text unless the store has it; resolves to whether f is
  // saved afterwards. Text is never dropped: a failed save keeps the editor
  // as it is and retries with backoff.
  async function save(f) {
    clearTimeout(f.timer);
    f.timer = null;
    if (f.readOnly) return true;
    if (f.inflight) {
      await f.inflight;
      return save(f);
    }
    const content = textOf(f);
    if (content === f.saved) {
      render();
      return true;
    }
    f.inflight = post(f.path, content).then(
      (reply) => {
        f.saved = content;
        f.failures = 0;
        f.error = "";
        f.retrying = false;
        f.notice = reply.notice || "";
      },
      (err) => {
        f.failures++;
        f.error = err.message || "failed";
        f.retrying = !!err.retry;
        if (err.retry) schedule(f, backoff(f.failures));
      },
    ).finally(() => { f.inflight = null; });
    render();
    await f.inflight;
    render();
    if (textOf(f) !== f.saved && !f.error) {
      schedule(f, SAVE_DELAY); // typed while it was saving
      return false;
    }
    return !dirty(f);
  }

  // flush saves every file with changes; resolves to whether all are saved.
  async function flush() {
    const results = await Promise.all([...files.values()].filter((f) => dirty(f) || f.inflight).map(save));
    return results.every(Boolean) && ![...files.values()].some(dirty);
  }

  // ---- Status, tree and tabs. ----
  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function render() {
    const all = [...files.values()];
    const failed = all.find((f) => f.error && dirty(f));
    if (all.some((f) => f.inflight)) setStatus("saving", "Saving…");
    else if (failed && failed.retrying) setStatus("error", "Not saved — retrying");
    else if (failed) setStatus("error", `Not saved — ${failed.error}`);
    else if (all.some(dirty)) setStatus("dirty", "Unsaved changes");
    else if (status.dataset.state !== "idle") setStatus("saved", "Saved");
    const withNotice = all.find((f) => f.notice);
    note.textContent = current.readOnly
      ? "Visible tests are read-only. Use New file… to write your own."
      : withNotice ? withNotice.notice : "";
    renderTree();
    renderTabs();
  }

  function renderTree() {
    const root = { dirs: new Map(), files: [] };
    for (const f of [...files.values()].sort((a, b) => a.path.localeCompare(b.path))) {
      const parts = f.path.split("/");
      let node = root;
      for (const d of parts.slice(0, -1)) {
        if (!node.dirs.has(d)) node.dirs.set(d, { dirs: new Map(), files: [] });
        node = node.dirs.get(d);
      }
      node.files.push({ name: parts[parts.length - 1], f });
    }
    const list = (node) => {
      const ul = el("ul", {});
      for (const [name, sub] of node.dirs) {
        ul.append(el("li", {}, el("details", { open: "" }, el("summary", {}, name + "/"), list(sub))));
      }
      for (const { name, f } of node.files) {
        const b = el("button", { type: "button", class: "ide-file", "data-path": f.path, "data-testid": "tree-file", title: f.path }, name);
        if (f === current) b.setAttribute("aria-current", "true");
        if (f.readOnly) b.append(" ", el("span", { class: "badge" }, "test"));
        if (dirty(f)) b.append(" ", el("span", { class: "dot", title: "not saved" }, "•"));
        b.addEventListener("click", () => open(f.path));
        ul.append(el("li", {}, b));
      }
      return ul;
    };
    tree.replaceChildren(list(root));
  }

  function renderTabs() {
    tabBar.replaceChildren(...tabs.map((p) => {
      const f = files.get(p);
      const tab = el("button", {
        type: "button", role: "tab", class: "ide-tab", "data-path": p, "data-testid": "editor-tab",
        "aria-selected": String(f === current),
      }, p.split("/").pop() + (dirty(f) ? " •" : ""));
      tab.title = p;
      tab.addEventListener("click", () => open(p));
      const close = el("button", { type: "button", class: "ide-close", "aria-label": "Close " + p }, "×");
      close.addEventListener("click", () => closeTab(p));
      return el("span", { class: "ide-tabwrap" }, tab, tabs.length > 1 ? close : "");
    }));
  }

  function open(path) {
    const f = files.get(path);
    if (!f) return;
    if (!tabs.includes(path)) tabs.push(path);
    if (f !== current) {
      current.state = view.state;
      view.setState(f.state);
      current = f;
      ta.value = view.state.doc.toString();
      ta.readOnly = f.readOnly;
      pathInput.value = f.path;
      const u = new URL(location.href);
      u.searchParams.delete("saved");
      u.searchParams.set("file", f.path);
      history.replaceState(null, "", u);
    }
    render();
    view.focus();
  }

  function closeTab(path) {
    const i = tabs.indexOf(path);
    if (i < 0 || tabs.length < 2) return;
    tabs.splice(i, 1);
    if (files.get(path) === current) open(tabs[Math.min(i, tabs.length - 1)]);
    else render();
  }

  newBtn.addEventListener("click", () => {
    const path = (window.prompt("Path of the new file, e.g. notes.go") || "").trim();
    if (!path) return;
    if (!files.has(path)) {
      addFile(path, "", false, false);
      schedule(files.get(path), 0);
    }
    open(path);
  });

  // ---- Running tests and submitting wait for every save. ----
  async function submitAfterSave(target, submitter) {
    setStatus("saving", "Saving…");
    if (await flush()) {
      leaving = true;
      target.requestSubmit(submitter || undefined);
      return;
    }
    render();
    if (submitter && submitter.dataset.label) { // undo app.js's busy label
      submitter.disabled = false;
      submitter.textContent = submitter.dataset.label;
      delete submitter.dataset.label;
    }
  }
  for (const f of [runForm, submitForm]) {
    if (!f) continue;
    f.addEventListener("submit", (e) => {
      if (![...files.values()].some((x) => dirty(x) || x.inflight)) return;
      e.preventDefault();
      e.stopPropagation();
      submitAfterSave(f, e.submitter);
    });
  }
  function trigger(f, what) {
    const b = f && f.querySelector("button[type=submit]");
    if (!b) return;
    if (b.disabled) {
      setStatus(status.dataset.state, status.textContent);
      note.textContent = what === "run" ? "Start the lab to run the visible tests." : "";
      return;
    }
    f.requestSubmit(b);
  }

  document.addEventListener("keydown", (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
    if (e.key === "s" || e.key === "S") {
      e.preventDefault();
      e.stopPropagation();
      flush().then(render);
    } else if (e.key === "Enter") {
      e.preventDefault();
      e.stopPropagation();
      if (e.shiftKey) trigger(submitForm, "submit");
      else trigger(runForm, "run");
    }
  }, true);

  // A plain submit leaves the page on purpose; anything else with unsaved
  // edits asks first.
  document.addEventListener("submit", (e) => { if (!e.defaultPrevented) leaving = true; });
  window.addEventListener("beforeunload", (e) => {
    if (leaving || ![...files.values()].some(dirty)) return;
    e.preventDefault();
    e.returnValue = "";
  });
  window.addEventListener("pageshow", (e) => { if (e.persisted) leaving = false; });

  render();
}
