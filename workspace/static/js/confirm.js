// Confirmation before a destructive action, on every page. A form (or the one button of
// a form that does the damage) carrying data-confirm="Question?" asks first, in a modal
// <dialog>: Cancel has the focus, Escape cancels, and only the confirm button sends the
// form, with the button that was pressed (its name and value travel with it). Without
// JavaScript the form is sent as before: the server's own checks still apply.
//
// Listening in the capture phase on the document, this runs before any other submit
// handler (forms.js's pending state, a page script that sends the form over a socket),
// and stops the event until the person confirms.
const cancelLabel = document.body.dataset.confirmCancel || "Cancel";
const confirmed = new WeakSet();
let dialog = null;

function buildDialog() {
  const element = document.createElement("dialog");
  element.className = "confirm-dialog";
  element.setAttribute("aria-labelledby", "confirm-dialog-title");
  element.innerHTML =
    '<form method="dialog">' +
    '<h2 id="confirm-dialog-title"></h2>' +
    '<p class="confirm-detail muted"></p>' +
    '<div class="confirm-actions">' +
    '<button type="submit" value="cancel" class="button-secondary confirm-cancel"></button>' +
    '<button type="submit" value="confirm" class="button-danger confirm-ok"></button>' +
    "</div></form>";
  element.querySelector(".confirm-cancel").textContent = cancelLabel;
  document.body.append(element);
  return element;
}

function ask(question, detail, okLabel) {
  dialog ??= buildDialog();
  dialog.querySelector("h2").textContent = question;
  const detailElement = dialog.querySelector(".confirm-detail");
  detailElement.textContent = detail || "";
  detailElement.hidden = !detail;
  dialog.querySelector(".confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), {
      once: true,
    });
    dialog.showModal();
    dialog.querySelector(".confirm-cancel").focus();
  });
}

document.addEventListener(
  "submit",
  (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() === "dialog") return;
    const submitter = event.submitter instanceof HTMLElement ? event.submitter : null;
    const source = submitter?.dataset.confirm ? submitter : form.dataset.confirm ? form : null;
    if (source === null) return;
    if (confirmed.has(form)) {
      confirmed.delete(form);
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    const okLabel = source.dataset.confirmButton || submitter?.textContent.trim() || "OK";
    ask(source.dataset.confirm, source.dataset.confirmDetail, okLabel).then((yes) => {
      if (submitter) submitter.focus();
      if (!yes) return;
      confirmed.add(form);
      form.requestSubmit(submitter instanceof HTMLButtonElement ? submitter : undefined);
    });
  },
  true,
);
