// The console's live parts: an element with data-live="URL" is refreshed from that URL every
// data-every milliseconds, without a page reload. First-party, no inline script (docs/console.md).
"use strict";
(function () {
  function refresh(el) {
    fetch(el.dataset.live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || r.status !== 200) { return null; }
        return r.text();
      })
      .then(function (html) { if (html !== null) { el.innerHTML = html; } })
      .catch(function () { /* the next tick tries again */ })
      .finally(function () { schedule(el); });
  }
  function schedule(el) {
    var every = parseInt(el.dataset.every || "2000", 10);
    window.setTimeout(function () { refresh(el); }, Math.max(every, 500));
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(schedule);
  });
})();
