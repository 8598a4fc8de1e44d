// Live audience: a form marked data-audience shows how many active subscribers its lists,
// conditions and segment reach now, and a sample of them, refreshed as you type. Without
// the script the form still works ("Show who matches" renders the same on the server).
// An issue's send form (data-issue) also shows the dry run: who the send would reach.
(function () {
  "use strict";
  document.querySelectorAll("form[data-audience]").forEach(function (form) {
    var timer = null;
    var asked = 0;
    function params() {
      var q = new URLSearchParams();
      form.querySelectorAll("input[name=lists]:checked").forEach(function (box) { q.append("lists", box.value); });
      ["list", "where", "segment"].forEach(function (name) {
        var field = form.elements.namedItem(name);
        if (field && field.value) { q.append(name === "list" ? "lists" : name, field.value); }
      });
      if (form.dataset.issue) {
        q.append("issue", form.dataset.issue);
        ["again", "include_received"].forEach(function (name) {
          var box = form.elements.namedItem(name);
          if (box && box.checked) { q.append(name, "1"); }
        });
      }
      return q;
    }
    function refresh() {
      var mine = ++asked;
      fetch("/admin/audience?" + params().toString(), {cache: "no-store", credentials: "same-origin"})
        .then(function (r) { return r.text(); })
        .then(function (html) {
          if (mine !== asked) { return; }  // an answer to an older question
          var fresh = new DOMParser().parseFromString(html, "text/html").querySelector(".audience-preview");
          var old = form.querySelector(".audience-preview");
          if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
        })
        .catch(function () { /* keep what is shown */ });
    }
    function soon() { window.clearTimeout(timer); timer = window.setTimeout(refresh, 300); }
    form.addEventListener("input", soon);
    form.addEventListener("change", soon);
    refresh();
  });
}());
