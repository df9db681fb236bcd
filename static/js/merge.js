// Live results while the PM types on the merge page. Without JavaScript the Search button
// loads the same page with the results; here the same page is fetched and its results taken.
(function () {
  "use strict";
  var form = document.querySelector("form[data-merge-search]");
  var results = document.getElementById("merge-results");
  if (!form || !results) return;
  var input = form.querySelector("input[name=q]");
  var timer = null;
  var last = input.value.trim();
  var controller = null;

  function update() {
    var text = input.value.trim();
    if (text === last) return;
    last = text;
    var url = form.action + (text ? "?q=" + encodeURIComponent(text) : "");
    if (controller) controller.abort();
    controller = new AbortController();
    results.setAttribute("aria-busy", "true");
    fetch(url, { headers: { "Accept": "text/html" }, signal: controller.signal,
                 credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("merge-results");
        if (fresh) results.innerHTML = fresh.innerHTML;
        // The address follows, so reloading or going back keeps the search.
        history.replaceState(null, "", url);
      })
      .catch(function () { /* offline or superseded: keep what is shown */ })
      .finally(function () { results.removeAttribute("aria-busy"); });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  });
})();
