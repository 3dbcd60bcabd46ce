"""The WebSocket protocol's client frames: parsing and validation, no I/O.

Every frame is a JSON object with a `type`. A frame that fails here is answered with an
`error` frame (its `code` is one of ERROR_CODES) and the connection carries on.
See docs/protocol.md.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

MAX_ID = 2**63 - 1
MAX_RECIPIENTS = 50
MAX_RESUME_SPACES = 500

ERROR_CODES = frozenset(
    {
        "invalid_json",
        "too_large",
        "invalid_frame",
        "unknown_type",
        "rate_limited",
        "hello_required",
        "already_hello",
        "forbidden",
        "not_found",
        "invalid",
        "server_error",
    }
)


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


def error_frame(code: str, message: str, ref: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "ref": ref, **extra}


@dataclass(frozen=True)
class Frame:
    type: str
    client_id: str | None
    space_id: int | None = None
    topic_id: int | None = None
    message_id: int | None = None
    body: str | None = None
    level: int | None = None
    tlp: str | None = None
    recipient_ids: tuple[int, ...] = ()
    emoji: str | None = None
    present: bool | None = None
    seq: int | None = None
    resume: dict[int, int] = field(default_factory=dict)


def ref_of(data: dict[str, Any]) -> str | None:
    """The client_id to echo back, if it is a well-formed UUID (never echo arbitrary input)."""
    value = data.get("client_id")
    if isinstance(value, str) and len(value) <= 64:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            return None
    return None


def _int(data: dict[str, Any], key: str, ref: str | None, *, minimum: int = 1) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_ID:
        raise ProtocolError("invalid_frame", f"`{key}` must be an integer id.", ref)
    return value


def _str(data: dict[str, Any], key: str, ref: str | None, *, max_len: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or len(value) > max_len:
        raise ProtocolError("invalid_frame", f"`{key}` must be a string.", ref)
    return value


def decode(text: str, *, max_bytes: int) -> dict[str, Any]:
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ProtocolError("too_large", f"Frames are limited to {max_bytes} bytes.")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ProtocolError("invalid_json", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_frame", "A frame must be a JSON object.")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def parse(data: dict[str, Any]) -> Frame:
    """A validated Frame, or ProtocolError."""
    ref = ref_of(data)
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("invalid_frame", "`type` is required.", ref)
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ProtocolError("unknown_type", "Unknown frame type.", ref)
    if kind not in ("hello", "typing", "sync") and ref is None:
        raise ProtocolError("invalid_frame", "`client_id` must be a UUID.", None)
    return parser(data, ref)


def _hello(data: dict[str, Any], ref: str | None) -> Frame:
    resume_in = data.get("resume", {})
    if not isinstance(resume_in, dict) or len(resume_in) > MAX_RESUME_SPACES:
        raise ProtocolError("invalid_frame", "`resume` must map space ids to seqs.", ref)
    resume: dict[int, int] = {}
    for key, value in resume_in.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 19):
            raise ProtocolError("invalid_frame", "`resume` keys must be space ids.", ref)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
            raise ProtocolError("invalid_frame", "`resume` values must be seqs.", ref)
        resume[int(key)] = value
    return Frame(type="hello", client_id=ref, resume=resume)


def _post(data: dict[str, Any], ref: str | None) -> Frame:
    recipients = data.get("recipient_ids", [])
    if (
        not isinstance(recipients, list)
        or len(recipients) > MAX_RECIPIENTS
        or not all(
            isinstance(r, int) and not isinstance(r, bool) and 1 <= r <= MAX_ID for r in recipients
        )
    ):
        raise ProtocolError("invalid_frame", "`recipient_ids` must be a list of user ids.", ref)
    return Frame(
        type="post",
        client_id=ref,
        space_id=_int(data, "space_id", ref),
        topic_id=_int(data, "topic_id", ref),
        body=_str(data, "body", ref, max_len=1_000_000),
        level=_int(data, "level", ref, minimum=0),
        tlp=_str(data, "tlp", ref, max_len=16),
        recipient_ids=tuple(recipients),
    )


def _edit(data: dict[str, Any], ref: str | None) -> Frame:
    return Frame(
        type="edit",
        client_id=ref,
        space_id=_int(data, "space_id", ref),
        message_id=_int(data, "message_id", ref),
        body=_str(data, "body", ref, max_len=1_000_000),
    )


def _delete(data: dict[str, Any], ref: str | None) -> Frame:
    return Frame(
        type="delete",
        client_id=ref,
        space_id=_int(data, "space_id", ref),
        message_id=_int(data, "message_id", ref),
    )


def _react(data: dict[str, Any], ref: str | None) -> Frame:
    op = data.get("op", "add")
    if op not in ("add", "remove"):
        raise ProtocolError("invalid_frame", "`op` must be add or remove.", ref)
    return Frame(
        type="react",
        client_id=ref,
        space_id=_int(data, "space_id", ref),
        message_id=_int(data, "message_id", ref),
        emoji=_str(data, "emoji", ref, max_len=16),
        present=op == "add",
    )


def _typing(data: dict[str, Any], ref: str | None) -> Frame:
    return Frame(
        type="typing",
        client_id=ref,
        space_id=_int(data, "space_id", ref),
        topic_id=_int(data, "topic_id", ref),
    )


def _read(data: dict[str, Any], ref: str | None) -> Frame:
    return Frame(
        type="read",
        client_id=ref,
        space_id=_int(data, "space_id", ref),
        topic_id=_int(data, "topic_id", ref),
        seq=_int(data, "seq", ref, minimum=0),
    )


def _sync(data: dict[str, Any], ref: str | None) -> Frame:
    space_id = _int(data, "space_id", ref) if "space_id" in data else None
    return Frame(type="sync", client_id=ref, space_id=space_id)


_PARSERS = {
    "hello": _hello,
    "post": _post,
    "edit": _edit,
    "delete": _delete,
    "react": _react,
    "typing": _typing,
    "read": _read,
    "sync": _sync,
}


class TokenBucket:
    """Per-connection frame rate: `rate` frames a second, bursts up to `burst`."""

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
