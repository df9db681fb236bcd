// Small enhancements of forms that work without JavaScript too: a confirm step in place,
// character counts beside limited fields, and list filters that apply as they change.
(function () {
  "use strict";

  // --- Confirm in place: a link to a confirmation page opens the same question here. --------
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-confirm]");
    if (link) {
      var box = document.getElementById(link.dataset.confirm);
      if (!box) return; // follow the link to the confirmation page
      event.preventDefault();
      box.hidden = false;
      link.setAttribute("aria-expanded", "true");
      box.querySelector("[tabindex='-1']").focus();
      return;
    }
    var keep = event.target.closest && event.target.closest("[data-keep]");
    if (keep) {
      var form = keep.closest("form");
      form.hidden = true;
      var opener = document.querySelector("a[data-confirm='" + form.id + "']");
      if (opener) { opener.setAttribute("aria-expanded", "false"); opener.focus(); }
    }
  });

  // --- Limits: "87 of 120 characters" while typing; said aloud only near and over the limit.
  // The server refuses text over it (and keeps the text); nothing here cuts what is typed.
  function number(n) { return n.toLocaleString("en-GB"); }
  function counted(field) {
    // As the server counts: one character per line break, none for the spaces around.
    return Array.from(field.value.replace(/\r\n/g, "\n").trim()).length;
  }
  document.querySelectorAll("[data-limit]").forEach(function (field) {
    var count = document.getElementById(field.id + "-count");
    var limit = parseInt(field.dataset.limit, 10);
    if (!count || !limit) return;
    var live = document.createElement("span");
    live.className = "visually-hidden";
    live.setAttribute("aria-live", "polite");
    count.insertAdjacentElement("afterend", live);
    var said = "";
    function update() {
      var n = counted(field);
      var over = n - limit;
      count.textContent = number(n) + " of " + number(limit) + " characters" +
        (over > 0 ? ": " + number(over) + " too many" : "");
      count.classList.toggle("field__count--over", over > 0);
      var state = over > 0 ? "over" : n >= limit * 0.9 ? "near" : "";
      if (state === said) return;
      said = state;
      live.textContent = state === "over" ? number(over) + " characters too many: shorten it to send it"
        : state === "near" ? number(limit - n) + " characters left" : "";
    }
    field.addEventListener("input", update);
    update();
  });

  // --- Filters that apply as they change: the list is fetched and put in place, so the focus
  // stays on the filter (arrow keys in a list box change it at every step), the address
  // follows, and the number shown is said. Without JavaScript the Show button does it.
  document.querySelectorAll("form[data-apply-on-change]").forEach(function (form) {
    var id = form.dataset.applyOnChange;
    if (!document.getElementById(id)) return;
    form.querySelectorAll("button[type=submit]").forEach(function (b) { b.hidden = true; });
    var status = document.createElement("p");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    form.insertAdjacentElement("afterend", status);
    var controller = null;
    var timer = null;

    function apply() {
      var url = form.getAttribute("action") + "?" +
        new URLSearchParams(new FormData(form)).toString();
      var target = document.getElementById(id);
      if (controller) controller.abort();
      controller = new AbortController();
      target.setAttribute("aria-busy", "true");
      fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin",
                   signal: controller.signal })
        .then(function (r) { if (!r.ok) throw new Error("status " + r.status); return r.text(); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(id);
          if (!fresh) throw new Error("no list in the answer");
          target.replaceWith(fresh);
          history.replaceState(null, "", url);
          var n = fresh.querySelectorAll(".idea-card, [data-result]").length;
          status.textContent = n ? n + (n === 1 ? " idea" : " ideas") + " shown"
            : "No ideas match these filters";
        })
        .catch(function (error) {
          if (error.name === "AbortError") return;
          target.removeAttribute("aria-busy");
          form.submit(); // the page load that works without JavaScript
        });
    }

    form.addEventListener("change", function () {
      clearTimeout(timer);
      timer = setTimeout(apply, 200);
    });
  });
})();
