// Sends a form marked data-autosubmit as soon as the page is ready (the identify link's
// hand-over page). Without JavaScript its button does the same.
document.querySelectorAll("form[data-autosubmit]").forEach((form) => form.submit());
