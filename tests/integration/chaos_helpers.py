"""Helpers for tests/integration/test_chaos.py: faults injected into the real topology.

- `PrivateRedis`: a redis-server of our own on a free port, so restarting it never
  disturbs the shared Redis other test runs on this machine use.
- `PgProxy`: a TCP proxy between the daphne processes and PostgreSQL. `down()` acts as a
  PostgreSQL restart seen from the clients: every open connection is cut (a transaction
  in flight is rolled back by the server, exactly as when a backend is terminated) and
  new connections are refused until `up()`. The shared server itself is never touched.
- `FlakyStorage`: the filesystem storage, failing with ENOSPC ("disk full") after writing
  part of a file while a flag file exists (root ignores chmod, so a read-only directory
  cannot make writes fail here).
- `ChaosClient`: one logical user through nginx: reconnects with `hello`/`resume` from
  the last seq it received, and retries an unacknowledged post with the same client_id.
  It holds at most one socket at a time: reconnects are serialised by a lock, because a
  writer's post and its keep-alive loop both notice a dead socket, and without the lock
  each opened its own replacement, so every later event arrived twice (the 71-for-44
  duplicate deliveries once seen after SIGKILL were this, not the server).
"""

from __future__ import annotations

import asyncio
import errno
import os
import select
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from django.core.files.storage import FileSystemStorage

from tests.integration.topology import HOST, free_port
from tests.messaging.wsclient import WsClient

# --- Redis -------------------------------------------------------------------------


class PrivateRedis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "redis-server"
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # like `shutdown nosave`: nothing survives
            self.process.wait(timeout=10)

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


# --- PostgreSQL outage ------------------------------------------------------------------


class PgProxy:
    """Forward 127.0.0.1:<port> to PostgreSQL; `down()` cuts and refuses, `up()` resumes."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self.connections = 0

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def down(self) -> None:
        """Refuse new connections and cut every open one (RST, like a killed backend)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._accepting is not None:
            self._accepting.join(timeout=5)
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            for sock in pair:
                _abort(sock)

    def _accept(self, listener: socket.socket) -> None:
        listener.settimeout(0.1)
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _abort(client)
                continue
            pair = (client, server)
            with self._lock:
                self._pairs.add(pair)
                self.connections += 1
            threading.Thread(target=self._pipe, args=(pair,), daemon=True).start()

    def _pipe(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, server = pair
        peers = {client: server, server: client}
        try:
            while True:
                readable, _, _ = select.select([client, server], [], [], 1.0)
                with self._lock:
                    if pair not in self._pairs:
                        return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._pairs.discard(pair)
            for sock in pair:
                _abort(sock)

    def close(self) -> None:
        self.down()


def _abort(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# --- Storage that fails like a full disk -----------------------------------------------

FAIL_FLAG_ENV = "CHAOS_STORAGE_FAIL_FLAG"


class FlakyStorage(FileSystemStorage):
    """FileSystemStorage; while the flag file exists, saving writes some bytes and then
    fails with ENOSPC. The flag's content picks which object fails: "payload" (the first
    write of an upload), "header" (the second, after the payload is stored) or "any"."""

    def _save(self, name: str, content: Any) -> str:
        flag = os.environ.get(FAIL_FLAG_ENV)
        mode = Path(flag).read_text().strip() if flag and os.path.exists(flag) else ""
        if mode and (mode == "any" or name.endswith(f".{mode}")):
            path = self.path(name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as partial:  # a half-written file is left behind...
                partial.write(content.read(1024) or b"x")
            raise OSError(errno.ENOSPC, "No space left on device", path)  # ...by the "disk"
        return super()._save(name, content)


# --- A WebSocket user through nginx ---------------------------------------------------


class _Client(WsClient):
    """WsClient with the Host and Origin nginx expects, and a marker frame on close."""

    async def connect_via(self, port: int, cookie: bytes) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), 5)
        import base64
        import hashlib

        from tests.messaging.wsclient import GUID

        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /ws/ HTTP/1.1", f"Host: {HOST}", "Upgrade: websocket", "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
            f"Origin: https://{HOST}", f"Cookie: {cookie.decode()}",
        ]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            self.writer.close()
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324
        if accept.encode() not in head:
            raise ConnectionError("bad Sec-WebSocket-Accept")
        self._reading = asyncio.ensure_future(self._read_loop())

    async def _read_loop(self) -> None:
        try:
            await super()._read_loop()
        finally:
            if self.close_code is None:
                self.close_code = 1006
            self.frames.put_nowait({"type": "_closed", "code": self.close_code})


class ChaosClient:
    """One logical user: every event it receives, in order, across any number of sockets.

    `delivered` is the list of seqs received for the space; a reconnect resumes from its
    last entry, so a duplicate or a gap shows up in the final comparison with the
    database. Posts are retried with the same client_id until acknowledged.
    """

    def __init__(self, name: str, cookie: bytes, port: int, space_id: int) -> None:
        self.name, self.cookie, self.port, self.space_id = name, cookie, port, space_id
        self.delivered: list[int] = []
        self.frames: list[dict[str, Any]] = []  # every event/resync/error frame, for messages
        self.errors: list[dict[str, Any]] = []  # error frames received
        self.resyncs: list[dict[str, Any]] = []
        self.connects = 0
        self.failed_connects = 0
        self.ws: _Client | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._pump: asyncio.Task[None] | None = None
        self.live_at: dict[int, float] = {}  # seq -> loop time received
        # Each socket's own stream (resume seq, seqs received), checked on its own: the
        # server promises order and no repeat per connection, whatever the harness does.
        self.streams: list[tuple[int, list[int]]] = []
        self.open_sockets = 0
        self.max_open_sockets = 0
        self._reconnecting = asyncio.Lock()

    # connection -----------------------------------------------------------------

    async def ensure_connected(self, deadline: float) -> None:
        if self.ws is not None and self.ws.close_code is None:
            return
        async with self._reconnecting:  # one replacement socket, however many callers
            await self._reconnect(deadline)

    async def _reconnect(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        delay = 0.1
        while self.ws is None or self.ws.close_code is not None:
            if self._pump is not None:
                # Take every frame the dead socket received before computing the resume seq.
                try:
                    await asyncio.wait_for(asyncio.shield(self._pump), 5)
                except (TimeoutError, asyncio.CancelledError):
                    self._pump.cancel()
                self._pump = None
            if loop.time() > deadline:
                raise AssertionError(f"{self.name}: could not reconnect")
            try:
                await self._connect()
            except (TimeoutError, OSError, ConnectionError, AssertionError):
                self.failed_connects += 1
                await self._drop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _connect(self) -> None:
        ws = _Client()
        await ws.connect_via(self.port, self.cookie)
        self.ws = ws
        last = self.delivered[-1] if self.delivered else 0
        stream: list[int] = []
        self.streams.append((last, stream))
        self._pump = asyncio.ensure_future(self._read(ws, stream))
        ack = await self.request({"type": "hello", "resume": {str(self.space_id): last}},
                                 timeout=10)
        if ack is None or ack.get("type") != "ack":
            raise ConnectionError(f"hello failed: {ack}")
        self.connects += 1

    async def _read(self, ws: _Client, stream: list[int]) -> None:
        loop = asyncio.get_running_loop()
        self.open_sockets += 1
        self.max_open_sockets = max(self.max_open_sockets, self.open_sockets)
        try:
            await self._read_frames(ws, stream, loop)
        finally:
            self.open_sockets -= 1

    async def _read_frames(self, ws: _Client, stream: list[int],
                           loop: asyncio.AbstractEventLoop) -> None:
        while True:
            frame = await ws.frames.get()
            kind = frame["type"]
            if kind == "_closed":
                for future in self._pending.values():
                    if not future.done():
                        future.set_result(None)  # type: ignore[arg-type]
                return
            if kind == "event" and frame["space_id"] == self.space_id:
                stream.append(frame["seq"])
                self.delivered.append(frame["seq"])
                self.live_at[frame["seq"]] = loop.time()
                self.frames.append(frame)
            elif kind == "resync":
                self.resyncs.append(frame)
            elif kind in ("ack", "error"):
                if kind == "error":
                    self.errors.append(frame)
                future = self._pending.get(frame.get("ref") or "")
                if future is not None and not future.done():
                    future.set_result(frame)

    async def _drop(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        self.ws = None

    async def request(self, frame: dict[str, Any], timeout: float = 10) -> dict[str, Any] | None:
        """Send and wait for the ack/error; None when the socket died first (or timeout)."""
        ws = self.ws
        if ws is None or ws.close_code is not None:
            return None
        ref = frame.setdefault("client_id", str(uuid.uuid4()))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ref] = future
        try:
            ws.send(frame)
            return await asyncio.wait_for(future, timeout)
        except (TimeoutError, OSError, RuntimeError):
            return None
        finally:
            self._pending.pop(ref, None)

    # actions --------------------------------------------------------------------

    async def post(self, topic_id: int, body: str, level: int, deadline: float,
                   tlp: str = "GREEN") -> dict[str, Any]:
        """Post until acknowledged, retrying with the same client_id (stored once)."""
        client_id = str(uuid.uuid4())
        attempts = 0
        while True:
            attempts += 1
            await self.ensure_connected(deadline)
            reply = await self.request({
                "client_id": client_id, "type": "post", "space_id": self.space_id,
                "topic_id": topic_id, "body": body, "level": level, "tlp": tlp})
            if reply is not None and reply["type"] == "ack":
                reply["attempts"] = attempts
                return reply
            if reply is not None and reply.get("code") not in ("server_error", "rate_limited"):
                raise AssertionError(f"{self.name}: post refused: {reply}")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.name}: post never acknowledged: {reply}")
            await asyncio.sleep(0.2)

    async def finish(self, deadline: float) -> None:
        """A last sync on a live socket, so everything committed has been examined."""
        while True:
            await self.ensure_connected(deadline)
            reply = await self.request({"type": "sync", "space_id": self.space_id})
            if reply is not None and reply["type"] == "ack":
                await asyncio.sleep(0.2)
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.name}: final sync failed: {reply}")
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        await self._drop()
        if self._pump is not None:
            self._pump.cancel()
