/*
 * Progressive enhancement only: every page works without this file.
 * - A form marked data-once is sent once, however often its button is pressed.
 * - The error summary takes the focus so a screen reader announces it first.
 * - The interpreter's language is asked for only when an interpreter attends.
 */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-once")) {
      return;
    }
    if (form.getAttribute("data-sent") === "1") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-sent", "1");
    var buttons = form.querySelectorAll("button[type=submit]");
    for (var i = 0; i < buttons.length; i++) {
      // aria-disabled, not disabled: a disabled button would drop its own name/value.
      buttons[i].setAttribute("aria-disabled", "true");
    }
  });

  function toggleLanguage() {
    var box = document.querySelector("[data-companion-language]");
    if (!box) {
      return;
    }
    var checked = document.querySelector("input[name=companion]:checked");
    var value = checked ? checked.value : "";
    var input = box.querySelector("input");
    var needed = value === "interpreter" || value === "both";
    // Never hide a field that holds an answer or an error.
    box.hidden = !needed && !(input && input.value) && !box.querySelector(".field__error");
  }

  document.addEventListener("change", function (event) {
    if (event.target.name === "companion") {
      toggleLanguage();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    toggleLanguage();
    var summary = document.getElementById("error-summary");
    if (summary) {
      summary.focus();
    }
  });
})();
