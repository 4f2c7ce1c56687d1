/* Posts that have been on screen count as read (既読, issue 10). Served as a file: the CSP forbids inline script.
   Every unread post and reply carries data-unread-post; an IntersectionObserver notes those the reader has seen
   (half of it, or half the screen, visible), and the ids go in batches of at most 100 to the portal, with the
   page's CSRF token, which asks timeline to mark them read. The 「未読」 word stays until the next load, so the
   reader still sees what was new. Without script, opening a post marks it read as before. */
(function () {
  "use strict";

  var BATCH = 100;
  var DELAY_MS = 700;

  function start() {
    var container = document.querySelector("[data-read-marks-url]");
    if (!container || !("IntersectionObserver" in window) || !window.fetch) { return; }
    var url = container.getAttribute("data-read-marks-url");
    var token = container.getAttribute("data-csrf") || "";
    var pending = [];
    var handled = {};
    var timer = null;

    function send(ids) {
      return fetch(url, {
        method: "POST",
        credentials: "same-origin",
        keepalive: true,
        headers: {"Content-Type": "application/json", "X-CSRF-Token": token, "Accept": "application/json"},
        body: JSON.stringify({post_ids: ids})
      }).then(function (response) {
        if (!response.ok && response.status >= 500) { throw new Error(String(response.status)); }
      }).catch(function () {
        ids.forEach(function (id) { delete handled[id]; });  // a later sighting tries again
      });
    }

    function flush() {
      timer = null;
      while (pending.length) { send(pending.splice(0, BATCH)); }
    }

    function schedule() {
      if (timer === null) { timer = window.setTimeout(flush, DELAY_MS); }
    }

    function seen(entry) {
      if (!entry.isIntersecting) { return false; }
      var screen = entry.rootBounds ? entry.rootBounds.height : window.innerHeight;
      return entry.intersectionRatio >= 0.5 || entry.intersectionRect.height >= screen * 0.5;
    }

    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (!seen(entry)) { return; }
        var id = entry.target.getAttribute("data-unread-post");
        observer.unobserve(entry.target);
        if (!id || handled[id]) { return; }
        handled[id] = true;
        entry.target.classList.add("seen");
        pending.push(id);
        schedule();
      });
    }, {threshold: [0, 0.25, 0.5, 0.75, 1]});

    function watch(root) {
      Array.prototype.forEach.call(root.querySelectorAll("[data-unread-post]"), function (element) {
        if (!handled[element.getAttribute("data-unread-post")]) { observer.observe(element); }
      });
    }

    watch(document);
    // An open timeline swaps in its newest posts when a colleague writes (staff.js): watch those too.
    if (window.MutationObserver) {
      new MutationObserver(function () { watch(container); }).observe(container, {childList: true});
    }
    // Leaving the page sends what was seen and not yet sent.
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") { flush(); }
    });
    window.addEventListener("pagehide", flush);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
