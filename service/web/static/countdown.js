/* Countdowns to a deadline: every element with data-due (ISO time) and data-now (the server's time
   when the element was rendered — the virtual clock counts, not the browser's) gets its .cd-left
   child rewritten each second: 剩余 1小时05分12秒 / 已超时 3分05秒, class cd-soon in the last
   5 minutes and cd-overdue after. Elements swapped in later (htmx) are picked up on the next tick.
   Without script the server's text (to the minute) and the due time stay. */
(function () {
  "use strict";
  function span(seconds) {
    var s = Math.abs(seconds), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
    var m = Math.floor(s % 3600 / 60), sec = s % 60, out = "";
    if (d) out += d + "天";
    if (d || h) out += h + "小时";
    if (d || h || m) out += (d || h ? String(m).padStart(2, "0") : m) + "分";
    return out + String(sec).padStart(2, "0") + "秒";
  }
  function tick() {
    var items = document.querySelectorAll("[data-due][data-now]");
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      if (!el.cdStart) { el.cdStart = Date.now(); el.cdNow = Date.parse(el.dataset.now); el.cdDue = Date.parse(el.dataset.due); }
      if (isNaN(el.cdNow) || isNaN(el.cdDue)) continue;
      var left = Math.floor((el.cdDue - (el.cdNow + Date.now() - el.cdStart)) / 1000);
      var out = el.querySelector(".cd-left") || el;
      out.textContent = left > 0 ? "剩余 " + span(left) : "已超时 " + span(left);
      el.classList.toggle("cd-overdue", left <= 0);
      el.classList.toggle("cd-soon", left > 0 && left <= 300);
    }
  }
  tick();
  setInterval(tick, 1000);
})();
