// Small helpers shared by the editor and the terminal.

// el makes an element with attributes and children (strings become text).
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) if (c !== "" && c != null) e.append(c);
  return e;
}

// backoff is the wait before retry number n (1, 2, …): exponential from
// half a second, capped at 30 s, with full jitter over its upper half so
// many clients do not retry in step.
export function backoff(n) {
  const base = Math.min(30000, 500 * 2 ** Math.min(n, 16));
  return base / 2 + Math.random() * (base / 2);
}

// mirrorInlineStyles copies the <style> elements that libraries write under
// root (CodeMirror into <head>, xterm.js into its screen) into constructed
// style sheets adopted by the document, and keeps them in step. The page's
// Content-Security-Policy (style-src 'self', no nonce) blocks inline
// <style>, not adopted sheets.
export function mirrorInlineStyles(root) {
  if (!("adoptedStyleSheets" in document) || !window.CSSStyleSheet) return;
  const sheets = new Map(); // style element → [sheet, css]
  const sync = () => {
    for (const s of root.querySelectorAll("style")) {
      let entry = sheets.get(s);
      if (!entry) {
        entry = [new CSSStyleSheet(), null];
        sheets.set(s, entry);
        document.adoptedStyleSheets = [...document.adoptedStyleSheets, entry[0]];
      }
      const css = s.textContent || "";
      if (entry[1] !== css) {
        entry[1] = css;
        try { entry[0].replaceSync(css); } catch { /* keep the last good rules */ }
      }
    }
  };
  sync();
  new MutationObserver(sync).observe(root, { subtree: true, childList: true, characterData: true });
}
