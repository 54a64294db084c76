// The lab page's panes: draggable gutters between the task, the code and
// the terminal pane (also moved with the arrow keys), their sizes kept in
// localStorage for the next visit; tabs in the bottom pane (terminal, tests,
// submissions); and on a phone the three panes as tabs of their own. The
// page lays the panes out with CSS alone; this only makes them adjustable.
const KEY = "faultline.workspace";
const LIMITS = { spec: [18, 60], run: [15, 75] }; // percent of the grid's width, of the main column's height
const DEFAULTS = { spec: 30, run: 44 };
const PHONE = "(max-width: 760px)";

function load() {
  try {
    return { ...DEFAULTS, ...JSON.parse(localStorage.getItem(KEY) || "{}") };
  } catch {
    return { ...DEFAULTS };
  }
}

function store(state) {
  try {
    localStorage.setItem(KEY, JSON.stringify(state));
  } catch { /* private mode: sizes last until the page closes */ }
}

const clamp = (name, v) => Math.min(LIMITS[name][1], Math.max(LIMITS[name][0], Math.round(v * 10) / 10));

// startPanes enhances root (the .lab-ws element). It returns showRunTab(name),
// which brings a tab of the bottom pane (and on a phone that pane) forward.
// The page names the tab to show first (data-initial-tab: the tests after a
// plain run, the submissions after a reset); otherwise the terminal. Only
// the sizes are remembered, so every visit starts in the same place.
export function startPanes(root) {
  if (!root) return () => {};
  const state = load();
  const apply = () => {
    state.spec = clamp("spec", state.spec);
    state.run = clamp("run", state.run);
    root.style.setProperty("--spec-w", state.spec + "%");
    root.style.setProperty("--run-h", state.run + "%");
    for (const g of gutters) {
      const v = state[g.dataset.gutter];
      g.setAttribute("aria-valuenow", String(Math.round(v)));
      g.setAttribute("aria-valuetext", `${Math.round(v)} percent`);
    }
  };

  // ---- Gutters ----
  const grid = root.querySelector(".ws-grid");
  const main = root.querySelector(".ws-main");
  const gutters = [...root.querySelectorAll(".ws-gutter[data-gutter]")];
  for (const g of gutters) {
    const name = g.dataset.gutter;
    g.hidden = false;
    g.tabIndex = 0;
    g.setAttribute("aria-valuemin", String(LIMITS[name][0]));
    g.setAttribute("aria-valuemax", String(LIMITS[name][1]));
    g.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      e.preventDefault();
      g.setPointerCapture(e.pointerId);
      g.classList.add("dragging");
      const move = (ev) => {
        if (name === "spec") {
          const r = grid.getBoundingClientRect();
          state.spec = ((ev.clientX - r.left) / r.width) * 100;
        } else {
          const r = main.getBoundingClientRect();
          state.run = ((r.bottom - ev.clientY) / r.height) * 100;
        }
        apply();
      };
      const up = () => {
        g.classList.remove("dragging");
        g.removeEventListener("pointermove", move);
        g.removeEventListener("pointerup", up);
        g.removeEventListener("pointercancel", up);
        store(state);
      };
      g.addEventListener("pointermove", move);
      g.addEventListener("pointerup", up);
      g.addEventListener("pointercancel", up);
    });
    g.addEventListener("keydown", (e) => {
      const step = e.shiftKey ? 10 : 2;
      const grow = name === "spec" ? { ArrowRight: step, ArrowLeft: -step } : { ArrowUp: step, ArrowDown: -step };
      if (e.key in grow) state[name] += grow[e.key];
      else if (e.key === "Home") state[name] = LIMITS[name][0];
      else if (e.key === "End") state[name] = LIMITS[name][1];
      else return;
      e.preventDefault();
      apply();
      store(state);
    });
    g.addEventListener("dblclick", () => {
      state[name] = DEFAULTS[name];
      apply();
      store(state);
    });
  }
  apply();

  // ---- Tabs of the bottom pane ----
  const runTabs = root.querySelector(".run-tabs");
  const tabs = runTabs ? [...runTabs.querySelectorAll("button[data-tab]")] : [];
  const panels = [...root.querySelectorAll(".run-tab[data-tab]")];
  const showTab = (name) => {
    if (!tabs.some((t) => t.dataset.tab === name)) name = tabs[0] && tabs[0].dataset.tab;
    for (const t of tabs) {
      const on = t.dataset.tab === name;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
    }
    for (const p of panels) p.classList.toggle("is-active", p.dataset.tab === name);
  };
  if (runTabs && tabs.length) {
    runTabs.hidden = false;
    runTabs.setAttribute("role", "tablist");
    for (const t of tabs) {
      t.setAttribute("role", "tab");
      t.id = "run-tab-" + t.dataset.tab;
      t.setAttribute("aria-controls", "run-panel-" + t.dataset.tab);
      t.addEventListener("click", () => showTab(t.dataset.tab));
    }
    for (const p of panels) {
      p.id = "run-panel-" + p.dataset.tab;
      p.setAttribute("role", "tabpanel");
      p.setAttribute("aria-labelledby", "run-tab-" + p.dataset.tab);
    }
    runTabs.addEventListener("keydown", (e) => arrowTabs(e, tabs));
    root.classList.add("tabbed-run");
    showTab(root.dataset.initialTab || "terminal");
  }

  // ---- A phone: the panes as tabs ----
  const wsTabs = root.querySelector(".ws-tabs");
  const panes = [...root.querySelectorAll(".ws-pane[data-pane]")];
  const paneTabs = wsTabs ? [...wsTabs.querySelectorAll("button[data-pane]")] : [];
  let current = root.dataset.initialTab ? "run" : "code";
  const showPane = (name) => {
    for (const t of paneTabs) {
      const on = t.dataset.pane === name;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
    }
    for (const p of panes) p.classList.toggle("is-active", p.dataset.pane === name);
    current = name;
  };
  if (wsTabs && paneTabs.length) {
    wsTabs.setAttribute("role", "tablist");
    for (const t of paneTabs) {
      t.setAttribute("role", "tab");
      t.id = "pane-tab-" + t.dataset.pane;
      t.setAttribute("aria-controls", "pane-" + t.dataset.pane);
      t.addEventListener("click", () => showPane(t.dataset.pane));
    }
    wsTabs.addEventListener("keydown", (e) => arrowTabs(e, paneTabs));
    const phone = window.matchMedia(PHONE);
    const follow = () => {
      wsTabs.hidden = !phone.matches;
      root.classList.toggle("tabbed", phone.matches);
      for (const p of panes) {
        if (phone.matches) {
          p.setAttribute("role", "tabpanel");
          p.setAttribute("aria-labelledby", "pane-tab-" + p.dataset.pane);
        } else {
          p.removeAttribute("role");
          p.removeAttribute("aria-labelledby");
        }
      }
      if (phone.matches) showPane(current);
    };
    phone.addEventListener("change", follow);
    follow();
  }

  return (name) => {
    showTab(name);
    if (root.classList.contains("tabbed")) showPane("run");
  };
}

// arrowTabs moves between tabs with the arrow keys, as a tab list should.
function arrowTabs(e, tabs) {
  const i = tabs.indexOf(document.activeElement);
  if (i < 0) return;
  let j = -1;
  if (e.key === "ArrowRight") j = (i + 1) % tabs.length;
  else if (e.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
  else if (e.key === "Home") j = 0;
  else if (e.key === "End") j = tabs.length - 1;
  if (j < 0) return;
  e.preventDefault();
  tabs[j].focus();
  tabs[j].click();
}
