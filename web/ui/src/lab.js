// The lab page, enhanced. The page works without this bundle (a textarea and
// plain forms); with it the editor becomes CodeMirror with a file tree, tabs,
// autosave and shortcuts, and a running sandbox gets a terminal.
import "./lab.css";
import { startEditor } from "./editor.js";
import { mirrorInlineStyles } from "./util.js";

function init() {
  mirrorInlineStyles(document.head); // CodeMirror's themes
  const form = document.querySelector('form[data-testid="editor"]');
  // The files come in an inert <template>: one <code data-path> each.
  const data = document.getElementById("lab-files");
  if (form && data && data.content) {
    const files = [...data.content.querySelectorAll("code[data-path]")].map((c) => ({
      path: c.dataset.path,
      content: c.textContent,
      readOnly: c.hasAttribute("data-readonly"),
      saved: c.hasAttribute("data-saved"),
    }));
    startEditor(form, files);
  }
  // The terminal (xterm.js) is a module of its own, named by the page with
  // its versioned URL, loaded only when a sandbox runs.
  const term = document.querySelector('[data-testid="terminal"][data-url][data-module]');
  if (term) {
    import(term.dataset.module).then((m) => m.startTerminal(term)).catch((err) => {
      console.error("terminal:", err);
      term.dataset.error = String(err);
      term.replaceChildren(Object.assign(document.createElement("p"), {
        className: "muted", textContent: "The terminal could not be loaded. Reload the page to try again.",
      }));
    });
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", init);
} else {
  init();
}
