// The board form: a filter over the organisations (there may be hundreds), and the address
// the name suggests shown while it is empty. Without JavaScript every organisation is listed
// and an empty address is made from the name when the form is saved.
(function () {
  "use strict";
  var filter = document.querySelector("[data-filters]");
  if (filter) {
    var list = document.getElementById(filter.dataset.filters);
    filter.closest("[hidden]") && filter.closest("[hidden]").removeAttribute("hidden");
    filter.addEventListener("input", function () {
      var words = filter.value.trim().toLowerCase();
      list.querySelectorAll("label").forEach(function (label) {
        var shown = !words || label.textContent.toLowerCase().indexOf(words) !== -1;
        label.hidden = !shown && !label.querySelector("input").checked;
      });
    });
  }
  var name = document.getElementById("name");
  var slug = document.getElementById("slug");
  if (name && slug) {
    var suggest = function () {
      slug.placeholder = name.value.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
        .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60);
    };
    name.addEventListener("input", suggest);
    suggest();
  }
})();
