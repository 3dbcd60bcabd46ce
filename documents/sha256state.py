"""SHA-256 whose state can be saved between requests (and processes) and resumed.

`hashlib` objects cannot be serialised, so an upload verified part by part would have to
hash the whole plaintext again at the end. OpenSSL's low-level `SHA256_CTX` is a plain
struct without pointers (eight chaining words, a bit count, the pending block and its
length), so its bytes are the complete state: saved after one part, restored before the
next. This uses the libcrypto that CPython's own `hashlib` is linked against, through
`ctypes`, with the same (SHA-NI) block function. A restored state is checked before use,
and the module checks itself against `hashlib` once; if anything is missing,
`available()` is False and callers keep the whole-file pass.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import struct
from functools import cache
from typing import Any

# typedef struct { SHA_LONG h[8]; SHA_LONG Nl, Nh; SHA_LONG data[16]; unsigned num, md_len; }
STATE_SIZE = 112
_NUM_OFFSET = 104
_BLOCK = 64


class StateError(ValueError):
    """A saved state that is not a valid SHA-256 context."""


@cache
def _lib() -> Any:
    for name in ("libcrypto.so.3", ctypes.util.find_library("crypto")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            for fn in (lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final):
                fn.restype = ctypes.c_int
        except (OSError, AttributeError):
            continue
        lib.SHA256_Init.argtypes = [ctypes.c_void_p]
        lib.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        return lib
    return None


class ResumableSHA256:
    __slots__ = ("_ctx",)

    def __init__(self, state: bytes | None = None) -> None:
        lib = _lib()
        if lib is None:
            raise RuntimeError("libcrypto SHA-256 is not available")
        self._ctx = ctypes.create_string_buffer(STATE_SIZE)
        if state is None:
            if lib.SHA256_Init(self._ctx) != 1:
                raise RuntimeError("SHA256_Init failed")
            return
        state = bytes(state)
        if len(state) != STATE_SIZE:
            raise StateError("wrong state size")
        num, md_len = struct.unpack_from("=II", state, _NUM_OFFSET)
        if num >= _BLOCK or md_len != 32:  # `num` indexes the pending block: never trust it
            raise StateError("corrupt state")
        ctypes.memmove(self._ctx, state, STATE_SIZE)

    def update(self, data: bytes) -> None:
        if not isinstance(data, bytes):
            data = bytes(data)
        if _lib().SHA256_Update(self._ctx, data, len(data)) != 1:
            raise RuntimeError("SHA256_Update failed")

    def state(self) -> bytes:
        return self._ctx.raw

    def hexdigest(self) -> str:
        """The digest of everything so far (a copy is finalised; this one can go on)."""
        copy = ctypes.create_string_buffer(self._ctx.raw, STATE_SIZE)
        out = ctypes.create_string_buffer(32)
        if _lib().SHA256_Final(out, copy) != 1:
            raise RuntimeError("SHA256_Final failed")
        return out.raw.hex()


@cache
def available() -> bool:
    """libcrypto is there and a saved/restored state hashes exactly like hashlib."""
    try:
        if _lib() is None:
            return False
        data = bytes(range(256)) * 41
        first = ResumableSHA256()
        first.update(data[:77])
        resumed = ResumableSHA256(first.state())
        resumed.update(data[77:])
        return resumed.hexdigest() == hashlib.sha256(data).hexdigest()
    except (RuntimeError, OSError, ValueError):
        return False
