// Progressive enhancement of an issue's "Latest tests" panel (it works without this: the
// page is reloaded): while a test is on its way (data-follow), fetch the panel again every
// few seconds and put it in place, until every copy is sent, refused or given up.
(function () {
  "use strict";
  var EVERY = 3000;

  function follow() {
    var panel = document.getElementById("tests");
    var url = panel && panel.getAttribute("data-follow");
    if (!url) { return; }
    fetch(url, {cache: "no-store", credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("tests");
        if (!fresh) { return; }
        // The panel itself stays (a live region): only what changed inside is replaced.
        if (fresh.innerHTML !== panel.innerHTML) {
          panel.replaceChildren.apply(panel, Array.prototype.map.call(
            fresh.childNodes, function (node) { return document.importNode(node, true); }));
        }
        var next = fresh.getAttribute("data-follow");
        if (next) { panel.setAttribute("data-follow", next); } else { panel.removeAttribute("data-follow"); }
      })
      .catch(function () { /* the server is away: try again at the next tick */ })
      .then(function () { window.setTimeout(follow, EVERY); });
  }
  window.setTimeout(follow, EVERY);
}());
