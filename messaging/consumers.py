"""The `/ws/` socket: parse a frame, check access, call a service, send.

Delivery is exactly-once and in seq order per space because it never trusts the channel
layer for order or completeness: a doorbell says "space S reached seq N", and the socket
reads the events it may see after the last seq it has examined (`scanned[S]`) from the
database, with the access rule applied. Replay on `hello`, live doorbells, the periodic
poll and `sync` all go through `_catch_up`, under one asyncio.Lock.

One shortcut (`_rung`): a new message's doorbell carries its stored frame, and a socket
sends it without a read when it is the next seq (seqs are dense, so nothing was skipped)
and the database answered, less than a second ago, for both its session and its
membership in the space, by which the event's labels are judged; an event those labels
hide is passed over the same way. The process's watcher asks the database again for all
its sockets about once a second (`_HeadWatcher.refresh`, three queries). Revocation takes
effect within that second: the same bound as the session check, and an access ring drops
the remembered memberships at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError

from messaging import handlers, protocol
from messaging.app_settings import messaging_settings
from messaging.batching import batched, batched_group
from messaging.dbthreads import in_db_thread
from messaging.events import PRESENCE, TYPING, encode, event_frame, send_ephemeral, space_group
from messaging.selectors import visible_events_after, visible_events_after_many
from messaging.socket_auth import HANDSHAKE_SCOPE_KEY
from networks.access import ItemLabels, can_see_item, frame_user
from workspace import runtime_metrics
from workspace.realtime import user_group

# Frames that are the user's own activity: they refresh the session's idle timeout.
ACTIVE_FRAMES = frozenset({"post", "edit", "delete", "react", "read"})
SESSION_TOUCH_SECONDS = 60.0
# Each socket re-checks its spaces (membership, clearance) every this many polls.
RECHECK_EVERY_POLLS = 6

logger = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's own).
CLOSE_UNAUTHENTICATED = 4401  # no session, the session ended, or the account is disabled
CLOSE_FORBIDDEN = 4403  # authenticated, but no MFA set up or the session skipped its MFA step


class RealtimeConsumer(AsyncWebsocketConsumer):
    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch, without its `aclose_old_connections()` before every message.

        That call is a hop to the process's one thread-sensitive thread, to tidy the
        connection *that* thread holds. This consumer never touches the database there:
        its reads and writes run on the socket database threads (messaging/dbthreads.py),
        which look after their own connections. With a doorbell reaching 500 sockets, the
        500 hops queued one behind another on that single thread.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        started = time.perf_counter()
        try:
            await handler(message)
        finally:
            runtime_metrics.handled(message["type"], time.perf_counter() - started)

    # --- connection -------------------------------------------------------------

    async def connect(self) -> None:
        self.limits = messaging_settings()
        self.scanned: dict[int, int] = {}  # space id -> last seq examined (delivered or hidden)
        self.clearance: dict[int, int] = {}  # a hint to skip doorbells; never decides delivery
        # space id -> (loop time of a read, the membership it found or None): younger than
        # the session check's interval, it decides a rung event (`_rung`).
        self.memberships: dict[int, tuple[float, Any]] = {}
        self.lock = asyncio.Lock()
        self.hello_done = False
        self.closed = False
        self.watcher: _HeadWatcher | None = None  # the process's poll, after hello
        self.access_version = 0  # bumped by each own re-check: a stale batch result yields
        self.bucket = protocol.TokenBucket(
            rate=self.limits.frame_rate_per_second, burst=self.limits.frame_burst
        )
        user = self.scope.get("user")
        session = self.scope.get("session")
        await self.accept()  # accept first, so the browser sees our close code
        if user is None or not user.is_authenticated or session is None:
            await self._close(CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.user_id = user.pk
        self.session_key = session.session_key
        self.session_checked_at = 0.0
        self.session_touched_at = 0.0
        # The handshake checked the session as `_session_valid` does, and read the MFA
        # check with the user: an authenticator, and this session's own MFA step
        # (messaging/socket_auth.py, handlers._session_user): nothing to read again. Without
        # its answers (an app built without that middleware) nothing was checked.
        handshake = self.scope.get(HANDSHAKE_SCOPE_KEY)
        if handshake is None:
            await self._close(CLOSE_UNAUTHENTICATED)
            return
        self.user = handshake["user"]
        self.session_checked_at = handshake["at"]
        if not handshake["mfa"]:
            await self._close(CLOSE_FORBIDDEN)
            return
        await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if self.watcher is not None:
            self.watcher.discard(self)
        if not hasattr(self, "user_id"):
            return
        await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)
        for space_id in list(self.scanned):
            await self.channel_layer.group_discard(space_group(space_id), self.channel_name)
            with contextlib.suppress(Exception):  # presence is best effort
                await self._presence(space_id, "offline")

    async def _close(self, code: int) -> None:
        if not self.closed:
            self.closed = True
            await self.close(code=code)

    async def send_json(self, content: dict[str, Any]) -> None:
        if not self.closed:
            await self.send(text_data=encode(content))

    # --- session and access -------------------------------------------------------

    async def _session_valid(self, *, force: bool = False) -> bool:
        """The socket's own session still exists and is this active user's; at most 1 s old."""
        loop = asyncio.get_running_loop()
        if not force and loop.time() - self.session_checked_at < self.limits.session_check_seconds:
            return True
        user = await batched_group(
            handlers.session_users, None, (self.session_key, self.user_id)
        )
        if user is None:
            await self._close(CLOSE_UNAUTHENTICATED)
            return False
        self.user = user  # fresh: is_active and the rest come from the database
        self.session_checked_at = loop.time()
        return True

    # --- inbound frames -----------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closed:
            return
        ref = None
        try:
            if text_data is None:
                raise protocol.ProtocolError("invalid_frame", "Frames are JSON text.")
            if not self.bucket.take():
                raise protocol.ProtocolError("rate_limited", "Too many frames; slow down.")
            data = protocol.decode(text_data, max_bytes=self.limits.max_frame_bytes)
            ref = protocol.ref_of(data)
            frame = protocol.parse(data)
            # Every frame re-checks the session first; a write frame does it in the same
            # database call as the write (`_write`), and hello with its spaces
            # (`_on_hello`), before anything else.
            if (
                frame.type not in ACTIVE_FRAMES
                and frame.type != "hello"
                and not await self._session_valid(force=True)
            ):
                return
            if frame.type != "hello" and not self.hello_done:
                raise protocol.ProtocolError("hello_required", "Send hello first.", ref)
            await getattr(self, f"_on_{frame.type}")(frame)
        except protocol.ProtocolError as exc:
            await self.send_json(protocol.error_frame(exc.code, exc.message, exc.ref or ref))
        except PermissionDenied:
            await self.send_json(protocol.error_frame("forbidden", "Not allowed.", ref))
        except ObjectDoesNotExist:
            await self.send_json(protocol.error_frame("not_found", "Not found.", ref))
        except ValidationError as exc:
            code = getattr(exc, "code", None) or "invalid"
            await self.send_json(protocol.error_frame(str(code), " ".join(exc.messages), ref))
        except Exception:
            logger.exception("realtime frame failed")
            await self.send_json(protocol.error_frame("server_error", "Something went wrong.", ref))

    async def _ack(self, frame: protocol.Frame, **extra: Any) -> None:
        await self.send_json({"type": "ack", "ref": frame.client_id, "for": frame.type, **extra})

    async def _on_hello(self, frame: protocol.Frame) -> None:
        # The session check and the spaces, read together for the hellos of a batch (a
        # ramp of sockets connecting at once shares the trips).
        found = await batched_group(handlers.hello_many, None, (self.session_key, self.user_id))
        if found is None:
            await self._close(CLOSE_UNAUTHENTICATED)
            return
        self.user, spaces = found
        self.session_checked_at = asyncio.get_running_loop().time()
        if self.hello_done:
            raise protocol.ProtocolError(
                "already_hello", "hello was already sent.", frame.client_id
            )
        # Join the groups before reading the heads, so no doorbell can fall in between.
        for space_id in spaces:
            await self.channel_layer.group_add(space_group(space_id), self.channel_name)
        heads = await batched_group(handlers.heads_many, None, list(spaces))
        async with self.lock:
            self.clearance.update(spaces)
            for space_id, head in heads.items():
                self.scanned[space_id] = head
        self.hello_done = True
        denied = sorted(set(frame.resume) - set(spaces))
        for space_id, last_seq in sorted(frame.resume.items()):
            if space_id not in spaces:
                continue
            if last_seq > heads[space_id]:
                await self.send_json(
                    {
                        "type": "resync",
                        "space_id": space_id,
                        "seq": heads[space_id],
                        "reason": "unknown_seq",
                    }
                )
                continue
            async with self.lock:
                self.scanned[space_id] = last_seq
            await self._catch_up(space_id)
        await self._ack(
            frame, spaces={str(s): self.scanned.get(s, 0) for s in spaces}, denied=denied
        )
        for space_id in spaces:
            await self._presence(space_id, "online", ask=True)
        # Safety net for dropped doorbells and access rings: the process's poll
        # (`_HeadWatcher`) reads the heads for every socket, and now and then re-checks
        # every socket's spaces in one query.
        self.watcher = _HeadWatcher.for_loop(self.limits.poll_seconds)
        self.watcher.add(self)

    async def _on_sync(self, frame: protocol.Frame) -> None:
        if frame.space_id is not None and frame.space_id not in self.scanned:
            raise PermissionDenied
        for space_id in [frame.space_id] if frame.space_id else list(self.scanned):
            await self._catch_up(space_id)
        await self._ack(frame, spaces={str(s): v for s, v in self.scanned.items()})

    async def _write(self, fn: Any, frame: protocol.Frame) -> None:
        """Check the session, run the write (fresh access check inside), deliver its
        event, then ack."""
        # Writing over the socket is the user's own activity: it keeps the session alive,
        # pushed forward in the write's own trip, at most once a minute.
        loop = asyncio.get_running_loop()
        touch = loop.time() - self.session_touched_at >= SESSION_TOUCH_SECONDS
        user, result = await in_db_thread(handlers.checked_write)(
            fn, (self.session_key, self.user_id), frame, touch=touch
        )
        if user is None:
            await self._close(CLOSE_UNAUTHENTICATED)
            return
        if touch:
            self.session_touched_at = loop.time()
        self.user = user
        self.session_checked_at = loop.time()
        own = result.pop(handlers.OWN_EVENT, None)
        if frame.space_id in self.scanned:
            # The writer sees its own event at once: straight from the write when it is the
            # next one this socket has to deliver, else by reading. A post's seq has
            # committed, with every seq before it (assigned under the space's row lock): a
            # doorbell's window, so the read joins the other sockets' batch and skips the
            # head query.
            if own is None or not await self._deliver_own(frame.space_id, *own):
                upto = result.get("seq") if isinstance(result.get("seq"), int) else None
                await self._catch_up(frame.space_id, upto=upto)
        await self._ack(frame, **result)

    async def _deliver_own(self, space_id: int, seq: int, text: str) -> bool:
        """Send the writer's own new event without a read, if nothing lies between the
        last seq this socket examined and it; False when something may (read instead).

        The author may see their own event: the write checked, in its transaction, the
        membership, the level against their clearance, and the topic (a note's discussion
        included); TLP:RED items are always visible to their author.
        """
        async with self.lock:
            after = self.scanned.get(space_id)
            if after is None or self.closed or after >= seq:
                return True  # unsubscribed meanwhile, closed, or a doorbell delivered it
            if after != seq - 1:
                return False
            await self.send(text_data=text)
            self.scanned[space_id] = seq
            return True

    async def _on_post(self, frame: protocol.Frame) -> None:
        await self._write(handlers.post, frame)

    async def _on_edit(self, frame: protocol.Frame) -> None:
        await self._write(handlers.edit, frame)

    async def _on_delete(self, frame: protocol.Frame) -> None:
        await self._write(handlers.delete, frame)

    async def _on_react(self, frame: protocol.Frame) -> None:
        await self._write(handlers.react, frame)

    async def _on_read(self, frame: protocol.Frame) -> None:
        await self._write(handlers.read, frame)

    async def _on_typing(self, frame: protocol.Frame) -> None:
        assert frame.space_id is not None
        who = await in_db_thread(handlers.typing)(self.user, frame)
        await send_ephemeral(
            frame.space_id,
            {
                "type": TYPING,
                "space_id": frame.space_id,
                "topic_id": frame.topic_id,
                "user": who,
                "origin": self.channel_name,
            },
        )

    # --- delivery -----------------------------------------------------------------

    async def _catch_up(self, space_id: int, upto: int | None = None) -> None:
        """Send every visible event after scanned[space_id], in order, exactly once.

        `upto`: a seq known to be committed with everything before it (a doorbell's).

        When the session check is due (at most 1 s old, `_session_valid`), it runs beside
        the read, in the same batch and thread hop, and nothing is sent unless it passes:
        a doorbell's sockets then share one read instead of splitting into those that
        checked first and those that did not.
        """
        loop = asyncio.get_running_loop()
        check = None
        if loop.time() - self.session_checked_at >= self.limits.session_check_seconds:
            check = asyncio.ensure_future(self._session_valid())
        try:
            await self._catch_up_checked(space_id, upto, check)
        finally:
            if check is not None and not check.done():
                with contextlib.suppress(Exception):
                    await check  # an early return: the check still closes an ended session

    async def _catch_up_checked(
        self, space_id: int, upto: int | None, check: asyncio.Future[bool] | None
    ) -> None:
        async with self.lock:
            after = self.scanned.get(space_id)
            if after is None or self.closed:
                return
            if upto is not None and upto <= after:
                return
            read_at, version = asyncio.get_running_loop().time(), self.access_version
            if upto is not None:
                # A doorbell: the sockets of the space that ask within one batching window
                # share one read, whatever their own last seq.
                batch = await batched_group(
                    _frames_after_group,
                    (space_id, self.limits.resync_gap),
                    (self.user, after, upto),
                )
            else:
                batch = await batched(
                    _frames_after, self.user, space_id, after, self.limits.resync_gap, upto
                )
            if check is not None and not await check:
                return  # the session ended: closed, nothing sent
            if self.closed:
                return
            if batch.membership_read and version == self.access_version:
                self.memberships[space_id] = (read_at, batch.membership)
            if batch.overflow:
                await self.send_json(
                    {"type": "resync", "space_id": space_id, "seq": batch.head, "reason": "gap"}
                )
            else:
                for text in batch.texts:  # encoded once per event, not per socket
                    if self.closed:
                        break
                    await self.send(text_data=text)
            self.scanned[space_id] = max(after, batch.head)

    async def space_event(self, message: dict[str, Any]) -> None:
        """Doorbell: space S reached seq N. Duplicates and hidden events cost no query."""
        space_id, seq = message["space_id"], message["seq"]
        if self.scanned.get(space_id, seq) >= seq:
            return
        hidden = message["level"] > self.clearance.get(space_id, -1) or (
            message["tlp"] == "RED"
            and self.user_id != message["author_id"]
            and (self.user_id not in message["recipient_ids"])
        )
        if await self._rung(message, None if hidden else message.get("text")):
            return
        if hidden:
            return  # left unscanned: the next catch-up skips it in SQL
        await self._catch_up(space_id, upto=seq)

    async def _rung(self, message: dict[str, Any], text: str | None) -> bool:
        """Do what the read would do for a rung event, without the read, when this socket
        knows enough; False when the read must decide.

        - It is the next seq after the last one this socket examined: seqs are dense
          (assigned under the space's row lock, rolled back with their transaction), so
          no event lies between, and the doorbell rang after its commit.
        - The database answered less than `session_check_seconds` ago that the session
          holds and what the membership is (a batched read's or the watcher's refresh's
          `delivery_memberships`: active, MFA, active account; None when there is none).
        - The event's labels are judged against it by `can_see_item`, the read's own rule:
          hidden, it is passed over (examined, nothing sent); visible, its frame is sent.
          Only events judged by their labels alone carry a frame (messaging/events.py);
          the others are read (`text` None).
        """
        space_id, seq = message["space_id"], message["seq"]
        labels = ItemLabels(
            space_id=space_id,
            level=message["level"],
            tlp=message["tlp"],
            author_id=message["author_id"],
            recipient_ids=frozenset(message["recipient_ids"]),
        )
        fresh_for = self.limits.session_check_seconds
        async with self.lock:
            now = asyncio.get_running_loop().time()
            read_at, membership = self.memberships.get(space_id, (None, None))
            if (
                self.closed
                or self.scanned.get(space_id) != seq - 1
                or now - self.session_checked_at >= fresh_for
                or read_at is None
                or now - read_at >= fresh_for
            ):
                return False
            if membership is None or not can_see_item(membership, labels):
                self.scanned[space_id] = seq  # hidden from this socket: nothing to send
                return True
            if text is None:
                return False
            await self.send(text_data=text)
            self.scanned[space_id] = seq
            return True

    # --- revocation -----------------------------------------------------------------

    async def access_changed(self, message: dict[str, Any]) -> None:
        """The user's rights changed (networks, accounts): re-check session and spaces now."""
        self.access_version += 1  # a read in flight no longer speaks for the membership
        self.memberships.clear()  # rung events wait for the next read
        if not await self._session_valid(force=True):
            return
        if not await in_db_thread(handlers.has_mfa)(self.user):
            await self._close(CLOSE_FORBIDDEN)
            return
        if self.hello_done:
            await self._recheck_spaces(message.get("space_id"))

    async def _recheck_spaces(self, only: int | None) -> None:
        self.access_version += 1
        spaces = await in_db_thread(handlers.visible_spaces)(self.user)
        await self._apply_spaces(spaces, only)

    async def _apply_spaces(self, spaces: dict[int, int], only: int | None) -> None:
        """Bring the subscriptions in line with {space id: clearance in effect}, read
        fresh: leave, join or re-subscribe, each with a `resync` frame."""
        candidates = {only} if only is not None else set(self.scanned) | set(spaces)
        for space_id in sorted(candidates):
            now = spaces.get(space_id)
            if now != self.clearance.get(space_id):
                self.memberships.pop(space_id, None)
            if space_id in self.scanned and now is None:
                async with self.lock:
                    self.scanned.pop(space_id, None)
                    self.clearance.pop(space_id, None)
                await self.channel_layer.group_discard(space_group(space_id), self.channel_name)
                await self.send_json(
                    {"type": "resync", "space_id": space_id, "seq": None, "reason": "access_ended"}
                )
            elif now is not None and (
                space_id not in self.scanned or self.clearance.get(space_id) != now
            ):
                reason = "access_granted" if space_id not in self.scanned else "clearance_changed"
                await self.channel_layer.group_add(space_group(space_id), self.channel_name)
                head = (await in_db_thread(handlers.heads)([space_id]))[space_id]
                async with self.lock:
                    self.scanned[space_id] = head
                    self.clearance[space_id] = now
                await self.send_json(
                    {"type": "resync", "space_id": space_id, "seq": head, "reason": reason}
                )

    # --- notifications (workspace/notifications) ------------------------------------

    async def notification_count(self, message: dict[str, Any]) -> None:
        """The user's unread notification count changed: forward the count, never text."""
        if await self._session_valid():  # an ended session gets nothing more (closes 4401)
            unread = await batched_group(_unread_notifications, None, self.user)
            await self.send_json({"type": "notification", "unread": unread})

    # --- ephemeral: typing and presence ---------------------------------------------

    async def _presence(
        self, space_id: int, state: str, *, ask: bool = False, to: str | None = None
    ) -> None:
        """`ask`: the other connections of the space answer this one (`to` its channel)
        with their own `online`, so a newcomer learns who is already there."""
        message = {
            "type": PRESENCE,
            "space_id": space_id,
            "state": state,
            "user": {"id": self.user_id, "name": handlers.display_name(self.user)},
            "origin": self.channel_name,
            "ask": ask,
        }
        if to is None:
            await send_ephemeral(space_id, message)
        else:
            await self.channel_layer.send(to, message)

    async def space_typing(self, message: dict[str, Any]) -> None:
        if message["space_id"] in self.scanned and message["origin"] != self.channel_name:
            await self.send_json(
                {
                    "type": "typing",
                    "space_id": message["space_id"],
                    "topic_id": message["topic_id"],
                    "user": message["user"],
                }
            )

    async def space_presence(self, message: dict[str, Any]) -> None:
        space_id = message["space_id"]
        if space_id not in self.scanned or message["origin"] == self.channel_name or self.closed:
            return
        await self.send_json(
            {
                "type": "presence",
                "space_id": space_id,
                "state": message["state"],
                "user": message["user"],
            }
        )
        with contextlib.suppress(Exception):  # presence is best effort
            if message["state"] == "online" and message.get("ask"):
                # A newcomer: tell it that this connection is here too (to it alone).
                await self._presence(space_id, "online", to=message["origin"])
            elif message["state"] == "offline" and message["user"]["id"] == self.user_id:
                # Another tab of this user closed; this one is still here.
                await self._presence(space_id, "online")


class _HeadWatcher:
    """One poll per process (per event loop) instead of one per socket.

    Every `interval` seconds it reads the heads of all spaces its sockets follow in one
    query and wakes each socket that is behind with `_catch_up(space, upto=head)`, the
    same path as a doorbell (a head read from the database has committed, with every
    seq before it). With N sockets that is one query per interval, not N.

    Every `RECHECK_EVERY_POLLS` intervals it also re-checks every socket's spaces
    (membership, grant, clearance, MFA), in case an access ring was dropped: one query
    for all the sockets (`handlers.visible_spaces_many`), not two per socket. A socket
    that re-checked on its own meanwhile (an access ring) keeps its own, newer answer.
    """

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _HeadWatcher] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.sockets: set[RealtimeConsumer] = set()
        self.task: asyncio.Task[None] | None = None
        self.refresher: asyncio.Task[None] | None = None
        self.ticks = 0

    @classmethod
    def for_loop(cls, interval: float) -> _HeadWatcher:
        loop = asyncio.get_running_loop()
        watcher = cls._by_loop.get(loop)
        if watcher is None:
            watcher = cls._by_loop[loop] = cls(interval)
        watcher.interval = min(watcher.interval, interval)
        return watcher

    def add(self, socket: RealtimeConsumer) -> None:
        self.sockets.add(socket)
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())
        if self.refresher is None or self.refresher.done():
            self.refresher = asyncio.ensure_future(self._refresh_run(socket.limits))

    def discard(self, socket: RealtimeConsumer) -> None:
        self.sockets.discard(socket)

    async def _run(self) -> None:
        while self.sockets:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("realtime poll failed")

    async def _refresh_run(self, limits: Any) -> None:
        # Often enough that the next answer lands before the last one expires (it lasts
        # the session check's interval from when it was read); a doorbell that finds none
        # fresh reads. The pause allows for the refresh's own duration (`refresh_pause`).
        loop = asyncio.get_running_loop()
        took = 0.0
        while self.sockets:
            await asyncio.sleep(refresh_pause(limits.session_check_seconds, took))
            started = loop.time()
            try:
                await self.refresh([s for s in self.sockets if s.hello_done and not s.closed])
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("realtime access refresh failed")
            took = loop.time() - started

    async def refresh(self, sockets: list[RealtimeConsumer]) -> None:
        """Ask the database again, for every socket at once, whether its session holds
        and what its membership in each of its spaces is: what `_rung` judges rung events
        by. A socket whose session ended is closed (4401), as its own check would. A
        socket that re-checked its access meanwhile (a ring) ignores this answer, read
        before it."""
        if not sockets:
            return
        read_at = asyncio.get_running_loop().time()
        versions = [s.access_version for s in sockets]
        # On a thread of its own: an answer is worth something for one second only, and
        # queued behind the sockets' read batches it arrived stale (the load test's
        # 1,500-user hold: refreshes of 750 sockets took 0.5-1.5 s, so doorbells read).
        found = await in_db_thread(handlers.fresh_access_many, own="ws-refresh")(
            [(s.session_key, s.user_id, sorted(s.scanned)) for s in sockets]
        )
        for socket, version, (held, memberships) in zip(sockets, versions, found, strict=True):
            if socket.closed:
                continue
            if not held:
                await socket._close(CLOSE_UNAUTHENTICATED)
                continue
            if version != socket.access_version:
                continue
            # The socket keeps its user object: the session held on that user's current
            # password hash, and frames read their user afresh (`checked_write`).
            socket.session_checked_at = max(socket.session_checked_at, read_at)
            for space_id, membership in memberships.items():
                if space_id in socket.scanned:
                    socket.memberships[space_id] = (read_at, membership)

    async def tick(self) -> None:
        sockets = [s for s in self.sockets if not s.closed]
        await self.catch_up(sockets)
        self.ticks += 1
        if self.ticks % RECHECK_EVERY_POLLS == 0:
            await self.recheck(sockets)

    async def recheck(self, sockets: list[RealtimeConsumer]) -> None:
        ready = [s for s in sockets if s.hello_done and not s.closed]
        if not ready:
            return
        versions = [s.access_version for s in ready]
        found = await in_db_thread(handlers.visible_spaces_many)([s.user for s in ready])
        results = await asyncio.gather(
            *(
                socket._apply_spaces(spaces, None)
                for socket, version, spaces in zip(ready, versions, found, strict=True)
                if socket.access_version == version and not socket.closed
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, Exception):
                logger.error("realtime access re-check failed", exc_info=result)

    async def catch_up(self, sockets: list[RealtimeConsumer]) -> None:
        spaces = sorted({space_id for s in sockets for space_id in s.scanned})
        if not spaces:
            return
        heads = await in_db_thread(handlers.heads)(spaces)
        behind = [
            socket._catch_up(space_id, upto=head)
            for socket in sockets
            for space_id, scanned in list(socket.scanned.items())
            if (head := heads.get(space_id, 0)) > scanned
        ]
        for result in await asyncio.gather(*behind, return_exceptions=True):
            if isinstance(result, Exception):
                logger.error("realtime poll catch-up failed", exc_info=result)


def refresh_pause(interval: float, took: float) -> float:
    """The watcher's pause between access refreshes. An answer is read when a refresh
    starts and lasts `interval` from then; the next one is ready a pause and a refresh
    later. So with refreshes of about `took` seconds, the pause leaves room for two of
    them within nine tenths of the interval (at least a twentieth of it, so a slow
    database is not asked without pause): at 1 s and refreshes of 50 ms, 0.8 s. A fixed
    0.9 s left each answer expired for 2 x took - 0.1 s of every cycle before the next
    landed: a third of the time with the refreshes of up to 250 ms (1,000 sockets) that
    the load test's 2,000-user hold saw."""
    return max(interval * 0.05, interval * 0.9 - 2 * took)


def _unread_notifications(_key: None, users: list[Any]) -> list[int]:
    """The unread counts of the sockets a count ring reached in one batch (a new document
    rings a whole space): three queries for all of them, not three each."""
    from workspace.notifications.selectors import unread_counts

    return unread_counts(users)


class _Frames:
    """A socket's catch-up: its event frames as JSON text, ready to send, and the
    membership the read found, when it looked it up (`EventBatch`)."""

    def __init__(
        self,
        head: int,
        texts: list[str],
        overflow: bool,
        membership: Any = None,
        membership_read: bool = False,
    ) -> None:
        self.head, self.texts, self.overflow = head, texts, overflow
        self.membership, self.membership_read = membership, membership_read


def _frames_after(
    user: Any, space_id: int, after: int, limit: int, upto: int | None = None
) -> _Frames:
    # One user object for the call (networks.access.frame_user): the MFA check and the
    # memberships are read once for both filters, and afresh at the next call.
    batch = visible_events_after(
        user=frame_user(user), space_id=space_id, after_seq=after, limit=limit, upto=upto
    )
    return _Frames(batch.head, [encode(event_frame(e)) for e in batch.events], batch.overflow)


def _frames_after_group(key: tuple[int, int], items: list[tuple[Any, int, int]]) -> list[_Frames]:
    """`_frames_after` for every socket of a space waiting on a doorbell in one batch:
    (user, last seq examined, a committed head). Each socket's head is committed with
    every seq before it, so the newest of them is too, and every socket reads up to it.
    Each event is serialised to JSON once, however many sockets receive it."""
    space_id, limit = key
    upto = max(head for _, _, head in items)
    batches = visible_events_after_many(
        windows=[(user, after) for user, after, _ in items],
        space_id=space_id,
        limit=limit,
        upto=upto,
    )
    texts: dict[int, str] = {}
    result = []
    for batch in batches:
        for event in batch.events:
            if event.pk not in texts:
                texts[event.pk] = encode(event_frame(event))
        result.append(
            _Frames(
                batch.head,
                [texts[e.pk] for e in batch.events],
                batch.overflow,
                batch.membership,
                batch.membership_read,
            )
        )
    return result
