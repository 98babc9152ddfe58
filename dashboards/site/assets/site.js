/* her2qa dashboard: the lab selector and the figures of the selected view.
 *
 * Each page carries its figures as JSON (<script type="application/json" id="her2qa-data">):
 * {views: [{key, code, label}], template, figures: {slot: {viewKey: {data, layout} | null}}}.
 * Selecting a laboratory shows its fragments ([data-view]) and draws its figures; the choice
 * travels between pages in the address (#lab=CODE). No network, no innerHTML: text from the
 * data is only ever set with textContent (figure strings arrive HTML-escaped for Plotly).
 */
(function () {
  "use strict";

  var CONFIG = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
    toImageButtonOptions: { format: "png", scale: 2 }
  };

  function start() {
    var dataEl = document.getElementById("her2qa-data");
    var select = document.getElementById("lab-select");
    if (!dataEl || !select) { return; }
    var DATA = JSON.parse(dataEl.textContent);
    var byKey = {};
    DATA.views.forEach(function (v) { byKey[v.key] = v; });

    function keyFromHash() {
      var match = /(?:^#|&)lab=([^&]*)/.exec(window.location.hash);
      if (!match) { return DATA.views[0].key; }
      var code;
      try { code = decodeURIComponent(match[1]); } catch (e) { return DATA.views[0].key; }
      for (var i = 0; i < DATA.views.length; i++) {
        if (DATA.views[i].code === code) { return DATA.views[i].key; }
      }
      return DATA.views[0].key;
    }

    function hashFor(view) {
      return view.code === null ? "" : "#lab=" + encodeURIComponent(view.code);
    }

    function draw(view) {
      var jobs = [];
      document.querySelectorAll("[data-figure]").forEach(function (div) {
        var slot = div.getAttribute("data-figure");
        var spec = (DATA.figures[slot] || {})[view.key] || null;
        var empty = document.querySelector('[data-empty="' + slot + '"]');
        if (!spec || typeof window.Plotly === "undefined") {
          if (window.Plotly) { window.Plotly.purge(div); }
          div.hidden = true;
          if (empty) { empty.hidden = false; }
          return;
        }
        div.hidden = false;
        if (empty) { empty.hidden = true; }
        var layout = Object.assign({}, spec.layout, { template: DATA.template });
        jobs.push(window.Plotly.react(div, spec.data, layout, CONFIG));
      });
      return Promise.all(jobs);
    }

    function show(key) {
      var view = byKey[key] || DATA.views[0];
      document.body.removeAttribute("data-rendered");
      select.value = view.key;
      document.querySelectorAll("[data-view]").forEach(function (el) {
        el.hidden = el.getAttribute("data-view") !== view.key;
      });
      var label = document.getElementById("view-label");
      if (label) { label.textContent = view.label; }
      var hash = hashFor(view);
      document.querySelectorAll("a[data-nav]").forEach(function (a) {
        var href = a.getAttribute("href").split("#")[0];
        a.setAttribute("href", href + hash);
      });
      if (window.location.hash !== hash) {
        try {
          window.history.replaceState(null, "", window.location.pathname + window.location.search + hash);
        } catch (e) { /* some browsers refuse history on file:// pages: the selector still works */ }
      }
      return draw(view).then(function () {
        document.body.setAttribute("data-rendered", view.key);
      });
    }

    select.addEventListener("change", function () { show(select.value); });
    window.addEventListener("hashchange", function () { show(keyFromHash()); });
    window.her2qa = {
      show: show,
      views: DATA.views.map(function (v) { return v.key; })
    };
    show(keyFromHash());
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
