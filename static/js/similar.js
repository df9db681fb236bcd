// While a title is typed, show ideas that look the same, so people vote instead of duplicating.
// Without JavaScript the same suggestions appear in a confirm step after submitting.
(function () {
  "use strict";
  var form = document.querySelector("form[data-similar-url]");
  if (!form) return;
  var title = form.querySelector("#title");
  var target = form.querySelector("#similar-ideas");
  if (!title || !target) return;
  var timer = null;
  var last = "";
  var controller = null;

  function update() {
    var text = title.value.trim();
    if (text === last) return;
    last = text;
    if (text.length < 3) { target.innerHTML = ""; return; }
    if (controller) controller.abort();
    controller = new AbortController();
    target.setAttribute("aria-busy", "true");
    fetch(form.dataset.similarUrl + "?title=" + encodeURIComponent(text), {
      headers: { "Accept": "text/html" },
      signal: controller.signal,
      credentials: "same-origin"
    })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { target.innerHTML = html; })
      .catch(function () { /* offline or superseded: keep what is shown */ })
      .finally(function () { target.removeAttribute("aria-busy"); });
  }

  title.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(update, 300);
  });
})();
