// Small enhancements of pages that work without JavaScript.
// The header's Menu disclosure (a <details>, which opens without JavaScript): Escape or a
// click outside closes it, and Escape gives the focus back to the toggle.
// A share box shows its link as text; with JavaScript a "Copy link" button copies it.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("details[data-menu]").forEach(function (menu) {
      var toggle = menu.querySelector("summary");
      function close(returnFocus) {
        if (!menu.open) return;
        menu.open = false;
        if (returnFocus) toggle.focus();
      }
      menu.addEventListener("keydown", function (event) {
        if (event.key === "Escape") close(true);
      });
      document.addEventListener("click", function (event) {
        if (!menu.contains(event.target)) close(false);
      });
    });

    document.querySelectorAll("[data-share]").forEach(function (box) {
      var button = box.querySelector("[data-copy]");
      var field = document.getElementById(button.getAttribute("data-copy"));
      var done = box.querySelector(".share__done");
      if (!navigator.clipboard) return;  // the link stays selectable text
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(field.value).then(function () {
          done.textContent = "Link copied.";
        }, function () {
          field.select();
          done.textContent = "Press Ctrl+C (⌘C on a Mac) to copy the selected link.";
        });
      });
    });
  });
})();
