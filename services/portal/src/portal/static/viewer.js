/* The page's viewer of photos and PDFs (issue 10). Served as a file: the CSP forbids inline script.
   A link marked .view-attachment opens the <dialog id="attachment-viewer"> instead of leaving the page: a photo
   in a scroll container the browser lets the reader pinch to zoom (touch-action: pinch-zoom), with −/＋ buttons
   besides; a PDF in an <iframe> (the portal serves both inline). Nothing is downloaded unless 「ダウンロード」 is
   pressed (?download=1). Without script the link shows the file in the browser itself, still inline. */
(function () {
  "use strict";

  var STEPS = [0.5, 0.75, 1, 1.5, 2, 3, 4];

  function start() {
    var dialog = document.getElementById("attachment-viewer");
    if (!dialog || typeof dialog.showModal !== "function") { return; }
    var title = document.getElementById("viewer-title");
    var image = document.getElementById("viewer-image");
    var stage = document.getElementById("viewer-stage");
    var pdf = document.getElementById("viewer-pdf");
    var download = document.getElementById("viewer-download");
    var close = document.getElementById("viewer-close");
    var defaultTitle = title.textContent;
    var step = STEPS.indexOf(1);

    function zoom(to) {
      step = Math.max(0, Math.min(STEPS.length - 1, to));
      if (!image.naturalWidth) { return; }
      var fit = Math.min(1, stage.clientWidth / image.naturalWidth);
      image.style.width = Math.round(image.naturalWidth * fit * STEPS[step]) + "px";
      image.style.maxWidth = "none";
    }

    function open(link) {
      var kind = link.getAttribute("data-viewer");
      var name = link.getAttribute("data-name") || defaultTitle;
      title.textContent = name;
      download.setAttribute("href", link.getAttribute("data-download"));
      dialog.classList.toggle("pdf", kind === "pdf");
      if (kind === "pdf") {
        image.hidden = true;
        image.removeAttribute("src");
        stage.hidden = true;
        pdf.hidden = false;
        pdf.setAttribute("title", name);
        pdf.setAttribute("src", link.getAttribute("href"));
      } else {
        pdf.hidden = true;
        pdf.removeAttribute("src");
        stage.hidden = false;
        image.hidden = false;
        image.alt = name;
        image.style.width = "";
        step = STEPS.indexOf(1);
        image.onload = function () { zoom(step); };
        image.setAttribute("src", link.getAttribute("href"));
      }
      dialog.showModal();
      close.focus();
    }

    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a.view-attachment") : null;
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
      event.preventDefault();
      open(link);
    });

    dialog.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("[data-zoom]") : null;
      if (button) {
        var how = button.getAttribute("data-zoom");
        zoom(how === "in" ? step + 1 : how === "out" ? step - 1 : STEPS.indexOf(1));
      } else if (event.target === dialog) {
        dialog.close();  // a tap on the backdrop
      }
    });
    close.addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () {
      pdf.removeAttribute("src");  // stop a PDF from loading on in the background
      image.removeAttribute("src");
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
