// Impact and effort in the priority table save as soon as they change, without a page load, and
// the row's score follows. Without this script (or if a save fails for want of a connection)
// each row's own form posts and comes back to the same filtered page.
(function () {
  "use strict";

  var timers = new WeakMap();

  function status(text) {
    var el = document.querySelector("[data-priority-status]");
    if (el) el.textContent = text;
  }

  function save(form) {
    var token = form.querySelector("input[name=csrf_token]");
    var headers = { "Accept": "application/json" };
    if (token) headers["X-CSRFToken"] = token.value;
    form.setAttribute("aria-busy", "true");
    form.classList.add("is-working");
    return fetch(form.getAttribute("action"), {
      method: "POST",
      body: new FormData(form),
      headers: headers,
      credentials: "same-origin"
    })
      .then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      })
      .then(function (result) {
        if (!result.ok) {
          status(result.data.error || "That could not be saved.");
          form.classList.add("is-invalid");
          return;
        }
        form.classList.remove("is-invalid");
        var row = form.closest("tr");
        var score = row && row.querySelector("[data-score]");
        if (score && result.data.score !== null) score.textContent = result.data.score;
        status(result.data.message);
      })
      .catch(function () { form.submit(); })
      .finally(function () {
        form.removeAttribute("aria-busy");
        form.classList.remove("is-working");
      });
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form[data-estimates]");
    if (!form) return;
    // Arrow keys on a closed select change it once per press: save the last choice only.
    clearTimeout(timers.get(form));
    timers.set(form, setTimeout(function () { save(form); }, 300));
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-estimates]")) return;
    event.preventDefault();
    clearTimeout(timers.get(form));
    save(form);
  });

  document.documentElement.classList.add("js-estimates");
})();
