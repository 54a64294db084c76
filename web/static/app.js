// Faultline's own small script. Everything works without it; it only makes
// grading results arrive live and the editor a little friendlier.
(function () {
  "use strict";

  // Live results: the submission page's #result box names its SSE stream in
  // data-events. "state" events update the badge; the "result" event carries
  // the rendered result fragment (server-escaped HTML), swapped in as is.
  function followSubmission() {
    var box = document.getElementById("result");
    if (!box || !box.dataset.events || !window.EventSource) return;
    var es = new EventSource(box.dataset.events);
    es.addEventListener("state", function (e) {
      var badge = box.querySelector("[data-testid=state]");
      if (badge) badge.textContent = e.data;
    });
    es.addEventListener("result", function (e) {
      box.innerHTML = e.data;
      box.removeAttribute("data-events");
      es.close();
    });
    es.onerror = function () {
      // The server ends the stream after the result; stop reconnecting then.
      if (!box.dataset.events) es.close();
    };
  }

  // Editor: Tab inserts a tab instead of leaving the field; Ctrl/Cmd+S saves.
  function enhanceEditor() {
    var ta = document.querySelector("textarea[name=content]");
    if (!ta) return;
    ta.addEventListener("keydown", function (e) {
      if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.metaKey && !e.altKey && !ta.readOnly) {
        e.preventDefault();
        var s = ta.selectionStart, end = ta.selectionEnd;
        ta.value = ta.value.slice(0, s) + "\t" + ta.value.slice(end);
        ta.selectionStart = ta.selectionEnd = s + 1;
      } else if ((e.ctrlKey || e.metaKey) && e.key === "s") {
        e.preventDefault();
        if (ta.form.requestSubmit) ta.form.requestSubmit(); else ta.form.submit();
      }
    });
  }

  // Buttons show they are busy after a click (a run or a start takes a while),
  // and come back if the page is restored from the back/forward cache.
  function busyButtons() {
    document.addEventListener("submit", function (e) {
      var b = e.submitter || e.target.querySelector("button[type=submit]");
      if (b && !b.dataset.label) {
        b.dataset.label = b.textContent;
        window.setTimeout(function () { b.disabled = true; b.textContent = b.dataset.label + "…"; }, 0);
      }
    });
    window.addEventListener("pageshow", function (e) {
      if (!e.persisted) return;
      document.querySelectorAll("button[data-label]").forEach(function (b) {
        b.disabled = false;
        b.textContent = b.dataset.label;
        delete b.dataset.label;
      });
    });
  }

  // The invite link selects itself on focus, ready to copy.
  function selectOnFocus() {
    var el = document.querySelector("input.copy");
    if (el) el.addEventListener("focus", function () { el.select(); });
  }

  // "Mark as read" confirms in place: the form posts in the background and
  // is replaced by the confirmation; without a script it posts and the page
  // comes back at the same place, saying so.
  function markReadInPlace() {
    var form = document.querySelector('form[data-form="mark-read"]');
    if (!form || !window.fetch) return;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var button = form.querySelector("button");
      if (button) button.disabled = true;
      fetch(form.action, {
        method: "POST",
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      }).then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      }).then(function () {
        var p = document.createElement("p");
        p.className = "notice";
        p.setAttribute("role", "status");
        p.dataset.testid = "read-confirmed";
        var mark = document.createElement("span");
        mark.dataset.testid = "read-mark";
        mark.textContent = "✓ Marked as read.";
        p.appendChild(mark);
        if (form.dataset.next) {
          p.appendChild(document.createTextNode(" Next: "));
          var a = document.createElement("a");
          a.href = form.dataset.next;
          a.textContent = form.dataset.nextTitle || "the next one";
          p.appendChild(a);
        }
        form.replaceWith(p);
      }).catch(function () {
        form.submit(); // let the server answer the plain form
      });
    });
  }

  // The heat map says when there is more to scroll: the fade at its edge
  // and the hint above go once the last column is in view.
  function heatCue() {
    var wrap = document.querySelector('[data-testid="heat-wrap"]');
    if (!wrap) return;
    var box = wrap.parentElement;
    var hint = document.querySelector('[data-testid="heat-hint"]');
    function update() {
      var fits = wrap.scrollWidth <= wrap.clientWidth + 1;
      var atEnd = wrap.scrollLeft + wrap.clientWidth >= wrap.scrollWidth - 2;
      box.classList.toggle("fits", fits);
      box.classList.toggle("at-end", atEnd);
      if (hint) hint.hidden = fits;
    }
    wrap.addEventListener("scroll", update, { passive: true });
    window.addEventListener("resize", update);
    update();
  }

  function init() {
    heatCue();
    markReadInPlace();
    followSubmission();
    enhanceEditor();
    busyButtons();
    selectOnFocus();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
