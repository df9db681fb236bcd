// Votes update in place: the same form posts without a page load, and falls back to a normal
// submit (which works without JavaScript) if anything goes wrong.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.vote")) return;
    var button = form.querySelector("button");
    if (button.getAttribute("aria-busy") === "true") { event.preventDefault(); return; }
    event.preventDefault();
    button.setAttribute("aria-busy", "true");
    button.classList.add("is-working");
    // getAttribute: the form's own "action" input shadows the form.action property.
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: new FormData(form),
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    })
      .then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      })
      .then(function (result) {
        if (!result.ok) { throw new Error(result.data.error || "vote failed"); }
        var voted = result.data.voted;
        form.querySelector("input[name=action]").value = voted ? "unvote" : "vote";
        form.querySelector(".vote__count").textContent = result.data.vote_count;
        var label = form.querySelector(".vote__label");
        label.firstChild.textContent = voted ? "Voted" : "Vote";
        button.setAttribute("aria-pressed", voted ? "true" : "false");
        button.classList.toggle("vote__button--on", voted);
      })
      .catch(function () { form.submit(); })
      .finally(function () {
        button.removeAttribute("aria-busy");
        button.classList.remove("is-working");
      });
  });
})();
