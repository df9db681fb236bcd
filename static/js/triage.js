// Triage mode's keyboard shortcuts. Each key presses a link or a button the page already has
// (data-shortcut on the triage bar), so everything works without JavaScript too: j next,
// k previous, s skip, a assign to me, m/o/n go to the move, owner and note fields, ? the list.
// A key never fires while typing in a field, nor with Ctrl, Alt or Cmd held.
(function () {
  "use strict";

  var bar = document.querySelector("[data-triage-bar]");
  if (!bar) return;
  var keys = document.getElementById("triage-keys");

  function typing(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    // Buttons and boxes take no text: a shortcut after ticking a box still works.
    return !/^(button|submit|reset|checkbox|radio|file|image|range|color)$/i.test(el.type);
  }

  function target(link) {
    var href = link.getAttribute("href") || "";
    return link.dataset.focus ? document.getElementById(link.dataset.focus)
      : href.charAt(0) === "#" ? document.getElementById(href.slice(1)) : null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.isComposing || typing(event.target)) return;
    var key = event.key;
    if (!key || key.length !== 1) return;
    var control = Array.prototype.find.call(bar.querySelectorAll("[data-shortcut]"), function (el) {
      return el.dataset.shortcut === key;
    });
    if (!control) return;
    event.preventDefault();
    if (key === "?") {
      keys.open = !keys.open;
      if (keys.open) control.focus();
      return;
    }
    var field = control.tagName === "A" ? target(control) : null;
    if (field) {
      field.scrollIntoView({ block: "center" });
      field.focus();
      return;
    }
    control.click();
  });
})();
