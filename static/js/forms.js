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
})();
