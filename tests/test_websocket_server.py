"""workspace.websocket_server: autobahn formats its per-connection debug line only when
debug logging is on."""

from __future__ import annotations

import pprint

import pytest


@pytest.fixture
def txaio_level():
    import txaio

    txaio.use_twisted()
    before = txaio.get_global_log_level()
    yield txaio.set_global_log_level
    txaio.set_global_log_level(before)


def test_autobahn_formats_its_debug_line_only_when_debugging(txaio_level):
    from autobahn.websocket import protocol

    import workspace.asgi  # noqa: F401 - applies it, as daphne's import of the app does
    from workspace.websocket_server import NOT_FORMATTED

    options = [("autoPingInterval", 0, "WebSocketServerFactory")] * 3
    txaio_level("info")
    assert protocol.pformat(options) == NOT_FORMATTED
    txaio_level("debug")
    assert protocol.pformat(options) == pprint.pformat(options)
    txaio_level("trace")
    assert protocol.pformat(options, width=20) == pprint.pformat(options, width=20)
