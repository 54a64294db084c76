// Builds the lab page bundle into ../static/bundle, which the Go server embeds:
// lab.js (editor; it also loads the terminal) with lab.css (the CSS it
// imports), and terminal.js (xterm.js, the larger half), which lab.js
// imports only when the page has a running sandbox.
import { build } from "esbuild";

await build({
  entryPoints: { lab: "src/lab.js", terminal: "src/terminal.js" },
  outdir: "../static/bundle",
  bundle: true,
  format: "esm",
  target: ["es2020"],
  minify: true,
  legalComments: "none",
  logLevel: "warning",
});
