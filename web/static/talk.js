// Faultline's conversation script. Every page works without it (forms
// post, links lead, "Mark all as read" is a button); with it, new posts and
// threads arrive live over Server-Sent Events, a thread you read is marked
// read, and staff can watch a terminal a learner shares.
(function () {
  "use strict";

  function markRead(box) {
    var url = box.dataset.read;
    var last = box.querySelector("[data-last]");
    if (!url || !last || !window.fetch) return;
    var body = new URLSearchParams();
    body.set("upto", last.dataset.last);
    fetch(url, {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-Requested-With": "fetch" }
    }).catch(function () {});
  }

  // busy reports whether the reader is writing inside el: replacing it
  // then would throw their words away.
  function busy(el) {
    var tas = el.querySelectorAll("textarea, input[type=text]");
    for (var i = 0; i < tas.length; i++) {
      if (tas[i].value !== "" || tas[i] === document.activeElement) return true;
    }
    return false;
  }

  // follow swaps el's content for each event's rendered fragment, waiting
  // (with a button) while the reader is typing in it.
  function follow(el, event, after) {
    if (!el || !el.dataset.events || !window.EventSource) return;
    var es = new EventSource(el.dataset.events);
    var pending = null;
    var button = null;
    function apply(html) {
      el.innerHTML = html;
      pending = null;
      if (button) { button.remove(); button = null; }
      if (after) after(el);
    }
    es.addEventListener(event, function (e) {
      if (!busy(el)) { apply(e.data); return; }
      pending = e.data;
      if (!button) {
        button = document.createElement("p");
        button.className = "new-posts";
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = "New posts: show them";
        b.setAttribute("data-testid", "show-new");
        b.addEventListener("click", function () { if (pending !== null) apply(pending); });
        button.appendChild(b);
        el.parentNode.insertBefore(button, el.nextSibling);
      }
    });
    window.addEventListener("pagehide", function () { es.close(); });
  }

  // Terminal output for people: escape sequences out, carriage returns and
  // backspaces applied roughly.
  function plain(text) {
    text = text.replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]/g, "")
      .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, "")
      .replace(/\x1b[()][0-9A-Za-z]/g, "")
      .replace(/\x1b[=>78]/g, "")
      .replace(/\r\n/g, "\n");
    var out = "";
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (c === "\b") { out = out.slice(0, -1); }
      else if (c === "\r") { var nl = out.lastIndexOf("\n"); out = out.slice(0, nl + 1); }
      else if (c >= " " || c === "\n" || c === "\t") { out += c; }
    }
    return out;
  }

  function watchTerminal(pre) {
    if (!pre || !pre.dataset.stream || !window.EventSource) return;
    var es = new EventSource(pre.dataset.stream);
    var state = document.querySelector("[data-testid=watch-state]");
    var raw = "";
    es.addEventListener("out", function (e) {
      var bytes = atob(e.data);
      var arr = new Uint8Array(bytes.length);
      for (var i = 0; i < bytes.length; i++) arr[i] = bytes.charCodeAt(i);
      raw += new TextDecoder().decode(arr);
      if (raw.length > 200000) raw = raw.slice(raw.length - 200000);
      pre.textContent = plain(raw);
      pre.scrollTop = pre.scrollHeight;
    });
    es.addEventListener("end", function () {
      es.close();
      if (state) state.textContent = "they stopped sharing";
    });
    es.onerror = function () { if (state) state.textContent = "reconnecting…"; };
  }

  // When a result arrives live (app.js swaps it in), the feedback section
  // under it was rendered before there was a result: fetch the page once
  // more and swap that section, so "Attach my failing run" and the
  // regrade request form show without a reload.
  function refreshFeedback() {
    var result = document.getElementById("result");
    var fb = document.getElementById("feedback");
    if (!result || !fb || !result.dataset.events || !window.MutationObserver || !window.fetch) return;
    var obs = new MutationObserver(function () {
      var box = result.querySelector("[data-testid=result]");
      var st = box && box.dataset.state;
      if (st !== "done" && st !== "failed") return;
      obs.disconnect();
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (res) { return res.ok ? res.text() : Promise.reject(res.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var next = doc.getElementById("feedback");
          if (next) fb.replaceWith(document.importNode(next, true));
        })
        .catch(function () {});
    });
    obs.observe(result, { childList: true, subtree: true });
  }

  function init() {
    refreshFeedback();
    var posts = document.getElementById("thread-posts");
    if (posts) {
      follow(posts, "posts", markRead);
      markRead(posts);
    }
    follow(document.getElementById("thread-list"), "threads");
    watchTerminal(document.querySelector("pre[data-stream]"));
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
