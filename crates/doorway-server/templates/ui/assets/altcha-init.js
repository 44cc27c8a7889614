// The proof-of-work slot of the sign-up form (templates/ui/slots/altcha.html): registers the
// vendored SHA worker with the vendored ALTCHA widget, adds its stylesheet, and puts the widget
// in the form, where it fetches a challenge, solves it and adds the `altcha` field. Without
// JavaScript the slot says that the bot check needs it (the <noscript> text).
(() => {
  const slot = document.querySelector(".altcha-slot[data-challenge]");
  if (!slot || !globalThis.$altcha) return;
  const worker = slot.dataset.worker;
  for (const algorithm of ["SHA-256", "SHA-384", "SHA-512"]) {
    globalThis.$altcha.algorithms.set(algorithm, () => new Worker(worker));
  }
  const style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = slot.dataset.stylesheet;
  document.head.appendChild(style);
  const widget = document.createElement("altcha-widget");
  widget.setAttribute("challenge", slot.dataset.challenge);
  widget.setAttribute("name", "altcha");
  widget.setAttribute("auto", "onload");
  slot.appendChild(widget);
})();
