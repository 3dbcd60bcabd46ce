// The header bell: the unread notification count, updated live by the `notification`
// frame of /ws/ (docs/protocol.md). Pages that already hold the discussion socket
// (messaging/realtime.js) pass that frame on as a "workspace:notification" DOM event;
// other pages open /ws/ for it themselves, so a tab still has one socket. The frame
// carries the count only, never the text of an item.

const bell = document.getElementById("notification-bell");

function show(unread) {
  const n = Math.max(0, Math.floor(Number(unread)) || 0);
  const count = bell.querySelector(".bell-count");
  count.dataset.unread = String(n);
  count.classList.toggle("bell-zero", n === 0);
  bell.querySelector(".bell-number").textContent = String(n);
}

function listen() {
  let backoff = 1000;
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/`);
    ws.addEventListener("open", () => { backoff = 1000; });
    ws.addEventListener("message", (e) => {
      const frame = JSON.parse(e.data);
      if (frame.type === "notification") show(frame.unread);
    });
    ws.addEventListener("close", (e) => {
      if (e.code === 4401 || e.code === 4403) return; // signed out or no MFA: stay off
      const wait = Math.min(backoff, 30000) * (0.5 + Math.random());
      backoff = Math.min(backoff * 2, 30000);
      setTimeout(connect, wait);
    });
  };
  connect();
}

if (bell) {
  document.addEventListener("workspace:notification", (e) => show(e.detail.unread));
  if (!document.getElementById("realtime") && "WebSocket" in window) listen();
}
