// Pending state for plain form posts, on every page: once a form is submitted it is
// marked busy (aria-busy), the button that sent it says so, and a second submit is
// ignored, so a slow answer cannot turn into a double post. Forms whose own script
// handles the submission (it calls preventDefault) are left to that script.
const label = document.body.dataset.pendingLabel || "";
const RELEASE_AFTER_MS = 15000; // a download answer never replaces the page: unlock again

function release(form) {
  form.removeAttribute("aria-busy");
  for (const button of form.querySelectorAll("[data-label-before-pending]")) {
    button.textContent = button.dataset.labelBeforePending;
    delete button.dataset.labelBeforePending;
    button.removeAttribute("aria-disabled");
    button.classList.remove("is-pending");
  }
}

document.addEventListener("submit", (event) => {
  if (event.defaultPrevented) return;
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
  if (form.getAttribute("aria-busy") === "true") {
    event.preventDefault();
    return;
  }
  form.setAttribute("aria-busy", "true");
  const button = event.submitter;
  if (button instanceof HTMLButtonElement && label) {
    button.dataset.labelBeforePending = button.textContent;
    button.textContent = label;
    button.setAttribute("aria-disabled", "true");
    button.classList.add("is-pending");
  }
  setTimeout(() => release(form), RELEASE_AFTER_MS);
});

// Back/forward cache: a page shown again must not keep a busy form.
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[aria-busy=true]")) release(form);
});
