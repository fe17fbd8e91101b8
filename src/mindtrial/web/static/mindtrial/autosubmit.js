// A <select data-autosubmit> sends its form when changed (the page works without it: a
// <noscript> button does the same). Kept in a file so the Content-Security-Policy can forbid
// inline script.
"use strict";
document.addEventListener("change", function (event) {
  var target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
    target.form.submit();
  }
});
