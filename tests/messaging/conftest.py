"""Messaging fixtures: a space with members at every clearance, and real-session sockets."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from messaging import services
from networks.clearance import TLP
from networks.models import Role
from networks.services import membership_set
from tests.factories import SpaceFactory, UserFactory


def build_room() -> dict[str, Any]:
    """A space with one member per clearance, an observer, a moderator, an outsider, a topic."""
    space = SpaceFactory(name="Heron Working Group")
    other_space = SpaceFactory(network=space.network, name="Egret Working Group")
    admin = UserFactory(mfa=True)
    space.network.admins.add(admin)

    def member(clearance: int, role: str = Role.MEMBER, in_space: Any = space) -> Any:
        user = UserFactory(mfa=True)
        membership_set(space=in_space, user=user, role=role, clearance=clearance,
                       acting_user=admin)
        return user

    users = {
        "open": member(0),
        "restricted": member(1),
        "confidential": member(2),
        "secret": member(3),
        "observer": member(3, Role.OBSERVER),
        "moderator": member(3, Role.MODERATOR),
        "outsider": member(3, in_space=other_space),
        "no_mfa": UserFactory(mfa=False),
    }
    membership_set(space=space, user=users["no_mfa"], clearance=3, acting_user=admin)
    topic = services.topic_create(space=space, name="Routes", acting_user=users["moderator"])
    other_topic = services.topic_create(
        space=other_space, name="Elsewhere", acting_user=users["outsider"]
    )
    return {"space": space, "other_space": other_space, "topic": topic,
            "other_topic": other_topic, "users": users, "admin": admin}


@pytest.fixture
def room(db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return build_room()


def post(room: dict[str, Any], who: str, body: str = "hello", *, level: int = 0,
         tlp: str = TLP.GREEN, recipients: tuple = (), topic: Any = None) -> Any:
    return services.message_post(
        space=room["space"], topic=topic or room["topic"], body=body, level=level, tlp=tlp,
        recipients=[r.pk for r in recipients], client_id=uuid.uuid4(),
        acting_user=room["users"][who],
    )


def session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}".encode()


class Socket:
    """A WebsocketCommunicator on the full ASGI app (origin check, session auth), with a
    list of every frame received."""

    def __init__(self, cookie: bytes | None, origin: bytes = b"http://testserver") -> None:
        from workspace.asgi import application

        headers = [(b"origin", origin)]
        if cookie is not None:
            headers.append((b"cookie", cookie))
        self.communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
        self.frames: list[dict[str, Any]] = []
        self.closed_code: int | None = None

    async def connect(self) -> bool:
        connected, _ = await self.communicator.connect()
        return connected

    async def send(self, frame: dict[str, Any] | str) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        # send_input, not send_to: the latter refuses an empty frame, which a client may send.
        await self.communicator.send_input({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self.communicator.send_input({"type": "websocket.receive", "bytes": data})

    async def recv(self, timeout: float = 2.0) -> dict[str, Any] | None:
        """The next frame, or None on timeout; a close is recorded in closed_code."""
        # Not receive_output(): on a timeout it cancels the application.
        communicator = self.communicator
        if communicator.future.done() and communicator.output_queue.empty():
            communicator.future.result()  # re-raise the application's exception, if any
            return None
        try:
            output = await asyncio.wait_for(communicator.output_queue.get(), timeout)
        except TimeoutError:
            return None
        if output["type"] == "websocket.close":
            self.closed_code = output.get("code")
            return None
        frame = json.loads(output["text"])
        self.frames.append(frame)
        return frame

    async def until(self, predicate: Any, timeout: float = 3.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no matching frame; got {self.frames[-5:]}")
            frame = await self.recv(remaining)
            if frame is not None and predicate(frame):
                return frame
            if self.closed_code is not None:
                raise AssertionError(f"socket closed with {self.closed_code}")

    async def drain(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        """Receive until nothing arrives for `quiet` seconds."""
        got = []
        while True:
            frame = await self.recv(quiet)
            if frame is None:
                return got
            got.append(frame)

    async def hello(self, resume: dict[int, int] | None = None) -> dict[str, Any]:
        ref = str(uuid.uuid4())
        await self.send({"type": "hello", "client_id": ref,
                         "resume": {str(k): v for k, v in (resume or {}).items()}})
        return await self.until(lambda f: f.get("type") == "ack" and f.get("ref") == ref)

    async def request(self, frame: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
        """Send a frame with a fresh client_id; return its ack or error."""
        ref = frame.setdefault("client_id", str(uuid.uuid4()))
        await self.send(frame)
        return await self.until(
            lambda f: f.get("type") in ("ack", "error") and f.get("ref") == ref, timeout
        )

    def events(self, space_id: int | None = None) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "event"
                and (space_id is None or f["space_id"] == space_id)]

    async def close(self) -> None:
        await self.communicator.disconnect()


async def open_socket(user: Any, resume: dict[int, int] | None = None) -> Socket:
    cookie = await database_sync_to_async(session_cookie)(user)
    sock = Socket(cookie)
    assert await sock.connect()
    await sock.hello(resume)
    return sock
