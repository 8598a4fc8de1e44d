// Progressive enhancement of the issue editor (everything works without it):
// - the previews reload when the files change (saved here or in a text editor);
// - a change in the form is saved at once, and the list of problems is refreshed.
(function () {
  "use strict";
  var box = document.querySelector(".previews[data-name]");
  if (!box) { return; }
  var name = box.getAttribute("data-name");
  var version = box.getAttribute("data-version");
  var status = document.getElementById("live-status");
  var frames = ["preview-desktop", "preview-mobile"].map(function (id) {
    return document.getElementById(id);
  });

  function say(text) { if (status) { status.textContent = text; } }
  function clock() { return new Date().toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"}); }

  function reload() {
    frames.forEach(function (f) { if (f) { f.src = "/admin/issues/" + encodeURIComponent(name) + "/preview.html?v=" + version; } });
  }

  function poll() {
    fetch("/admin/issues/" + encodeURIComponent(name) + "/version", {cache: "no-store", credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (v) {
        if (v && v !== version) {
          version = v;
          reload();
        }
      })
      .catch(function () { say("…"); })
      .then(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 2000);

  // A link to a folded section or item (the item lists, the problem summary) unfolds it.
  function unfold() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var node = id && document.getElementById(id);
    while (node) {
      if (node.tagName === "DETAILS") { node.open = true; }
      node = node.parentElement;
    }
    if (id && document.getElementById(id)) { document.getElementById(id).scrollIntoView(); }
  }
  window.addEventListener("hashchange", unfold);
  unfold();

  var form = document.getElementById("editor");
  var problems = document.getElementById("problems");
  if (!form) { return; }
  var timer = null;
  var inflight = null;
  function save() {
    var data = new FormData(form);
    data.set("action", "save");
    say("…");
    inflight = fetch(form.getAttribute("action"), {method: "POST", body: data, credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.status === 409) { window.location.reload(); throw new Error("conflict"); }
        if (!r.ok) { throw new Error(r.status); }
        return r.json();
      })
      .then(function (result) {
        var field = document.getElementById("version");
        if (field && result.version) { field.value = result.version; version = result.version; reload(); }
        say(form.getAttribute("data-saved") || "✓ " + clock());
        if (!problems) { return; }
        var list = problems.querySelector("ul.problems");
        if (!list) { return; }
        list.textContent = "";
        result.problems.forEach(function (p) {
          var li = document.createElement("li"); li.className = p.severity;
          var a = document.createElement("a"); a.href = "#" + p.anchor; a.textContent = p.text;
          li.appendChild(a); list.appendChild(li);
        });
      })
      .catch(function () { say("!"); })
      .then(function () { inflight = null; });
  }
  // A button press submits the whole form itself: no autosave may race it.
  // If an autosave is on its way, the button waits for it (and its new version stamp).
  form.addEventListener("submit", function (event) {
    window.clearTimeout(timer);
    if (inflight) {
      event.preventDefault();
      var button = event.submitter;
      inflight.then(function () { form.requestSubmit(button); });
    }
  });
  form.addEventListener("change", function (event) {
    if (event.target && event.target.name && event.target.name.indexOf("add-type-") === 0) { return; }
    window.clearTimeout(timer);
    timer = window.setTimeout(save, 400);
  });
}());
