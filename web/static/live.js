// Faultline's live refresh for the instructors' regrade and live pages.
// Everything works without it (each page has a Refresh link); with it, every
// element carrying data-live-src is replaced every few seconds by the
// server-rendered fragment at that address. A fragment without
// data-live-src (a finished regrade) is the last one fetched, and the page
// is then reloaded once so everything on it shows the finished state.
(function () {
  "use strict";

  var EVERY = 3000;

  function follow(el) {
    var timer = 0;
    var busy = false;

    function schedule() {
      window.clearTimeout(timer);
      timer = window.setTimeout(tick, EVERY);
    }

    function tick() {
      if (document.hidden || busy) { schedule(); return; }
      // Do not swap a button out from under the pointer or the keyboard.
      if (el.querySelector("form:hover, button:focus")) {
        schedule();
        return;
      }
      busy = true;
      fetch(el.dataset.liveSrc, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (res) {
          if (!res.ok) throw new Error("status " + res.status);
          return res.text();
        })
        .then(function (html) {
          busy = false;
          var t = document.createElement("template");
          t.innerHTML = html.trim();
          var next = t.content.firstElementChild;
          if (!next) return;
          el.replaceWith(next);
          el = next;
          if (el.dataset.liveSrc) {
            schedule();
          } else {
            // Finished: the rest of the page (the list of regrades, say)
            // was rendered while it ran; load it once more so it agrees.
            window.location.reload();
          }
        })
        .catch(function () {
          // A lost session or a server restart: stop; the Refresh link remains.
          busy = false;
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && el.dataset.liveSrc) schedule();
    });
    schedule();
  }

  function init() {
    document.querySelectorAll("[data-live-src]").forEach(follow);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
