// The discussion page's live layer (ES module, CSP-clean: no inline code, no eval).
// Pages work without it; with it, /ws/ streams events, posts go out as frames and stay
// "pending" until acked, failed posts offer a retry, and badges, typing and presence
// update. See docs/protocol.md.

const root = document.getElementById("realtime");

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function badges(level, levelName, tlp) {
  const frag = document.createDocumentFragment();
  frag.append(el("span", `badge level-badge level-${Number(level)}`, levelName));
  frag.append(" ");
  const tlpClass = "tlp-" + String(tlp).toLowerCase().replace("+", "-");
  frag.append(el("span", `badge tlp-badge ${tlpClass}`, `TLP:${tlp}`));
  return frag;
}

// Times: the server writes <time datetime="UTC ISO">; the reader sees them in the
// browser's time zone and language, whether the message came with the page or live.
const LANG = document.documentElement.lang || undefined;
const TIME = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit" });
const DAY_TIME = new Intl.DateTimeFormat(LANG, {
  day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
const YEAR_TIME = new Intl.DateTimeFormat(LANG, { dateStyle: "medium", timeStyle: "short" });
const FULL = new Intl.DateTimeFormat(LANG, { dateStyle: "full", timeStyle: "long" });

function formatTime(node) {
  const at = new Date(node.getAttribute("datetime"));
  if (Number.isNaN(at.getTime())) return;
  const now = new Date();
  const fmt = at.toDateString() === now.toDateString() ? TIME
    : at.getFullYear() === now.getFullYear() ? DAY_TIME : YEAR_TIME;
  node.textContent = fmt.format(at);
  node.title = FULL.format(at);
}

function formatTimes(scope) {
  for (const node of scope.querySelectorAll("time[datetime]")) formatTime(node);
}

// URL names of a message's routes (workspace/urls.py) and the verb ending each path.
const ROUTE_VERBS = {
  message_edit: "edit", message_delete: "delete", message_revisions: "revisions",
  reaction_toggle: "react",
};

function tlpClass(tlp) {
  return "tlp-" + String(tlp).toLowerCase().replace("+", "-");
}

class Realtime {
  constructor(node) {
    this.node = node;
    this.spaceId = Number(node.dataset.spaceId);
    this.topicId = node.dataset.topicId ? Number(node.dataset.topicId) : null;
    this.userId = Number(node.dataset.userId || 0);
    this.page = node.dataset.page;
    this.lastSeq = Number(node.dataset.headSeq || 0);
    this.labels = node.dataset;
    this.backoff = 1000;
    this.stopped = false;
    this.online = new Map();
    this.typingTimers = new Map();
    this.status = node.querySelector(".realtime-status");
    this.list = node.querySelector(".message-list");
    this.canPost = Boolean(node.dataset.canPost);
    this.isModerator = Boolean(node.dataset.isModerator);
    this.members = new Map(Object.entries(JSON.parse(node.dataset.members || "{}")));
    this.emoji = new Map(JSON.parse(node.dataset.emoji || "[]"));
    this.messageTemplate = document.getElementById("message-template");
    this.reactionTemplate = document.getElementById("reaction-template");
    node.classList.add("enhanced");
    document.documentElement.classList.add("enhanced"); // the composer's script-only parts
    if (this.list) {
      formatTimes(this.list);
      this.wireMessages();
      if (this.page === "topic") this.unread = new Unread(this);
    }
    this.connect();
    this.wireForm();
  }

  setStatus(text) {
    if (this.status) this.status.textContent = text;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.backoff = 1000;
      this.send({ type: "hello", client_id: uuid(), resume: { [this.spaceId]: this.lastSeq } });
    });
    ws.addEventListener("message", (e) => this.receive(JSON.parse(e.data)));
    ws.addEventListener("close", (e) => {
      this.setStatus(this.labels.labelOffline || "");
      this.ready = false;
      this.composer?.offline();
      if (e.code === 4401 || e.code === 4403 || this.stopped) return; // signed out: stay off
      const wait = Math.min(this.backoff, 30000) * (0.5 + Math.random());
      this.backoff = Math.min(this.backoff * 2, 30000);
      setTimeout(() => this.connect(), wait);
    });
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  receive(frame) {
    switch (frame.type) {
      case "event":
        if (frame.space_id !== this.spaceId || frame.seq <= this.lastSeq) return;
        this.lastSeq = frame.seq;
        this.onEvent(frame);
        break;
      case "ack":
        if (frame.for === "hello") {
          this.online.clear(); // those already here answer this hello (docs/protocol.md)
          this.showPresence();
          this.setStatus(this.labels.labelOnline || "");
          this.ready = true;
          this.composer?.online(); // a message waiting for the socket goes now (same client_id)
        }
        this.composer?.acked(frame);
        break;
      case "error":
        this.composer?.failed(frame);
        break;
      case "resync":
        if (frame.space_id === this.spaceId) {
          this.stopped = frame.reason === "access_ended";
          location.reload();
        }
        break;
      case "typing":
        this.showTyping(frame);
        break;
      case "notification": // the header bell (notifications/bell.js) shows the count
        document.dispatchEvent(new CustomEvent("workspace:notification", { detail: frame }));
        break;
      case "presence": {
        // Only this space's members (the page's member list), never the reader.
        const id = Number(frame.user?.id);
        if (frame.space_id !== this.spaceId || id === this.userId) break;
        if (!this.members.has(String(id))) break;
        if (frame.state === "online") this.online.set(id, this.memberName(id));
        else this.online.delete(id);
        this.showPresence();
        break;
      }
    }
  }

  onEvent(frame) {
    const data = frame.data;
    if (frame.kind === "message.new") {
      const m = data.message;
      this.composer?.delivered(m);
      if (this.page === "topic" && m.topic_id === this.topicId && this.node.dataset.lastPage) {
        this.list.querySelector(".empty")?.remove();
        if (!document.getElementById(`m${Number(m.id)}`)) {
          const follow = this.unread ? this.unread.atBottom() : false;
          const article = this.renderMessage(m, frame.seq);
          this.list.append(article);
          if (follow || Number(m.author.id) === this.userId) this.unread?.toBottom();
          else this.unread?.showNewBelow();
          this.unread?.check();
        }
      } else if (this.page === "topics" && m.author.id !== this.userId) {
        this.bumpUnread(m.topic_id);
      }
      if (this.page === "topic" && m.topic_id !== this.topicId && Number(m.author.id) !== this.userId) {
        this.sidebarUnread(m.topic_id, (n) => n + 1); // another topic of the open space
      }
    } else if (frame.kind === "message.edit") {
      const article = document.getElementById(`m${Number(data.message.id)}`);
      const body = article?.querySelector(".message-body");
      if (body) {
        body.innerHTML = data.message.html; // sanitised by the server (nh3)
        this.showEdited(article, data.message);
      }
    } else if (frame.kind === "message.delete") {
      const article = document.getElementById(`m${Number(data.message.id)}`);
      if (article) {
        article.classList.add("deleted");
        article.querySelector(".message-body")?.replaceWith(
          el("p", "empty", this.labels.labelDeleted || ""));
        article.querySelector(".message-actions")?.remove();
        this.removeControl(article.querySelector(".message-edited"));
      }
    } else if (frame.kind === "reaction.add" || frame.kind === "reaction.remove") {
      this.updateReaction({ ...data.reaction, op: frame.kind === "reaction.add" ? "add" : "remove" });
    } else if (frame.kind === "topic.new" && this.page === "topics") {
      const list = this.node.querySelector(".topic-list");
      if (list) {
        const item = el("li", "card");
        item.dataset.topicId = data.topic.id;
        const link = el("a");
        link.href = `/spaces/${this.spaceId}/topics/${Number(data.topic.id)}/`;
        link.append(el("strong", null, data.topic.name));
        item.append(link);
        list.prepend(item);
      }
    }
  }

  // "Online": the other members of this space with a connection open now.
  showPresence() {
    const box = document.getElementById("presence");
    const list = box?.querySelector(".presence-list");
    if (!list) return;
    const names = [...this.online.entries()].sort((a, b) => a[1].localeCompare(b[1]));
    list.replaceChildren(...names.map(([id, name]) => {
      const item = el("li", "presence-member", name);
      item.dataset.userId = String(id);
      return item;
    }));
    if (!names.length) list.append(el("li", "presence-none muted", box.dataset.labelNone || ""));
  }

  memberName(id) {
    return this.members.get(String(id)) || this.labels.labelFormerMember || "";
  }

  // A live message: the page's <template> (the server's own markup for a message, with
  // every optional part), filled from the event and trimmed to what this reader may do.
  renderMessage(m, seq) {
    const article = this.messageTemplate.content.firstElementChild.cloneNode(true);
    const id = Number(m.id);
    article.id = `m${id}`;
    article.dataset.messageId = String(id);
    article.dataset.seq = String(Number(seq));
    article.dataset.authorId = String(Number(m.author.id || 0));
    const meta = article.querySelector(".message-meta");
    meta.querySelector("strong").textContent = m.author.name || this.memberName(m.author.id);
    const time = meta.querySelector("time");
    time.setAttribute("datetime", m.created_at);
    formatTime(time);
    meta.querySelector(".message-time").setAttribute("href", `#m${id}`);
    const level = meta.querySelector(".level-badge");
    level.className = `badge level-badge level-${Number(m.level)}`;
    level.textContent = m.level_name;
    const tlp = meta.querySelector(".tlp-badge");
    tlp.className = `badge tlp-badge ${tlpClass(m.tlp)}`;
    tlp.textContent = `TLP:${m.tlp}`;
    const recipients = meta.querySelector(".recipients");
    if (m.tlp === "RED") {
      const names = (m.recipient_ids || []).map((r) => this.memberName(r)).join(", ");
      recipients.textContent = `${recipients.textContent.trim()} ${names}`;
    } else {
      recipients.previousSibling.remove(); // the newline before it, as the server omits both
      recipients.remove();
    }
    const edited = meta.querySelector(".message-edited");
    edited.previousSibling.remove();
    edited.remove();
    article.querySelector(".message-body").innerHTML = m.html; // sanitised by the server (nh3)
    // The template's links name their route (#message_edit): give them this message's.
    for (const node of article.querySelectorAll("[href^='#message_'], [action^='#']")) {
      const attr = node.hasAttribute("href") ? "href" : "action";
      node.setAttribute(attr, this.messageUrl(id, node.getAttribute(attr)));
    }
    article.querySelector("#react-0")?.setAttribute("id", `react-${id}`);
    article.querySelector("label[for=react-0]")?.setAttribute("for", `react-${id}`);
    const own = Number(m.author.id) === this.userId;
    if (!own) this.removeControl(article.querySelector(".edit-link"));
    if (!own && !this.isModerator) this.removeControl(article.querySelector(".delete-form"));
    if (!this.canPost) {
      for (const sel of [".react-add", ".react-form", ".reply-button"]) {
        this.removeControl(article.querySelector(sel));
      }
    }
    const tools = article.querySelector(".message-tools");
    if (tools && !tools.children.length) this.removeControl(tools);
    return article;
  }

  messageUrl(id, route) {
    const verb = ROUTE_VERBS[route.slice(1)];
    return this.labels.messageUrl.replace("/0/", `/${Number(id)}/`) + `${verb}/`;
  }

  // Remove an element with the newline that joins it to its neighbours, as the server
  // leaves it out of the join.
  removeControl(node) {
    if (!node) return;
    if (node.previousSibling?.nodeType === Node.TEXT_NODE) node.previousSibling.remove();
    else if (node.nextSibling?.nodeType === Node.TEXT_NODE) node.nextSibling.remove();
    node.remove();
  }

  showEdited(article, message) {
    const meta = article.querySelector(".message-meta");
    if (meta.querySelector(".message-edited")) return;
    const link = this.messageTemplate.content.querySelector(".message-edited").cloneNode(true);
    link.setAttribute("href", this.messageUrl(message.id, link.getAttribute("href")));
    meta.append("\n", link);
  }

  updateReaction(r) {
    const form = document.querySelector(`#m${Number(r.message_id)} form.reactions`);
    if (!form) return;
    let button = [...form.querySelectorAll("button.reaction")].find((b) => b.value === r.emoji);
    const ids = new Set((button?.dataset.userIds || "").split(" ").filter(Boolean).map(Number));
    if (r.op === "add") ids.add(Number(r.user_id)); else ids.delete(Number(r.user_id));
    if (!ids.size) {
      button?.remove();
      return;
    }
    if (!button) {
      button = this.reactionTemplate.content.firstElementChild.cloneNode(true);
      button.value = r.emoji;
      const order = [...this.emoji.keys()];
      const after = [...form.querySelectorAll("button.reaction")]
        .find((b) => order.indexOf(b.value) > order.indexOf(r.emoji));
      form.insertBefore(button, after || null);
    }
    const sorted = [...ids].sort((a, b) => a - b);
    const who = sorted.map((id) => this.memberName(id)).join(", ");
    const emoji = this.emoji.get(r.emoji) || "?";
    button.setAttribute("aria-pressed", ids.has(this.userId) ? "true" : "false");
    button.dataset.userIds = sorted.join(" ");
    button.dataset.who = who;
    button.setAttribute("aria-label", `${emoji} ${sorted.length}: ${who}`);
    button.firstElementChild.textContent = emoji;
    button.querySelector(".reaction-count").textContent = String(sorted.length);
  }

  // Clicks in the message list: reaction chips toggle, the picker adds, Reply quotes.
  wireMessages() {
    this.list.addEventListener("click", (event) => {
      const chip = event.target.closest("button.reaction");
      if (chip && this.list.contains(chip)) {
        if (!this.canPost || !this.isOpen()) {
          if (!this.canPost) event.preventDefault();
          return; // offline: the form posts the toggle
        }
        event.preventDefault();
        const article = chip.closest("article");
        this.react(article, chip.value, chip.getAttribute("aria-pressed") === "true" ? "remove" : "add");
        return;
      }
      const add = event.target.closest("button.react-add");
      if (add) {
        this.togglePicker(add);
        return;
      }
      const pick = event.target.closest(".emoji-picker button");
      if (pick) {
        const article = pick.closest("article");
        const mine = [...article.querySelectorAll("button.reaction")]
          .find((b) => b.value === pick.value && b.getAttribute("aria-pressed") === "true");
        this.closePicker(true);
        if (this.isOpen()) this.react(article, pick.value, mine ? "remove" : "add");
        else article.querySelector(".react-form")?.requestSubmit(); // falls back to the page
        return;
      }
      const reply = event.target.closest("button.reply-button");
      if (reply) this.reply(reply.closest("article"));
    });
    document.addEventListener("click", (event) => {
      if (this.picker && !event.target.closest(".emoji-picker, .react-add")) this.closePicker(false);
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.picker) this.closePicker(true);
    });
  }

  isOpen() {
    return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  react(article, emoji, op) {
    this.send({ type: "react", client_id: uuid(), space_id: this.spaceId,
                message_id: Number(article.dataset.messageId), emoji, op });
  }

  togglePicker(button) {
    const wasOpen = this.picker && this.pickerButton === button;
    this.closePicker(false);
    if (wasOpen) return;
    const picker = el("div", "emoji-picker");
    picker.setAttribute("role", "group");
    picker.setAttribute("aria-label", this.labels.labelReactPicker || "");
    for (const [code, emoji] of this.emoji) {
      const b = el("button", null, emoji);
      b.type = "button";
      b.value = code;
      b.title = code;
      picker.append(b);
    }
    picker.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      const buttons = [...picker.querySelectorAll("button")];
      const i = buttons.indexOf(document.activeElement);
      const next = buttons[(i + (event.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length];
      next.focus();
      event.preventDefault();
    });
    button.after(picker);
    button.setAttribute("aria-expanded", "true");
    this.picker = picker;
    this.pickerButton = button;
    picker.querySelector("button").focus();
  }

  closePicker(refocus) {
    if (!this.picker) return;
    this.picker.remove();
    this.pickerButton.setAttribute("aria-expanded", "false");
    if (refocus) this.pickerButton.focus();
    this.picker = null;
    this.pickerButton = null;
  }

  reply(article) {
    const body = document.querySelector("#post-form textarea[name=body]");
    if (!body) return;
    const name = article.querySelector(".message-meta strong")?.textContent || "";
    const text = article.querySelector(".message-body")?.innerText.trim() || "";
    const quote = text.split("\n").slice(0, 6).map((line) => `> ${line}`).join("\n");
    const prefix = body.value && !body.value.endsWith("\n") ? "\n\n" : "";
    body.value += `${prefix}@**${name}**\n${quote}\n\n`;
    body.dispatchEvent(new Event("input", { bubbles: true }));
    body.focus();
    body.setSelectionRange(body.value.length, body.value.length);
  }

  // The space sidebar's count for a topic (networks/_space_sidebar.html): `change` maps
  // the shown count to the new one; 0 removes the badge and the bold.
  sidebarUnread(topicId, change) {
    const link = document.querySelector(
      `#space-sidebar li[data-topic-id="${Number(topicId)}"] a.sidebar-topic`);
    if (!link) return;
    let badge = link.querySelector(".unread-count");
    const before = Number(badge?.dataset.unread || 0);
    const n = Math.max(0, change(before));
    if (n === before) return;
    link.classList.toggle("has-unread", n > 0);
    if (!n) {
      badge?.remove();
      return;
    }
    if (!badge) {
      badge = el("span", "unread-count");
      link.append(badge);
    }
    badge.dataset.unread = String(n);
    const words = n === 1 ? this.labels.labelUnreadOne : this.labels.labelUnreadOther;
    badge.replaceChildren(String(n), el("span", "visually-hidden", ` ${words || ""}`));
  }

  bumpUnread(topicId) {
    const badge = this.node.querySelector(`[data-topic-id="${Number(topicId)}"] .unread-badge`);
    if (!badge) return;
    const n = Number(badge.dataset.unread || 0) + 1;
    badge.dataset.unread = n;
    badge.textContent = String(n);
    badge.classList.remove("hidden");
  }

  showTyping(frame) {
    if (frame.space_id !== this.spaceId) return;
    const target = this.page === "topic"
      ? (frame.topic_id === this.topicId ? this.node.querySelector("p.typing") : null)
      : this.node.querySelector(`[data-topic-id="${Number(frame.topic_id)}"] .typing`);
    if (!target) return;
    target.textContent = `${frame.user.name} ${this.labels.labelTyping || ""}`;
    clearTimeout(this.typingTimers.get(target));
    this.typingTimers.set(target, setTimeout(() => { target.textContent = ""; }, 4000));
  }

  wireForm() {
    const form = document.getElementById("post-form");
    if (!form || this.page !== "topic") return;
    this.composer = new Composer(this, form);
  }
}

// Unread: the page opens at the first unread message (below the "New messages" divider
// the server put there) or at the newest; a message counts as read once its end has
// been on screen while the tab was visible, and only then is the read marker moved (a
// POST to the page, read_mark: never backwards). "Jump to first unread" scrolls;
// "Mark all read" posts the same way.
class Unread {
  constructor(rt) {
    this.rt = rt;
    this.readSeq = Number(rt.node.dataset.readSeq || 0);
    this.sentSeq = this.readSeq;
    this.bar = rt.node.querySelector(".unread-bar");
    this.divider = document.getElementById("first-unread");
    this.header = document.querySelector(".site-header");
    this.composer = document.querySelector(".composer") || document.getElementById("post-form");
    this.bar?.querySelector(".jump-unread")?.addEventListener("click", (event) => {
      if (!this.divider) return; // on another page: the link opens it
      event.preventDefault();
      this.divider.scrollIntoView({ block: "start" });
      this.divider.setAttribute("tabindex", "-1");
      this.divider.focus({ preventScroll: true });
    });
    this.bar?.querySelector(".mark-read-form")?.addEventListener("submit", (event) => {
      event.preventDefault();
      this.post({ read: "all" }).then((ok) => {
        if (!ok) event.target.submit(); // e.g. offline: the plain form says what happened
        else this.allRead();
      });
    });
    if (!location.hash) {
      if (this.divider) this.divider.scrollIntoView({ block: "start" });
      else if (rt.node.dataset.lastPage) this.toBottom();
    }
    let queued = false;
    const later = () => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => { queued = false; this.check(); });
    };
    addEventListener("scroll", later, { passive: true });
    addEventListener("resize", later);
    document.addEventListener("visibilitychange", later);
    this.check(); // now: what the page opened on is on screen already
  }

  visibleBand() {
    let top = 0;
    if (this.header && ["sticky", "fixed"].includes(getComputedStyle(this.header).position)) {
      top = Math.max(0, this.header.getBoundingClientRect().bottom);
    }
    let bottom = innerHeight;
    if (this.composer) bottom = Math.min(bottom, this.composer.getBoundingClientRect().top);
    return [top, bottom];
  }

  atBottom() {
    const [, bottom] = this.visibleBand();
    const last = this.rt.list.lastElementChild;
    return !last || last.getBoundingClientRect().bottom <= bottom + 80;
  }

  toBottom() {
    const last = this.rt.list.lastElementChild;
    if (!last) return;
    last.scrollIntoView({ block: "end" });
    const [, bottom] = this.visibleBand();
    const hidden = last.getBoundingClientRect().bottom - bottom;
    if (hidden > 0) scrollBy(0, hidden + 8); // above the pinned composer
  }

  // A message arrived below while the reader was reading further up: say so, with a
  // button to go there (as Mattermost and Zulip do), instead of moving the page.
  showNewBelow() {
    if (!this.newBelow) {
      this.newBelow = el("button", "new-below", `${this.rt.labels.labelNewBelow || ""} ↓`);
      this.newBelow.type = "button";
      this.newBelow.addEventListener("click", () => {
        this.toBottom();
        this.hideNewBelow();
      });
      this.rt.list.after(this.newBelow);
    }
    this.newBelow.classList.remove("hidden");
  }

  hideNewBelow() {
    this.newBelow?.classList.add("hidden");
  }

  check() {
    if (this.newBelow && this.atBottom()) this.hideNewBelow();
    if (document.visibilityState !== "visible") return;
    const [top, bottom] = this.visibleBand();
    let seen = 0;
    for (const article of this.rt.list.querySelectorAll("article[data-seq]")) {
      const seq = Number(article.dataset.seq);
      if (seq <= this.sentSeq) continue;
      const rect = article.getBoundingClientRect();
      // Its end is on screen (a long message counts once read to the end).
      if (rect.bottom <= bottom + 1 && rect.bottom > top && rect.height > 0) {
        seen = Math.max(seen, seq);
      }
    }
    if (seen > this.sentSeq) {
      this.sentSeq = seen;
      this.post({ seq: String(seen) }).then((ok) => {
        if (ok) this.readSeq = Math.max(this.readSeq, seen);
        else this.sentSeq = this.readSeq; // try again on the next scroll
        this.update();
      });
    }
  }

  update() {
    if (!this.rt.node.dataset.lastPage) return;
    const unread = [...this.rt.list.querySelectorAll("article[data-seq]")].filter((a) =>
      Number(a.dataset.seq) > this.readSeq && Number(a.dataset.authorId) !== this.rt.userId
      && !a.classList.contains("deleted")).length;
    // The sidebar's count of this topic follows what is still unread on the page.
    this.rt.sidebarUnread(this.rt.topicId, (n) => Math.min(n, unread));
    if (!unread) this.allRead();
  }

  allRead() {
    this.bar?.remove();
    this.bar = null;
    this.rt.sidebarUnread(this.rt.topicId, () => 0);
  }

  async post(fields) {
    const csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
    const body = new FormData();
    if (csrf) body.append("csrfmiddlewaretoken", csrf.value);
    for (const [key, value] of Object.entries(fields)) body.append(key, value);
    try {
      const response = await fetch(location.pathname, {
        method: "POST", body, credentials: "same-origin", keepalive: true,
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return false;
      const data = await response.json();
      this.readSeq = Math.max(this.readSeq, Number(data.seq) || 0);
      this.sentSeq = Math.max(this.sentSeq, this.readSeq);
      return true;
    } catch {
      return false;
    }
  }
}

// The composer never loses text: it stays (read-only) until the server acknowledges the
// post; a failure shows the server's reason and Retry sends the same client_id again (the
// server stores a post once per client_id). Limits are checked before sending. Offline,
// the message waits visibly and goes once the socket is back. The draft of each topic is
// kept in sessionStorage (never localStorage), and cleared at sign-out.
const DRAFT_PREFIX = "workspace.draft.";
const ACK_TIMEOUT_MS = 15000;

function clearDrafts() {
  try {
    for (const key of Object.keys(sessionStorage)) {
      if (key.startsWith(DRAFT_PREFIX)) sessionStorage.removeItem(key);
    }
  } catch { /* storage disabled: nothing was kept */ }
}

document.addEventListener("submit", (event) => {
  const action = event.target.getAttribute?.("action") || "";
  if (action.includes("/logout/")) clearDrafts();
}, true);

class Composer {
  constructor(rt, form) {
    this.rt = rt;
    this.form = form;
    this.labels = form.dataset;
    this.body = form.querySelector("textarea[name=body]");
    this.clientId = form.querySelector("input[name=client_id]");
    this.submit = form.querySelector("button[type=submit]");
    this.notice = form.querySelector(".composer-notice");
    this.maxChars = Number(form.dataset.maxBody || 0);
    this.maxBytes = Number(form.dataset.maxFrame || 0);
    this.key = `${DRAFT_PREFIX}${rt.userId}.${rt.topicId}`;
    this.outbox = null; // {frame, article, timer}
    this.level = form.querySelector("select[name=level]");
    this.tlp = form.querySelector("select[name=tlp]");
    this.picker = form.querySelector(".recipients");
    this.search = form.querySelector(".recipient-search");
    for (const input of [this.level, this.tlp, this.search]) {
      input?.addEventListener(input === this.search ? "input" : "change", () => this.recipients());
    }
    this.search?.addEventListener("keydown", (event) => {
      if (event.key === "Enter") event.preventDefault(); // not a send
    });
    this.recipients();
    this.mentions = new Mentions(this); // before the Enter handler: Enter picks when open
    this.restore();
    let lastTyping = 0;
    this.body.addEventListener("input", () => {
      this.save();
      this.clearNotice();
      const now = Date.now();
      if (now - lastTyping > 3000 && this.body.value) {
        lastTyping = now;
        rt.send({ type: "typing", space_id: rt.spaceId, topic_id: rt.topicId });
      }
    });
    this.body.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.altKey) return;
      event.preventDefault(); // Enter sends; Shift+Enter is a new line
      form.requestSubmit();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault(); // never the plain post: offline it would lose the page
      this.post();
    });
  }

  // The recipients picker shows only for TLP:RED, and lists only the members cleared for
  // the chosen level (a member no longer cleared is unticked), filtered by the search box.
  recipients() {
    if (!this.picker) return;
    const red = this.tlp?.value === "RED";
    this.picker.classList.toggle("hidden", !red);
    const level = Number(this.level?.value || 0);
    const query = (this.search?.value || "").trim().toLowerCase();
    let shown = 0;
    for (const item of this.picker.querySelectorAll("li[data-clearance]")) {
      const cleared = Number(item.dataset.clearance) >= level;
      const box = item.querySelector("input");
      if (!cleared && box) box.checked = false;
      const visible = cleared && (!query || item.dataset.name.includes(query));
      item.classList.toggle("hidden", !visible);
      if (visible) shown += 1;
    }
    this.picker.querySelector(".recipients-none")?.classList.toggle("hidden", shown > 0);
  }

  restore() {
    let draft = null;
    try {
      draft = JSON.parse(sessionStorage.getItem(this.key) || "null");
    } catch { draft = null; }
    if (!draft) return;
    if (!this.body.value && draft.body) this.body.value = draft.body;
    if (draft.client_id && this.clientId) this.clientId.value = draft.client_id;
    if (draft.queued && draft.body === this.body.value) this.post();
  }

  save(queued = false) {
    try {
      if (!this.body.value) sessionStorage.removeItem(this.key);
      else sessionStorage.setItem(this.key, JSON.stringify({
        body: this.body.value, client_id: this.clientId?.value || "", queued }));
    } catch { /* storage full or disabled: the text is still in the box */ }
  }

  frame() {
    const data = new FormData(this.form);
    if (this.clientId && !this.clientId.value) this.clientId.value = uuid();
    return {
      type: "post", client_id: this.clientId ? this.clientId.value : uuid(),
      space_id: this.rt.spaceId, topic_id: this.rt.topicId, body: String(data.get("body") || ""),
      level: Number(data.get("level")), tlp: String(data.get("tlp")),
      recipient_ids: String(data.get("tlp")) === "RED" ? data.getAll("recipients").map(Number) : [],
    };
  }

  // The server's own rules, checked first so that nothing is sent that must fail.
  problem(frame) {
    const text = frame.body.replaceAll("\0", "").trim();
    if (!text) return this.labels.labelEmpty;
    const chars = [...text].length;
    if (this.maxChars && chars > this.maxChars) {
      return this.fill(this.labels.labelTooLong, { count: chars, limit: this.maxChars });
    }
    const bytes = new TextEncoder().encode(JSON.stringify(frame)).length;
    if (this.maxBytes && bytes > this.maxBytes) {
      return this.fill(this.labels.labelTooLarge, {
        count: Math.ceil(bytes / 1024), limit: Math.floor(this.maxBytes / 1024) });
    }
    if (frame.tlp === "RED" && !frame.recipient_ids.length) return this.labels.labelNoRecipients;
    const uncleared = this.mentions.uncleared(frame.body, frame.level);
    if (uncleared) {
      return this.fill(this.labels.labelMentionNotCleared, {
        name: uncleared, level: this.levelName(frame.level) });
    }
    return "";
  }

  fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? ""));
  }

  post() {
    if (this.outbox) return; // one message at a time: it is still on its way
    const frame = this.frame();
    const problem = this.problem(frame);
    if (problem) {
      this.showNotice(problem, false);
      this.body.focus();
      return;
    }
    this.clearNotice();
    this.outbox = { frame, article: this.pendingArticle(frame), timer: null };
    this.body.readOnly = true;
    this.form.setAttribute("aria-busy", "true");
    this.transmit();
  }

  transmit() {
    const box = this.outbox;
    clearTimeout(box.timer);
    if (this.rt.ready && this.rt.send(box.frame)) {
      this.setPendingState(box, this.rt.labels.labelPending);
      this.save(false);
      box.timer = setTimeout(() => {
        if (this.outbox === box) this.fail(this.labels.labelNoAnswer);
      }, ACK_TIMEOUT_MS);
    } else {
      this.setPendingState(box, this.labels.labelQueued, true);
      this.save(true);
    }
  }

  pendingArticle(frame) {
    const article = el("article", "message pending");
    article.dataset.clientId = frame.client_id;
    const meta = el("header", "message-meta");
    meta.append(el("strong", null, this.rt.memberName(this.rt.userId)), " ",
                el("span", "muted pending-state"), " ");
    meta.append(badges(frame.level, this.levelName(frame.level), frame.tlp));
    article.append(meta, el("div", "message-body plain", frame.body));
    this.rt.list?.querySelector(".empty")?.remove();
    this.rt.list?.append(article);
    article.scrollIntoView({ block: "nearest" });
    return article;
  }

  levelName(level) {
    const option = this.form.querySelector(`select[name=level] option[value="${Number(level)}"]`);
    return option ? option.textContent.trim() : String(level);
  }

  setPendingState(box, text, queued = false) {
    box.article.classList.toggle("queued", queued);
    box.article.querySelector(".pending-state").textContent = text || "";
    if (queued) this.showNotice(text, false, true);
  }

  // Called for every ack: the post's ack clears the box and starts a new client_id.
  acked(frame) {
    const box = this.outbox;
    if (!box || frame.ref !== box.frame.client_id) return;
    clearTimeout(box.timer);
    this.outbox = null;
    if (document.getElementById(`m${Number(frame.message_id)}`)) box.article.remove();
    else box.article.classList.add("sent"); // the event replaces it
    this.body.readOnly = false;
    this.form.removeAttribute("aria-busy");
    this.body.value = "";
    if (this.clientId) this.clientId.value = uuid();
    this.save();
    this.clearNotice();
  }

  failed(frame) {
    const box = this.outbox;
    // An error without a ref (e.g. a frame the server could not read) concerns the post
    // in flight, if there is one: otherwise it would wait for an answer forever.
    if (!box || (frame.ref && frame.ref !== box.frame.client_id)) return;
    if (!frame.ref && frame.code !== "too_large" && frame.code !== "invalid_json") return;
    this.fail(frame.message || frame.code);
  }

  // The message in flight goes back to the composer, editable again.
  release() {
    const box = this.outbox;
    clearTimeout(box.timer);
    box.article.remove();
    this.outbox = null;
    this.body.readOnly = false;
    this.form.removeAttribute("aria-busy");
  }

  fail(reason) {
    if (!this.outbox) return;
    this.release();
    this.save(false);
    this.showNotice(`${this.labels.labelNotSent || ""} ${reason || ""}`.trim(), true);
  }

  delivered(message) {
    const box = this.outbox;
    const pending = this.rt.list?.querySelector(
      `article.pending[data-client-id="${CSS.escape(String(message.client_id))}"]`);
    if (pending && (!box || pending !== box.article)) pending.remove();
    else if (pending) pending.classList.add("sent");
  }

  offline() {
    const box = this.outbox;
    if (!box) return;
    clearTimeout(box.timer);
    this.setPendingState(box, this.labels.labelQueued, true);
    this.save(true);
  }

  online() {
    if (this.outbox) this.transmit();
  }

  showNotice(text, retry, queued = false) {
    if (!this.notice) return;
    this.notice.replaceChildren(el("span", null, text));
    this.notice.classList.toggle("is-error", !queued);
    this.notice.classList.remove("hidden");
    if (retry) {
      const button = el("button", "button-secondary", this.labels.labelRetryButton || "Retry");
      button.type = "button";
      button.addEventListener("click", () => this.post()); // same text, same client_id
      this.notice.append(" ", button);
    }
    if (queued) {
      const button = el("button", "link-button", this.labels.labelCancel || "Cancel");
      button.type = "button";
      button.addEventListener("click", () => this.cancel());
      this.notice.append(" ", button);
    }
  }

  clearNotice() {
    if (!this.notice || this.outbox?.article.classList.contains("queued")) return;
    this.notice.replaceChildren();
    this.notice.classList.add("hidden");
  }

  // Offline, a waiting message may be taken back to edit; a new client_id follows, as
  // the old one may have reached the server before the connection fell.
  cancel() {
    if (!this.outbox) return;
    this.release();
    if (this.clientId) this.clientId.value = uuid();
    this.save(false);
    this.notice.replaceChildren();
    this.notice.classList.add("hidden");
    this.body.focus();
  }
}

// Mentions: "@" and letters in the composer list the members cleared for the chosen
// level whose name matches, without regard to accents or case ("remi" finds Rémi), and
// `@moderators`. The textarea drives an ARIA listbox (aria-activedescendant): arrows move,
// Enter or Tab inserts the server's syntax `@**Display Name**`, Escape closes. Before
// sending, a mention of a member not cleared for the level is refused with the reason.
const MENTION_MAX = 8;
const MENTION_QUERY = /(?:^|[\s(>])@([^\s@*][^@*\n]{0,39}|)$/u;
const MENTIONED = /@\*\*([^*\n]{1,200})\*\*/g;

function fold(text) {
  return String(text).normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

class Mentions {
  constructor(composer) {
    this.composer = composer;
    this.body = composer.body;
    this.labels = composer.labels;
    this.list = composer.form.querySelector("#mention-list");
    let raw = [];
    try { raw = JSON.parse(composer.form.dataset.mentionables || "[]"); } catch { raw = []; }
    this.members = raw.map(([id, name, clearance]) => ({
      id: Number(id), name: String(name), clearance: Number(clearance), folded: fold(name) }));
    this.options = [];
    this.active = -1;
    this.start = -1;
    if (!this.list) return;
    this.body.addEventListener("input", () => this.update());
    this.body.addEventListener("click", () => this.update());
    this.body.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    this.body.addEventListener("keydown", (event) => this.key(event));
    this.list.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus
    this.list.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) this.pick(Number(option.dataset.index));
    });
    composer.level?.addEventListener("change", () => this.isOpen() && this.update());
  }

  isOpen() {
    return !this.list.classList.contains("hidden");
  }

  level() {
    return Number(this.composer.level?.value || 0);
  }

  // The members (and @moderators) matching what follows the "@" before the caret.
  update() {
    const caret = this.body.selectionStart;
    if (caret !== this.body.selectionEnd) return this.close();
    const before = this.body.value.slice(0, caret);
    const found = MENTION_QUERY.exec(before);
    if (!found) return this.close();
    const query = fold(found[1]);
    const level = this.level();
    const rank = (text) => (text.startsWith(query) ? 0
      : text.split(/[\s.'-]+/).some((w) => w.startsWith(query)) ? 1 : 2);
    const matches = this.members
      .filter((m) => m.clearance >= level && m.folded.includes(query))
      .sort((a, b) => rank(a.folded) - rank(b.folded) || a.folded.localeCompare(b.folded))
      .slice(0, MENTION_MAX)
      .map((m) => ({ text: `@**${m.name}**`, label: m.name, hint: "" }));
    if ("moderators".startsWith(query)) {
      matches.push({ text: "@moderators", label: "@moderators",
                     hint: this.labels.labelMentionModerators || "" });
    }
    if (!matches.length) return this.close();
    this.start = caret - found[1].length - 1;
    this.options = matches;
    this.render(Math.min(Math.max(this.active, 0), matches.length - 1));
  }

  render(active) {
    this.list.replaceChildren();
    this.options.forEach((option, i) => {
      const item = el("li", null);
      item.id = `mention-option-${i}`;
      item.setAttribute("role", "option");
      item.dataset.index = String(i);
      item.append(el("span", "mention-name", option.label));
      if (option.hint) item.append(el("span", "muted", option.hint));
      this.list.append(item);
    });
    this.list.classList.remove("hidden");
    this.move(active);
  }

  move(index) {
    const items = [...this.list.children];
    if (!items.length) return;
    this.active = (index + items.length) % items.length;
    items.forEach((item, i) => item.setAttribute("aria-selected", String(i === this.active)));
    this.body.setAttribute("aria-activedescendant", items[this.active].id);
    items[this.active].scrollIntoView({ block: "nearest" });
  }

  close() {
    if (!this.list || !this.isOpen()) return;
    this.list.classList.add("hidden");
    this.list.replaceChildren();
    this.body.removeAttribute("aria-activedescendant");
    this.options = [];
    this.active = -1;
  }

  key(event) {
    if (!this.isOpen() || event.isComposing) return;
    let handled = true;
    if (event.key === "ArrowDown") this.move(this.active + 1);
    else if (event.key === "ArrowUp") this.move(this.active - 1);
    else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") this.pick(this.active);
    else if (event.key === "Escape") this.close();
    else handled = false;
    if (handled) {
      event.preventDefault();
      event.stopImmediatePropagation(); // not a send, not the page's Escape
    }
  }

  pick(index) {
    const option = this.options[index];
    if (!option) return this.close();
    const value = this.body.value;
    const caret = this.body.selectionStart;
    const after = value.slice(caret);
    const insert = option.text + (after.startsWith(" ") ? "" : " ");
    this.body.value = value.slice(0, this.start) + insert + after;
    const at = this.start + insert.length;
    this.body.setSelectionRange(at, at);
    this.close();
    this.body.dispatchEvent(new Event("input", { bubbles: true })); // the draft is saved
    this.body.focus();
  }

  // The name of the first member mentioned who is not cleared for `level`, or "".
  uncleared(text, level) {
    for (const [, name] of String(text).matchAll(MENTIONED)) {
      const wanted = name.trim().toLowerCase();
      const member = this.members.find((m) => m.name.toLowerCase() === wanted);
      if (member && member.clearance < Number(level)) return member.name;
    }
    return "";
  }
}

if (root && "WebSocket" in window) {
  new Realtime(root);
}
