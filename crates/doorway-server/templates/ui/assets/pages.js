// Progressive enhancement only: every form works without this file.
// After a refused post, move focus to the error summary so it is read out first.
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("summary");
  if (summary && !summary.hidden) summary.focus();
});
