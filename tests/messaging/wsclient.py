"""A minimal asyncio WebSocket client (RFC 6455, text frames) for tests and the benchmark.

autobahn's asyncio client cannot run here (daphne already bound txaio to Twisted), and
this avoids a new dependency. It speaks just enough: handshake, masked text frames out,
text/close/ping frames in (fragmented messages included).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import struct
import uuid
from typing import Any

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WsClient:
    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self._reading: asyncio.Task[None] | None = None

    async def connect(self, host: str, port: int, path: str = "/ws/", *,
                      cookie: bytes | None = None, origin: str | None = None) -> None:
        self.reader, self.writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
            "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
            f"Origin: {origin or f'http://{host}:{port}'}",
        ]
        if cookie:
            lines.append(f"Cookie: {cookie.decode()}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(status.decode(errors="replace"))
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324
        if accept.encode() not in head:
            raise ConnectionError("bad Sec-WebSocket-Accept")
        self._reading = asyncio.ensure_future(self._read_loop())

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return header + mask + masked

    async def _read_loop(self) -> None:
        assert self.reader is not None and self.writer is not None
        buffer = b""
        try:
            while True:
                b1, b2 = await self.reader.readexactly(2)
                fin, opcode, length = b1 & 0x80, b1 & 0x0F, b2 & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
                payload = await self.reader.readexactly(length)
                if opcode == 0x8:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                    return
                if opcode == 0x9:
                    self.writer.write(self._frame(0xA, payload))
                    continue
                if opcode in (0x1, 0x0):
                    buffer += payload
                    if fin:
                        self.frames.put_nowait(json.loads(buffer))
                        buffer = b""
        except (asyncio.IncompleteReadError, ConnectionError):
            if self.close_code is None:
                self.close_code = 1006

    def send(self, frame: dict[str, Any]) -> None:
        assert self.writer is not None
        self.writer.write(self._frame(0x1, json.dumps(frame).encode()))

    async def recv(self, timeout: float) -> dict[str, Any] | None:
        try:
            frame = await asyncio.wait_for(self.frames.get(), timeout)
        except TimeoutError:
            return None
        self.seen.append(frame)
        return frame

    async def until(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            frame = await self.recv(remaining)
            if frame is not None and predicate(frame):
                return frame
        raise AssertionError(f"no matching frame; last seen {self.seen[-3:]}")

    async def request(self, frame: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        ref = frame.setdefault("client_id", str(uuid.uuid4()))
        self.send(frame)
        return await self.until(
            lambda f: f["type"] in ("ack", "error") and f.get("ref") == ref, timeout)

    async def drain(self, quiet: float) -> None:
        while await self.recv(quiet) is not None:
            pass

    def event_seqs(self, space_id: int) -> list[int]:
        return [f["seq"] for f in self.seen if f["type"] == "event" and f["space_id"] == space_id]

    async def close(self) -> None:
        if self.writer is None:
            return
        try:
            self.writer.write(self._frame(0x8, struct.pack("!H", 1000)))
            await self.writer.drain()
            self.writer.close()
        except (ConnectionError, RuntimeError):
            pass
        if self._reading is not None:
            self._reading.cancel()
