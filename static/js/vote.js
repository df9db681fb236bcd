// Votes update in place: the same form posts without a page load, and falls back to a normal
// submit (which works without JavaScript) if anything goes wrong. After a vote every count of
// the idea on the page follows: each of its vote buttons, and every element marked
// data-live="<name>" data-idea="<id>", with the words of the server's answer.
(function () {
  "use strict";

  function send(button, url, body) {
    button.setAttribute("aria-busy", "true");
    button.classList.add("is-working");
    return fetch(url, {
      method: "POST",
      body: body,
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    })
      .then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      })
      .then(function (result) {
        if (!result.ok) { throw new Error(result.data.error || "vote failed"); }
        show(result.data);
      })
      .finally(function () {
        button.removeAttribute("aria-busy");
        button.classList.remove("is-working");
      });
  }

  function show(data) {
    var voted = data.voted;
    document.querySelectorAll(".vote[data-idea='" + data.idea_id + "']").forEach(function (vote) {
      var button = vote.querySelector(".vote__button");
      var action = vote.querySelector("input[name=action]");
      if (action) action.value = voted ? "unvote" : "vote";
      if (button.dataset.action) button.dataset.action = voted ? "unvote" : "vote";
      vote.querySelector(".vote__count").textContent = data.vote_count;
      vote.querySelector(".vote__label").firstChild.textContent = voted ? "Voted" : "Vote";
      button.setAttribute("aria-pressed", voted ? "true" : "false");
      button.classList.toggle("vote__button--on", voted);
    });
    var live = data.live || {};
    document.querySelectorAll("[data-live][data-idea='" + data.idea_id + "']").forEach(function (el) {
      var text = live[el.dataset.live];
      if (text === undefined) return;
      el.textContent = text;
      el.hidden = text === "";
    });
  }

  function busy(button) { return button.getAttribute("aria-busy") === "true"; }

  // A vote form: posted in place, or submitted as usual if that fails.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.vote")) return;
    event.preventDefault();
    var button = form.querySelector("button");
    if (busy(button)) return;
    // getAttribute: the form's own "action" input shadows the form.action property.
    send(button, form.getAttribute("action"), new FormData(form))
      .catch(function () { form.submit(); });
  });

  // A vote button inside another form (the similar ideas on the new-idea form): no page to
  // fall back to without losing what is typed, so a failure is said on the button.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-vote-url]");
    if (!button) return;
    event.preventDefault();
    if (busy(button)) return;
    var body = new FormData();
    body.append("csrf_token", button.dataset.csrf);
    body.append("action", button.dataset.action);
    send(button, button.dataset.voteUrl, body).catch(function () {
      button.querySelector(".vote__label").firstChild.textContent = "Not counted, try again";
    });
  });
})();
