// The trace explorer's cursor, in place: click an event, or use the arrow
// keys, Home and End, or the slider, and the diagram dims what has not
// happened yet and says what held at that moment. Without this script the
// same controls are links and a form.
(function () {
  "use strict";
  var ui = document.querySelector('[data-testid="trace-ui"]');
  if (!ui) return;
  var svg = ui.querySelector('[data-testid="trace-svg"]');
  var rows = svg ? Array.prototype.slice.call(svg.querySelectorAll('[data-testid="trace-event"]')) : [];
  if (!rows.length) return;
  var scrub = ui.querySelector('[data-testid="trace-scrub"]');
  var panel = ui.querySelector('[data-testid="trace-cursor"]');
  var title = panel.querySelector("h2");
  var text = panel.querySelector('[data-testid="trace-cursor-text"]');
  var state = panel.querySelector('[data-testid="trace-cursor-state"]');
  var figure = ui.querySelector('[data-testid="trace-figure"]');

  function indexOf(i) {
    // the last row at or before event i (some kinds may be left out)
    var k = 0;
    for (var j = 0; j < rows.length; j++) if (Number(rows[j].dataset.i) <= i) k = j;
    return k;
  }

  function show(k, scroll) {
    k = Math.max(0, Math.min(rows.length - 1, k));
    var at = Number(rows[k].dataset.i);
    rows.forEach(function (r, j) {
      r.classList.toggle("td-cursor", j === k);
      r.classList.toggle("td-future", j > k);
    });
    var label = rows[k].querySelector(".td-label");
    var time = rows[k].querySelector(".td-time");
    title.textContent = "At " + (time ? time.textContent : "");
    // A label cut to fit carries its whole text as a tooltip.
    var whole = label && label.querySelector("title");
    text.textContent = whole ? whole.textContent : label ? label.textContent : "";
    state.textContent = rows[k].dataset.state || "";
    ui.dataset.at = String(at);
    if (scrub) scrub.value = String(at);
    var u = new URL(location.href);
    u.searchParams.set("at", String(at));
    u.hash = "ev-" + at;
    history.replaceState(null, "", u);
    if (scroll) rows[k].scrollIntoView({ block: "nearest" });
    current = k;
  }

  var current = indexOf(Number(ui.dataset.at));
  rows.forEach(function (r, j) {
    r.addEventListener("click", function () { show(j, false); });
  });
  if (scrub) {
    scrub.addEventListener("input", function () { show(indexOf(Number(scrub.value)), true); });
  }
  figure.addEventListener("keydown", function (e) {
    var k = { ArrowDown: current + 1, ArrowRight: current + 1, ArrowUp: current - 1, ArrowLeft: current - 1, Home: 0, End: rows.length - 1 }[e.key];
    if (k === undefined) return;
    e.preventDefault();
    show(k, true);
  });
})();
