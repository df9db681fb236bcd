// Changing the board of a new idea offers that board's categories at once. Without JavaScript
// the list shows the board first chosen, and the server says which categories fit another.
(function () {
  "use strict";
  var form = document.querySelector("form[data-board-categories]");
  if (!form) return;
  var board = form.querySelector("#board");
  var category = form.querySelector("#category_id");
  if (!board || !category) return;
  var byBoard = JSON.parse(form.dataset.boardCategories);

  board.addEventListener("change", function () {
    var chosen = byBoard[board.value];
    if (!chosen) return;
    var kept = category.value;
    var placeholder = category.querySelector('option[value=""]');
    category.replaceChildren();
    if (placeholder) category.appendChild(placeholder);
    chosen.forEach(function (pair) {
      var option = document.createElement("option");
      option.value = String(pair[0]);
      option.textContent = pair[1];
      option.selected = option.value === kept;
      category.appendChild(option);
    });
  });
})();
