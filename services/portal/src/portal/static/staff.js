/* The staff UI's small enhancements (served as a file: the CSP forbids inline script).
   1. Attachments upload before the post is sent, each with a progress bar (XHR upload progress).
   2. Notifications arrive live (server-sent events) and update the badge and the inbox list. */
(function () {
  "use strict";

  function csrfToken(form) {
    var field = form.querySelector('input[name="csrf"]');
    return field ? field.value : "";
  }

  function uploadOne(form, file, status) {
    return new Promise(function (resolve, reject) {
      var row = document.createElement("div");
      var label = document.createElement("span");
      var bar = document.createElement("progress");
      bar.max = 100; bar.value = 0;
      label.textContent = status.dataset.uploading + " " + file.name;
      bar.setAttribute("aria-label", label.textContent);
      row.appendChild(label); row.appendChild(bar);
      status.appendChild(row);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.uploadUrl + "?filename=" + encodeURIComponent(file.name));
      xhr.setRequestHeader("X-CSRF-Token", csrfToken(form));
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { bar.value = Math.round((e.loaded / e.total) * 100); }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status === 201) {
          bar.value = 100;
          label.textContent = status.dataset.uploaded + " " + file.name;
          resolve(JSON.parse(xhr.responseText).id);
        } else {
          label.textContent = status.dataset.failed + " " + file.name;
          reject(new Error(String(xhr.status)));
        }
      });
      xhr.addEventListener("error", function () {
        label.textContent = status.dataset.failed + " " + file.name;
        reject(new Error("network"));
      });
      xhr.send(file);
    });
  }

  function enhancePostForm(form) {
    var input = form.querySelector('input[type="file"]');
    var status = form.querySelector(".upload-status");
    if (!input || !status || !window.XMLHttpRequest) { return; }
    form.addEventListener("submit", function (event) {
      if (!input.files || input.files.length === 0 || form.dataset.uploaded === "1") { return; }
      event.preventDefault();
      var button = form.querySelector('button[type="submit"]');
      if (button) { button.disabled = true; }
      status.textContent = "";
      var files = Array.prototype.slice.call(input.files);
      files.reduce(function (chain, file) {
        return chain.then(function (ids) {
          return uploadOne(form, file, status).then(function (id) { ids.push(id); return ids; });
        });
      }, Promise.resolve([])).then(function (ids) {
        ids.forEach(function (id) {
          var hidden = document.createElement("input");
          hidden.type = "hidden"; hidden.name = "attachment_id"; hidden.value = id;
          form.appendChild(hidden);
        });
        input.value = "";  // the files are uploaded: the form now carries their ids only
        form.dataset.uploaded = "1";
        form.submit();
      }).catch(function () {
        if (button) { button.disabled = false; }
      });
    });
  }

  // An open timeline takes in a new post when the stream tells of one about its subject (n2): the newest
  // page is fetched from the portal, already rendered and escaped, and swapped in; nobody reloads.
  var POST_KINDS = ["post.created", "post.reply", "post.mention"];

  function refreshLivePosts(data) {
    var posts = document.getElementById("live-posts");
    if (!posts || POST_KINDS.indexOf(data.kind) < 0 || data.subject_id !== posts.dataset.liveSubject) { return; }
    fetch(posts.dataset.liveUrl, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        posts.innerHTML = html;
        var status = document.getElementById("live-status");
        if (status) { status.textContent = posts.dataset.liveMessage || ""; }
      })
      .catch(function () { /* the next notification, or a reload, brings it */ });
  }

  function liveNotifications() {
    var link = document.getElementById("notifications-link");
    if (!link || !window.EventSource) { return; }
    var badge = document.getElementById("unread-badge");
    var list = document.getElementById("live-notifications");
    var source = new EventSource(link.dataset.stream);
    source.addEventListener("notification", function (event) {
      var data = JSON.parse(event.data);
      refreshLivePosts(data);
      if (badge && typeof data.unread === "number") { badge.textContent = data.unread > 0 ? String(data.unread) : ""; }
      // A list grouped per patient is kept by notifications.js, which hears of each notification here.
      document.dispatchEvent(new CustomEvent("yui:notification", {detail: data}));
      if (list && data.html && !list.dataset.grouped) {
        var empty = list.querySelector(".empty");
        if (empty) { empty.remove(); }
        var holder = document.createElement("ul");
        holder.innerHTML = data.html;  // rendered and escaped by the portal's own templates
        var item = holder.firstElementChild;
        // On connecting, the stream repeats what is unread: a line the page already shows is not added twice.
        if (item && !(item.id && document.getElementById(item.id))) { list.insertBefore(item, list.firstChild); }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form.post-form"), enhancePostForm);
    liveNotifications();
  });
})();
