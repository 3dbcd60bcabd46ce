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

class Realtime {
  constructor(node) {
    this.node = node;
    this.spaceId = Number(node.dataset.spaceId);
    this.topicId = node.dataset.topicId ? Number(node.dataset.topicId) : null;
    this.userId = Number(node.dataset.userId || 0);
    this.page = node.dataset.page;
    this.lastSeq = Number(node.dataset.headSeq || 0);
    this.labels = node.dataset;
    this.pending = new Map(); // client_id -> {frame, article}
    this.backoff = 1000;
    this.stopped = false;
    this.online = new Map();
    this.typingTimers = new Map();
    this.status = node.querySelector(".realtime-status");
    this.list = node.querySelector(".message-list");
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
        this.markRead();
        break;
      case "ack":
        if (frame.for === "hello") {
          this.setStatus(this.labels.labelOnline || "");
          // Anything still pending was never acked: send it again (same client_id).
          for (const { frame: f } of this.pending.values()) this.send(f);
        }
        this.settle(frame.ref, true);
        break;
      case "error":
        this.settle(frame.ref, false, frame.message);
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
      case "presence":
        if (frame.state === "online") this.online.set(frame.user.id, frame.user.name);
        else this.online.delete(frame.user.id);
        break;
    }
  }

  onEvent(frame) {
    const data = frame.data;
    if (frame.kind === "message.new") {
      const m = data.message;
      const pending = this.pending.get(m.client_id);
      if (pending) {
        pending.article.remove();
        this.pending.delete(m.client_id);
      }
      if (this.page === "topic" && m.topic_id === this.topicId && this.node.dataset.lastPage) {
        this.list.querySelector(".empty")?.remove();
        this.list.append(this.renderMessage(m));
      } else if (this.page === "topics" && m.author.id !== this.userId) {
        this.bumpUnread(m.topic_id);
      }
    } else if (frame.kind === "message.edit") {
      const body = document.querySelector(`#m${Number(data.message.id)} .message-body`);
      if (body) body.innerHTML = data.message.html; // sanitised by the server (nh3)
    } else if (frame.kind === "message.delete") {
      const article = document.getElementById(`m${Number(data.message.id)}`);
      if (article) {
        article.classList.add("deleted");
        article.querySelector(".message-body")?.replaceWith(
          el("p", "empty", this.labels.labelDeleted || ""));
        article.querySelector(".message-actions")?.remove();
      }
    } else if (frame.kind === "reaction.add" || frame.kind === "reaction.remove") {
      this.updateReaction(data.reaction);
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

  renderMessage(m) {
    const article = el("article", "message card");
    article.id = `m${Number(m.id)}`;
    article.dataset.messageId = m.id;
    const meta = el("header", "message-meta");
    meta.append(el("strong", null, m.author.name), " ", badges(m.level, m.level_name, m.tlp));
    const body = el("div", "message-body");
    body.innerHTML = m.html; // sanitised by the server (markdown-it, html off, then nh3)
    article.append(meta, body, el("ul", "reactions"));
    return article;
  }

  updateReaction(r) {
    const list = document.querySelector(`#m${Number(r.message_id)} .reactions`);
    if (!list) return;
    let item = list.querySelector(`[data-emoji="${CSS.escape(r.emoji)}"]`);
    if (!item) {
      item = el("li", "badge");
      item.dataset.emoji = r.emoji;
      list.append(item);
    }
    if (r.count > 0) item.textContent = `${r.emoji} ${r.count}`;
    else item.remove();
  }

  bumpUnread(topicId) {
    const badge = this.node.querySelector(`[data-topic-id="${Number(topicId)}"] .unread-badge`);
    if (!badge) return;
    const n = Number(badge.dataset.unread || 0) + 1;
    badge.dataset.unread = n;
    badge.textContent = String(n);
    badge.classList.remove("hidden");
  }

  markRead() {
    if (this.page !== "topic" || document.visibilityState !== "visible") return;
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => {
      this.send({ type: "read", client_id: uuid(), space_id: this.spaceId,
                  topic_id: this.topicId, seq: this.lastSeq });
    }, 1000);
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

  settle(ref, ok, message) {
    const entry = ref && this.pending.get(ref);
    if (!entry) return;
    if (ok) {
      entry.article.classList.remove("pending");
      return; // the event itself replaces the pending copy
    }
    entry.article.classList.remove("pending");
    entry.article.classList.add("failed");
    const note = el("p", "muted", message || "");
    const retry = el("button", "button-secondary", this.labels.labelRetry || "Retry");
    retry.type = "button";
    retry.addEventListener("click", () => {
      note.remove();
      retry.remove();
      entry.article.classList.replace("failed", "pending");
      this.send(entry.frame); // same client_id: stored at most once
    });
    entry.article.append(note, retry);
  }

  wireForm() {
    const form = document.getElementById("post-form");
    if (!form || this.page !== "topic") return;
    const body = form.querySelector("textarea[name=body]");
    let lastTyping = 0;
    body?.addEventListener("input", () => {
      const now = Date.now();
      if (now - lastTyping > 3000) {
        lastTyping = now;
        this.send({ type: "typing", space_id: this.spaceId, topic_id: this.topicId });
      }
    });
    form.addEventListener("submit", (event) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return; // plain form post
      event.preventDefault();
      const data = new FormData(form);
      const frame = {
        type: "post", client_id: String(data.get("client_id") || uuid()),
        space_id: this.spaceId, topic_id: this.topicId, body: String(data.get("body") || ""),
        level: Number(data.get("level")), tlp: String(data.get("tlp")),
        recipient_ids: data.getAll("recipients").map(Number),
      };
      const article = el("article", "message card pending");
      const meta = el("header", "message-meta");
      meta.append(el("span", "muted", this.labels.labelPending || ""), " ",
                  badges(frame.level, "", frame.tlp));
      article.append(meta, el("div", "message-body", frame.body));
      this.list.append(article);
      this.pending.set(frame.client_id, { frame, article });
      this.send(frame);
      form.reset();
      const id = form.querySelector("input[name=client_id]");
      if (id) id.value = uuid(); // the next message gets a new idempotency key
    });
  }
}

if (root && "WebSocket" in window) {
  new Realtime(root);
}
