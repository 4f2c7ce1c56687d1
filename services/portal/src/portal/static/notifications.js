/* Notifications grouped per patient (served as a file: the CSP forbids inline script).
   1. A notification arriving live (staff.js dispatches "yui:notification") goes to the top of its patient's
      group, and that group to the top of the list; a patient without a group yet gets one.
   2. Opening a notification's link marks it read on the way (the link still opens the post at once). */
(function () {
  "use strict";

  function csrfToken() {
    var holder = document.querySelector(".staff[hx-headers]");
    if (!holder) { return ""; }
    try { return JSON.parse(holder.getAttribute("hx-headers"))["X-CSRF-Token"] || ""; } catch (e) { return ""; }
  }

  function fromHtml(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html;  // rendered and escaped by the portal's own templates
    return holder.firstElementChild;
  }

  function groupOf(list, key) {
    var groups = list.querySelectorAll("[data-notification-group]");
    for (var i = 0; i < groups.length; i++) {
      if (groups[i].getAttribute("data-notification-group") === key) { return groups[i]; }
    }
    return null;
  }

  function useHeading(group, tag) {
    // The page says which heading level its groups have (home nests them under its own section heading).
    var heading = group.querySelector(".notification-group-title");
    if (!heading || !tag || heading.tagName.toLowerCase() === tag) { return; }
    var replacement = document.createElement(tag);
    Array.prototype.forEach.call(heading.attributes, function (a) { replacement.setAttribute(a.name, a.value); });
    while (heading.firstChild) { replacement.appendChild(heading.firstChild); }
    heading.parentNode.replaceChild(replacement, heading);
  }

  function addLive(event) {
    var data = event.detail || {};
    var list = document.getElementById("live-notifications");
    if (!list || !list.dataset.grouped || !data.html) { return; }
    var item = fromHtml(data.html);
    // On connecting, the stream repeats what is unread: a line the page already shows is not added twice.
    if (!item || (item.id && document.getElementById(item.id))) { return; }
    var empty = list.querySelector(".empty");
    if (empty) { empty.remove(); }
    var group = groupOf(list, data.group);
    if (group) {
      var lines = group.querySelector("ul.notifications");
      lines.insertBefore(item, lines.firstChild);
    } else {
      group = fromHtml(data.group_html);
      if (!group) { return; }
      useHeading(group, list.dataset.groupHeading);
    }
    list.insertBefore(group, list.firstChild);
  }

  function markReadOnOpen(event) {
    var link = event.target.closest ? event.target.closest("a[data-mark-read]") : null;
    if (!link || !window.fetch) { return; }
    fetch(link.getAttribute("data-mark-read"), {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRF-Token": csrfToken()},
      redirect: "manual",
      keepalive: true
    }).catch(function () { /* still unread: the list says so, nothing is lost */ });
  }

  document.addEventListener("yui:notification", addLive);
  document.addEventListener("click", markReadOnOpen);
})();
