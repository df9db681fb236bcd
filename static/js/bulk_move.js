// The triage page's bulk move, enhanced: the "Move to" menu offers only the stages every ticked
// idea may move to, and says how many ideas are ticked. Without JavaScript the server does the
// same check and names, before anything moves, the ideas that would stay where they are.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("bulk-move");
    var menu = document.getElementById("bulk-stage");
    var status = document.getElementById("bulk-status");
    if (!form || !menu || !status) return;
    var boxes = document.querySelectorAll('input[name="idea_ids"][form="bulk-move"]');

    function update() {
      var common = null;
      var ticked = 0;
      boxes.forEach(function (box) {
        if (!box.checked) return;
        ticked += 1;
        var moves = (box.getAttribute("data-moves") || "").split(" ").filter(Boolean);
        common = common === null ? moves : common.filter(function (id) {
          return moves.indexOf(id) !== -1;
        });
      });
      var open = 0;
      Array.prototype.forEach.call(menu.options, function (option) {
        option.disabled = common !== null && common.indexOf(option.value) === -1;
        if (!option.disabled) open += 1;
      });
      if (menu.selectedOptions.length && menu.selectedOptions[0].disabled) {
        var first = Array.prototype.find.call(menu.options, function (o) { return !o.disabled; });
        if (first) menu.value = first.value;
      }
      if (ticked === 0) {
        status.textContent = "Tick the ideas to move.";
      } else if (open === 0) {
        status.textContent = ticked + " ticked: no stage is open to all of them. Untick some, or move them in smaller groups.";
      } else {
        status.textContent = ticked + " ticked; the menu offers the " + open +
          (open === 1 ? " stage" : " stages") + " every one of them may move to.";
      }
    }
    boxes.forEach(function (box) { box.addEventListener("change", update); });
    update();
  });
})();
