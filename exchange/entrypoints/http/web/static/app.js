// Small helpers of the pages (no inline scripts: the Content Security Policy allows only files from the node).
document.addEventListener("change", (event) => {
  // A select marked data-submit sends its form at once (filters).
  if (event.target.matches("select[data-submit]")) event.target.form.requestSubmit();
});
