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
})();
