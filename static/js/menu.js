// The header's Menu disclosure (a <details>, which opens without JavaScript): Escape or a
// click outside closes it, and Escape gives the focus back to the toggle.
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
      menu.addEventListener("toggle", function () {
        if (menu.open) {
          var search = menu.querySelector("input[type=search]");
          if (search && window.matchMedia("(max-width: 63.99rem)").matches) search.focus();
        }
      });
    });
  });
})();
