"""Work daphne's WebSocket server (autobahn) does for nothing, left out.

autobahn formats, for every new WebSocket connection, its list of ~50 protocol options
with `pprint.pformat` for a debug log line (`WebSocketProtocol._connectionMade`), and
formats it whether or not debug logging is on: txaio drops the line afterwards. In the
load test's ramp py-spy put that at 8 % of a daphne process's event loop, which is the
thread that answers every handshake. Here autobahn's module-level `pformat` formats only
while txaio's log level is debug or trace; otherwise it returns a placeholder that no
log line shows.
"""

from __future__ import annotations

import pprint
from typing import Any

NOT_FORMATTED = "(not formatted: autobahn debug logging is off)"


def _pformat_when_debugging(obj: Any, *args: Any, **kwargs: Any) -> str:
    import txaio

    if txaio.get_global_log_level() in ("debug", "trace"):
        return pprint.pformat(obj, *args, **kwargs)
    return NOT_FORMATTED


def skip_unlogged_debug_formatting() -> None:
    """Called once from workspace/asgi.py, in the daphne process."""
    from autobahn.websocket import protocol

    protocol.pformat = _pformat_when_debugging  # type: ignore[attr-defined]
