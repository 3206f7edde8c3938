// Atalaya console script. Written for Atalaya and shipped under its
// licence (Apache-2.0). It only enhances: every page works without it.
// - Tables marked data-refresh reload their section every N seconds.
// - The calls box shows the caller card when the phone rings at the
//   signed-in person's extension (server-sent events from /events).
"use strict";
(function () {
  function refresh(el) {
    var seconds = parseInt(el.getAttribute("data-refresh"), 10);
    if (!(seconds > 0)) return;
    setInterval(function () {
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          if (!text) return;
          var doc = new DOMParser().parseFromString(text, "text/html");
          var fresh = el.id && doc.getElementById(el.id);
          if (fresh) el.replaceWith(fresh), (el = fresh);
        })
        .catch(function () {});
    }, seconds * 1000);
  }
  function calls() {
    var box = document.getElementById("calls");
    if (!box || !window.EventSource) return;
    var events = new EventSource("/events");
    events.addEventListener("open", function () {
      document.body.setAttribute("data-calls", "listening");
    });
    events.addEventListener("call", function (ev) {
      var doc = new DOMParser().parseFromString(ev.data, "text/html");
      box.replaceChildren.apply(box, Array.prototype.slice.call(doc.body.childNodes));
      var close = document.createElement("button");
      close.textContent = "Close";
      close.className = "secondary";
      close.addEventListener("click", function () { box.replaceChildren(); });
      box.appendChild(close);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh]").forEach(refresh);
    calls();
  });
})();
