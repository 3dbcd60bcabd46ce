// Keyboard shortcuts (listed on /help/shortcuts/). A small, safe set:
//   ?      the shortcuts help page
//   g d    the dashboard
//   n      on a space page: the next topic with unread messages (from the sidebar)
//   r      on a discussion: focus the message box (reply)
//   e      on a discussion: edit your last message (its Edit link)
// Never while typing in a field, never with Ctrl, Alt or Meta (the browser's and the
// screen reader's own keys stay theirs), never on a key that repeats.
const script = document.querySelector("script[data-shortcuts-help]");
const helpUrl = script?.dataset.shortcutsHelp;
const homeUrl = script?.dataset.shortcutsHome;
const SEQUENCE_MS = 1500;
let pendingG = 0;

function typing(target) {
  if (!(target instanceof Element)) return false;
  return Boolean(
    target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])")
  ) || target.isContentEditable;
}

function nextUnreadTopic() {
  const links = [...document.querySelectorAll(".space-sidebar a.sidebar-topic.has-unread")];
  if (!links.length) return null;
  const all = [...document.querySelectorAll(".space-sidebar a.sidebar-topic")];
  const current = all.findIndex((a) => a.getAttribute("aria-current") === "page");
  // The first unread topic after the open one, else the first from the top.
  return links.find((a) => all.indexOf(a) > current)
    || links.find((a) => all.indexOf(a) !== current) || null;
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.repeat) return;
  if (event.ctrlKey || event.altKey || event.metaKey) return;
  if (typing(event.target)) return;
  if (document.querySelector("dialog[open]")) return;
  const key = event.key;
  if (pendingG && Date.now() - pendingG < SEQUENCE_MS) {
    pendingG = 0;
    if (key === "d" && homeUrl) {
      event.preventDefault();
      window.location.assign(homeUrl);
    }
    return;
  }
  pendingG = 0;
  if (key === "?" && helpUrl) {
    event.preventDefault();
    window.location.assign(helpUrl);
  } else if (key === "g" && !event.shiftKey) {
    pendingG = Date.now();
  } else if (key === "n" && !event.shiftKey) {
    const link = nextUnreadTopic();
    if (link) {
      event.preventDefault();
      window.location.assign(link.href);
    }
  } else if (key === "e" && !event.shiftKey) {
    const links = document.querySelectorAll(
      "article.message:not(.deleted):not(.pending) .edit-link[href]"
    );
    const last = links[links.length - 1];
    if (last) {
      event.preventDefault();
      window.location.assign(last.href);
    }
  } else if (key === "r" && !event.shiftKey) {
    const box = document.querySelector(".composer textarea");
    if (box) {
      event.preventDefault();
      box.focus();
    }
  }
});
