/* Accord agent workspace: live SLA countdowns.
 *
 * Every element with data-clock-due (an ISO time in UTC) counts down once a second: its
 * [data-clock-left] text shows the time left (or overdue), and its state moves on to "at risk"
 * after data-clock-warn and to "breached" after the due time, as the server would show it.
 * The page's server time (body[data-server-now]) corrects the browser's clock. Elements swapped
 * in by htmx are picked up on the next tick. No inline script: the CSP allows 'self' only.
 */
(function () {
  "use strict";

  var offset = 0; // server time minus browser time, in ms

  var LABELS = { running: "Running", at_risk: "At risk", breached: "Breached" };

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  // Same format as workspace.presenters.duration_text.
  function duration(ms) {
    var seconds = Math.floor(Math.abs(ms) / 1000);
    var days = Math.floor(seconds / 86400);
    var hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var secs = seconds % 60;
    if (days) return days + "d " + hours + "h";
    if (hours) return hours + "h " + pad(minutes) + "m";
    if (minutes) return minutes + "m " + pad(secs) + "s";
    return secs + "s";
  }

  function tick() {
    var now = Date.now() + offset;
    var clocks = document.querySelectorAll("[data-clock-due]");
    for (var i = 0; i < clocks.length; i++) {
      var el = clocks[i];
      var due = Date.parse(el.getAttribute("data-clock-due"));
      if (isNaN(due)) continue;
      var warn = Date.parse(el.getAttribute("data-clock-warn") || "");
      var state = el.getAttribute("data-state");
      var left = due - now;
      if (left <= 0) {
        state = "breached";
      } else if (state === "running" && !isNaN(warn) && now >= warn) {
        state = "at_risk";
      }
      if (state !== el.getAttribute("data-state")) {
        el.classList.remove("clock--" + el.getAttribute("data-state").replace("_", "-"));
        el.classList.add("clock--" + state.replace("_", "-"));
        el.setAttribute("data-state", state);
        var label = el.querySelector("[data-clock-state-label]");
        if (label && LABELS[state]) label.textContent = LABELS[state];
      }
      var out = el.querySelector("[data-clock-left]");
      if (out) out.textContent = left > 0 ? duration(left) + " left" : duration(left) + " overdue";
    }
  }

  function start() {
    var serverNow = Date.parse(document.body.getAttribute("data-server-now") || "");
    if (!isNaN(serverNow)) offset = serverNow - Date.now();
    tick();
    window.setInterval(tick, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
