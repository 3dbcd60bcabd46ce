"""Fuzzing the socket with hypothesis: invalid JSON, wrong types, huge strings, unknown
types, other spaces' ids. No unhandled exception, the connection lives on, and another
client is unaffected."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging.protocol import ERROR_CODES
from tests.messaging.conftest import Socket, post, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

TYPES = ["hello", "post", "edit", "delete", "react", "typing", "read", "sync", "Post", "",
         "ack", "event", "__class__", "space.event", "access.changed"]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def _frames(room: dict[str, Any]) -> st.SearchStrategy[Any]:
    ids = st.sampled_from([
        room["space"].pk, room["other_space"].pk, room["topic"].pk, room["other_topic"].pk,
        0, -1, 2**63, 10**30, "1", None, 1.5, True, [], {},
    ]) | json_values
    structured = st.fixed_dictionaries(
        {"type": st.sampled_from(TYPES)},
        optional={
            "client_id": st.sampled_from([str(uuid.uuid4()), "x", "", 5, None]) | json_values,
            "space_id": ids, "topic_id": ids, "message_id": ids, "seq": ids,
            "body": st.text(max_size=200) | json_values,
            "level": ids, "tlp": st.sampled_from(["RED", "GREEN", "PURPLE", 1, None]),
            "recipient_ids": st.lists(ids, max_size=5) | json_values,
            "emoji": st.sampled_from(["+1", "eyes", "<b>", "", 3]) | json_values,
            "op": st.sampled_from(["add", "remove", "toggle", 1]),
            "resume": st.dictionaries(st.sampled_from(["1", "2", "x", "-1", "99999999999"]),
                                      ids, max_size=3) | json_values,
        },
    ).map(json.dumps)
    huge = st.integers(min_value=60_000, max_value=200_000).map(
        lambda n: json.dumps({"type": "post", "client_id": str(uuid.uuid4()), "body": "x" * n}))
    deep = st.integers(min_value=500, max_value=5000).map(lambda n: "[" * n + "]" * n)
    binary = st.binary(max_size=64).map(lambda b: b)
    return st.one_of(structured, st.text(max_size=300), json_values.map(json.dumps),
                     huge, deep, binary)


async def _attack(room: dict[str, Any], cookies: dict[str, bytes], frames: list[Any]) -> None:
    attacker = Socket(cookies["open"])
    bystander = Socket(cookies["secret"])
    assert await attacker.connect() and await bystander.connect()
    try:
        await attacker.hello()
        await bystander.hello()
        for frame in frames:
            if isinstance(frame, bytes):
                await attacker.send_bytes(frame)
            else:
                await attacker.send(frame)
        replies = await attacker.drain(0.15)
        for reply in replies:
            if reply["type"] == "error":
                assert reply["code"] in ERROR_CODES or reply["code"].isidentifier(), reply
                assert reply["code"] != "server_error", reply
        # the attacker's connection is alive...
        assert (await attacker.request({"type": "sync"}))["type"] == "ack"
        assert attacker.closed_code is None
        # ...and the bystander still gets live events
        message = await database_sync_to_async(post)(room, "moderator", "still fine")
        frame = await bystander.until(
            lambda f: f["type"] == "event" and f["data"].get("message", {}).get("id")
            == message.pk)
        assert frame["kind"] == "message.new"
    finally:
        await attacker.close()
        await bystander.close()


def test_fuzzed_frames_never_break_the_socket(room):
    from django.conf import settings as django_settings

    cookies = {who: session_cookie(room["users"][who]) for who in ("open", "secret")}
    limits = {"MESSAGING_FRAME_BURST": 10_000, "MESSAGING_FRAME_RATE_PER_SECOND": 10_000,
              "MESSAGING_USER_WRITES_PER_MINUTE": 100_000}
    for name, value in limits.items():
        setattr(django_settings, name, value)

    @settings(max_examples=30, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(frames=st.lists(_frames(room), min_size=1, max_size=12))
    def run(frames: list[Any]) -> None:
        loop.run_until_complete(_attack(room, cookies, frames))

    # One loop for every example: a Redis channel layer is bound to the loop it started on.
    loop = asyncio.new_event_loop()
    try:
        run()
    finally:
        loop.close()
        for name in limits:
            delattr(django_settings, name)
