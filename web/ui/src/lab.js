// The lab page, enhanced. The page works without this bundle (a textarea and
// plain forms); with it the editor becomes CodeMirror with a file tree, tabs,
// autosave and shortcuts, and a running sandbox gets a terminal. "Start lab"
// and "Run tests" stream their progress (stream.js).
import "./lab.css";
import { startEditor } from "./editor.js";
import { startPanes } from "./panes.js";
import { enhanceRun, enhanceStart, watchLifetime } from "./stream.js";
import { mirrorInlineStyles } from "./util.js";

function init() {
  mirrorInlineStyles(document.head); // CodeMirror's themes
  const showRunTab = startPanes(document.querySelector('[data-testid="lab-workspace"]'));
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
  const sandbox = document.querySelector('[data-testid="sandbox"]');
  loadTerminal(sandbox);
  watchLifetime(bannerOf(sandbox));
  // After the editor, whose submit handler saves first and submits again.
  enhanceRun(document.querySelector('form[data-form="run"]'), () => showRunTab("tests"));
  enhanceStart(document.querySelector('form[data-form="start"]'), (panel) => {
    // The sandbox runs: the new panel has the terminal, and tests can run.
    loadTerminal(panel);
    watchLifetime(bannerOf(panel));
    const run = document.querySelector('[data-testid="run-tests"]');
    if (run) run.disabled = false;
    const hint = document.querySelector('[data-testid="run-hint"]');
    if (hint) hint.remove();
  });
}

// bannerOf moves the sandbox's lifetime banner out of its panel to the top
// of the workspace, where it shows whichever tab is in front, and returns
// that place.
function bannerOf(panel) {
  const slot = document.querySelector('[data-testid="ws-banner"]');
  const banner = panel && panel.querySelector('[data-testid="sandbox-expiry"]');
  if (!slot) return panel;
  slot.replaceChildren(...(banner ? [banner] : []));
  return slot;
}

// loadTerminal starts the terminal in root, if it has one. The terminal
// (xterm.js) is a module of its own, named by the page with its versioned
// URL, loaded only when a sandbox runs.
function loadTerminal(root) {
  const term = root && root.querySelector('[data-testid="terminal"][data-url][data-module]');
  if (!term) return;
  import(term.dataset.module).then((m) => m.startTerminal(term)).catch((err) => {
    console.error("terminal:", err);
    term.dataset.error = String(err);
    term.replaceChildren(Object.assign(document.createElement("p"), {
      className: "muted", textContent: "The terminal could not be loaded. Reload the page to try again.",
    }));
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", init);
} else {
  init();
}
