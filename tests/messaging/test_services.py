"""Service rules: every write checks access itself, validates hostile input, and stores
exactly one Event with the next seq of the space."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging import selectors, services
from messaging.models import Event, EventKind, Mention, Message, MessageRevision, Reaction
from networks.clearance import TLP
from networks.models import MembershipStatus
from networks.services import membership_set
from tests.factories import SpaceFactory
from tests.messaging.conftest import build_room, post
from workspace.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _codes(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.code


def test_post_stores_message_revision_and_event(room):
    message = post(room, "restricted", "**hi**", level=1, tlp=TLP.AMBER)
    assert message.rendered_html == "<p><strong>hi</strong></p>\n"
    assert message.revisions.count() == 1
    event = Event.objects.get(message=message)
    assert (event.kind, event.seq, event.level, event.tlp) == (
        EventKind.MESSAGE_NEW, message.seq, 1, TLP.AMBER)
    assert event.author_id == room["users"]["restricted"].pk


def test_seqs_are_consecutive_per_space(room):
    for i in range(5):
        post(room, "open", f"m{i}")
    seqs = list(Event.objects.filter(space=room["space"]).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert selectors.space_head(space_id=room["space"].pk) == seqs[-1]
    # the other space has its own sequence
    other = Event.objects.filter(space=room["other_space"])
    assert list(other.values_list("seq", flat=True)) == [1]


def test_seqs_without_update_returning(room, monkeypatch):
    """The fallback for a database without UPDATE ... RETURNING: increment, then read."""
    monkeypatch.setattr(services, "_can_update_returning", lambda connection: False)
    head = selectors.space_head(space_id=room["space"].pk)
    assert post(room, "open").seq == head + 1
    new_space = SpaceFactory(network=room["space"].network)  # no sequence row yet
    assert [services._next_seq(new_space.pk) for _ in range(3)] == [1, 2, 3]


def test_post_broadcasts_only_after_commit(room, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post(room, "open")
    # The doorbell, and the unread count pushed to the topic author, who follows the topic
    # (workspace/notifications).
    owners = [cb.__qualname__.split(".")[0] for cb in callbacks]
    assert owners == ["broadcast_on_commit", "push_counts_on_commit"]


@pytest.mark.parametrize(
    ("who", "kwargs", "code"),
    [
        ("open", {"level": 1}, "level_above_clearance"),
        ("restricted", {"level": 4}, "unknown_level"),
        ("restricted", {"level": -1}, "unknown_level"),
        ("restricted", {"level": True}, "unknown_level"),
        ("restricted", {"level": "1"}, "unknown_level"),
        ("open", {"tlp": "PURPLE"}, "unknown_tlp"),
        ("open", {"tlp": "red"}, "unknown_tlp"),
        ("open", {"body": "   "}, "empty_body"),
        ("open", {"body": ""}, "empty_body"),
        ("open", {"body": "x" * 20_001}, "body_too_long"),
        ("open", {"body": 42}, "invalid_body"),
        ("open", {"tlp": TLP.RED}, "no_recipients"),
    ],
)
def test_post_refuses_hostile_input(room, who, kwargs, code):
    args = {"body": "hello", "level": 0, "tlp": TLP.GREEN} | kwargs
    with pytest.raises(ValidationError) as excinfo:
        services.message_post(space=room["space"], topic=room["topic"], recipients=[],
                              client_id=uuid.uuid4(), acting_user=room["users"][who], **args)
    assert _codes(excinfo) == code
    assert not Message.objects.exists()


def test_expired_clearance_posts_only_at_the_lowest_level(room):
    from datetime import timedelta

    from django.utils import timezone

    user = room["users"]["secret"]
    membership_set(space=room["space"], user=user, clearance=3, acting_user=room["admin"],
                   clearance_expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationError):
        post(room, "secret", level=1)
    assert post(room, "secret", level=0).level == 0


@pytest.mark.parametrize(
    ("recipient", "level", "code"),
    [
        ("outsider", 0, "recipient_not_member"),
        ("no_mfa", 0, "recipient_not_member"),
        ("open", 2, "recipient_not_cleared"),
    ],
)
def test_red_recipients_must_be_cleared_members(room, recipient, level, code):
    with pytest.raises(ValidationError) as excinfo:
        post(room, "secret", level=level, tlp=TLP.RED, recipients=(room["users"][recipient],))
    assert _codes(excinfo) == code


def test_red_recipient_ids_are_validated(room):
    for bad in (["1"], [True], [999_999]):
        with pytest.raises(ValidationError):
            services.message_post(
                space=room["space"], topic=room["topic"], body="x", level=0, tlp=TLP.RED,
                recipients=bad, client_id=uuid.uuid4(), acting_user=room["users"]["secret"])


def test_recipients_only_for_red(room):
    with pytest.raises(ValidationError) as excinfo:
        post(room, "secret", tlp=TLP.AMBER, recipients=(room["users"]["open"],))
    assert _codes(excinfo) == "recipients_not_red"


def test_suspended_recipient_is_refused(room):
    user = room["users"]["confidential"]
    membership_set(space=room["space"], user=user, clearance=2,
                   status=MembershipStatus.SUSPENDED, acting_user=room["admin"])
    with pytest.raises(ValidationError):
        post(room, "secret", tlp=TLP.RED, recipients=(user,))


@pytest.mark.parametrize("who", ["observer", "outsider", "no_mfa"])
def test_who_may_not_post(room, who):
    with pytest.raises(PermissionDenied):
        post(room, who)


def test_topic_of_another_space_is_refused(room):
    with pytest.raises(PermissionDenied):
        post(room, "open", topic=room["other_topic"])


def test_retried_post_is_stored_once(room):
    client_id = uuid.uuid4()
    kwargs = dict(space=room["space"], topic=room["topic"], body="once", level=0,
                  tlp=TLP.GREEN, recipients=[], client_id=client_id,
                  acting_user=room["users"]["open"])
    first = services.message_post(**kwargs)
    again = services.message_post(**kwargs)
    assert first.pk == again.pk and again.idempotent_replay
    assert Message.objects.count() == 1
    assert Event.objects.filter(kind=EventKind.MESSAGE_NEW).count() == 1


def test_client_id_is_per_author_and_not_reusable_across_spaces(room):
    client_id = uuid.uuid4()
    services.message_post(space=room["space"], topic=room["topic"], body="a", level=0,
                          tlp=TLP.GREEN, client_id=client_id, acting_user=room["users"]["open"])
    # another author may use the same id
    services.message_post(space=room["space"], topic=room["topic"], body="b", level=0,
                          tlp=TLP.GREEN, client_id=client_id,
                          acting_user=room["users"]["restricted"])
    assert Message.objects.count() == 2


def test_a_retry_is_refused_by_the_constraint_and_gives_its_seq_back(room):
    """A retry is found by the (author, client_id) constraint, not by a read before the
    write: the second row is refused, its transaction gives the seq back, and the stored
    message is returned."""
    stored = post(room, "open", "once")
    head = selectors.space_head(space_id=room["space"].pk)
    again = services.message_post(
        space=room["space"], topic=room["topic"], body="once", level=0, tlp=TLP.GREEN,
        client_id=stored.client_id, acting_user=room["users"]["open"])
    assert again.pk == stored.pk and again.idempotent_replay
    assert not hasattr(again, "new_event")  # nothing to deliver: no event was stored
    assert Message.objects.count() == 1
    assert selectors.space_head(space_id=room["space"].pk) == head
    # the next post takes the next seq: no hole where the retry was refused
    after = post(room, "open", "next")
    assert after.seq == head + 1
    # the same id from another space is refused as a reused id
    membership_set(space=room["other_space"], user=room["users"]["open"], clearance=0,
                   acting_user=room["admin"])
    with pytest.raises(ValidationError) as excinfo:
        services.message_post(
            space=room["other_space"], topic=room["other_topic"], body="x", level=0,
            tlp=TLP.GREEN, client_id=stored.client_id, acting_user=room["users"]["open"])
    assert _codes(excinfo) == "client_id_reused"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_store_one_message_without_seq_gaps():
    """Real connections at once: every retry gets the one stored message, and the seqs of
    the space stay consecutive (a refused retry's seq was rolled back)."""
    room = build_room()
    client_id = uuid.uuid4()
    barrier = threading.Barrier(4)
    results: list[object] = []

    def retry() -> None:
        try:
            barrier.wait(timeout=10)
            message = services.message_post(
                space=room["space"], topic=room["topic"], body="once", level=0,
                tlp=TLP.GREEN, client_id=client_id, acting_user=room["users"]["open"])
            results.append(message.pk)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    stored = Message.objects.get(client_id=client_id)
    assert results == [stored.pk] * 4
    seqs = list(Event.objects.filter(space=room["space"]).order_by("seq")
                .values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    post(room, "open", "next")
    assert selectors.space_head(space_id=room["space"].pk) == len(seqs) + 1


# A plain post in a topic the poster already follows, whose other follower still has an
# unread reply: the access check (2: MFA, then the membership with its grant as an
# EXISTS), the retry lookup, the seq, the message, its revision, the topic's seq, the
# topic's note (none; this topic object was not read with it), the event, the followers;
# plus a savepoint pair, as the test runs inside a transaction. It was 22 before: the
# retry lookup ran twice, the seq took three statements, full_clean read the space,
# topic and author, and the notification hook four more.
PLAIN_POST_QUERIES = 12


def test_a_plain_post_costs_a_fixed_number_of_queries(room, django_assert_max_num_queries):
    post(room, "open", "first")  # open follows the topic; its author gets a reply
    with django_assert_max_num_queries(PLAIN_POST_QUERIES):
        post(room, "open", "second")
    # a follower with nothing unread is told: reading who may see it, and the insert
    post(room, "restricted", "third")
    with django_assert_max_num_queries(PLAIN_POST_QUERIES + 2):
        post(room, "open", "fourth")


def test_a_post_without_a_mention_looks_for_nobody(room, monkeypatch):
    looked = []
    monkeypatch.setattr(selectors, "mentionable_members", lambda **kw: looked.append(kw) or [])
    with CaptureQueriesContext(connection) as queries:
        post(room, "open", "no one named here, not even @someone or **bold**")
    assert looked == []
    assert not [q for q in queries if "messaging_mention" in q["sql"]]


def test_edit_keeps_every_revision(room):
    message = post(room, "open", "first")
    services.message_edit(message=message, body="second", acting_user=room["users"]["open"])
    services.message_edit(message=message, body="third", acting_user=room["users"]["open"])
    message.refresh_from_db()
    assert message.body == "third" and message.edited_at is not None
    assert list(MessageRevision.objects.filter(message=message)
                .values_list("number", "body")) == [(1, "first"), (2, "second"), (3, "third")]
    assert Event.objects.filter(message=message, kind=EventKind.MESSAGE_EDIT).count() == 2


def test_edit_with_same_body_is_a_no_op(room):
    message = post(room, "open", "same")
    services.message_edit(message=message, body="same", acting_user=room["users"]["open"])
    assert Event.objects.filter(kind=EventKind.MESSAGE_EDIT).count() == 0


@pytest.mark.parametrize("who", ["restricted", "moderator", "outsider"])
def test_only_the_author_edits(room, who):
    message = post(room, "open", "mine")
    with pytest.raises(PermissionDenied):
        services.message_edit(message=message, body="theirs", acting_user=room["users"][who])


def test_author_delete_leaves_tombstone_and_scrubs_old_events(room):
    message = post(room, "open", "regret")
    services.message_edit(message=message, body="regret more", acting_user=room["users"]["open"])
    services.message_delete(message=message, acting_user=room["users"]["open"])
    message.refresh_from_db()
    assert message.is_deleted and message.body == "" and message.rendered_html == ""
    for event in Event.objects.filter(message=message).exclude(kind=EventKind.MESSAGE_DELETE):
        assert "regret" not in str(event.payload)
    assert not AuditEvent.objects.filter(action="message.deleted_by_moderator").exists()
    with pytest.raises(ValidationError):
        services.message_edit(message=message, body="back", acting_user=room["users"]["open"])


def test_moderator_delete_is_audited(room):
    message = post(room, "open", "rude")
    services.message_delete(message=message, acting_user=room["users"]["moderator"])
    audit = AuditEvent.objects.get(action="message.deleted_by_moderator")
    assert audit.actor_id == room["users"]["moderator"].pk
    assert audit.target == f"message:{message.pk}"


def test_moderator_cannot_delete_what_they_cannot_see(room):
    # The moderator has SECRET clearance but is not a TLP:RED recipient.
    message = post(room, "secret", "eyes only", tlp=TLP.RED,
                   recipients=(room["users"]["confidential"],))
    with pytest.raises(PermissionDenied):
        services.message_delete(message=message, acting_user=room["users"]["moderator"])


@pytest.mark.parametrize("who", ["restricted", "observer"])
def test_non_moderators_cannot_delete_others_messages(room, who):
    message = post(room, "open", "keep")
    with pytest.raises(PermissionDenied):
        services.message_delete(message=message, acting_user=room["users"][who])


def test_reactions_toggle_and_are_idempotent(room):
    message = post(room, "open")
    user = room["users"]["restricted"]
    assert services.reaction_toggle(message=message, emoji="+1", acting_user=user) is True
    assert services.reaction_toggle(message=message, emoji="+1", acting_user=user,
                                    present=True) is True
    assert Reaction.objects.count() == 1
    assert services.reaction_toggle(message=message, emoji="+1", acting_user=user) is False
    kinds = list(Event.objects.filter(message=message).values_list("kind", flat=True))
    assert kinds == [EventKind.MESSAGE_NEW, EventKind.REACTION_ADD, EventKind.REACTION_REMOVE]
    # a no-op hands no seq out: the sequence has no holes
    seqs = list(Event.objects.filter(space=room["space"]).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


def test_reaction_rules(room):
    message = post(room, "confidential", level=2)
    with pytest.raises(ValidationError):
        services.reaction_toggle(message=message, emoji="<script>",
                                 acting_user=room["users"]["secret"])
    with pytest.raises(PermissionDenied):  # cannot see it
        services.reaction_toggle(message=message, emoji="+1", acting_user=room["users"]["open"])
    with pytest.raises(PermissionDenied):  # read-only
        services.reaction_toggle(message=message, emoji="+1",
                                 acting_user=room["users"]["observer"])


def test_mentions_notify_only_members_who_may_see(room):
    users = room["users"]
    users["open"].display_name = "Ana Open"
    users["open"].save()
    users["secret"].display_name = "Sam Secret"
    users["secret"].save()
    message = post(room, "confidential", "ping @**Ana Open** and @**sam secret** and "
                   f"@**{users['outsider'].email}**", level=2)
    assert list(Mention.objects.filter(message=message).values_list("user", flat=True)) == [
        users["secret"].pk]
    event = Event.objects.get(message=message)
    assert event.payload["message"]["mention_ids"] == [users["secret"].pk]
    assert selectors.unread_mentions(user=users["secret"], space_id=room["space"].pk) == 1


def test_read_markers_and_unread_counts(room):
    users = room["users"]
    post(room, "open", "one")
    post(room, "open", "two")
    post(room, "secret", "hidden", level=3)
    space_id = room["space"].pk
    assert selectors.unread_by_topic(user=users["restricted"], space_id=space_id) == {
        room["topic"].pk: 2}
    assert selectors.unread_by_topic(user=users["secret"], space_id=space_id) == {
        room["topic"].pk: 2}  # two of open's; not its own
    head = selectors.space_head(space_id=space_id)
    services.read_mark(topic=room["topic"], seq=head, acting_user=users["restricted"])
    assert selectors.unread_by_topic(user=users["restricted"], space_id=space_id) == {}
    # never backwards, and clamped to the head
    marker = services.read_mark(topic=room["topic"], seq=1, acting_user=users["restricted"])
    assert marker.last_seq == head
    marker = services.read_mark(topic=room["topic"], seq=10**9, acting_user=users["restricted"])
    assert marker.last_seq == head
    with pytest.raises(PermissionDenied):
        services.read_mark(topic=room["topic"], seq=1, acting_user=users["outsider"])


def test_topic_create_rules(room):
    users = room["users"]
    topic = services.topic_create(space=room["space"], name="  Precursors  ",
                                  acting_user=users["open"])
    assert topic.name == "Precursors"
    assert Event.objects.get(topic=topic, kind=EventKind.TOPIC_NEW).level == 0
    with pytest.raises(ValidationError):
        services.topic_create(space=room["space"], name="precursors", acting_user=users["open"])
    for bad in ("", "   ", "x" * 121, None):
        with pytest.raises(ValidationError):
            services.topic_create(space=room["space"], name=bad, acting_user=users["open"])
    with pytest.raises(PermissionDenied):
        services.topic_create(space=room["space"], name="Nope", acting_user=users["observer"])


@pytest.fixture
def one_minute(monkeypatch):
    """The write counter's key, held for the test: a test that crossed a minute's boundary
    counted afresh from it, and its last write was not refused."""
    key = f"messaging:writes:test:{uuid.uuid4().hex}"
    monkeypatch.setattr(services, "_rate_key", lambda user_id, now=None: key)
    return key


def test_the_write_counter_is_the_users_and_the_minutes():
    assert services._rate_key(7, 120.0) == services._rate_key(7, 179.9) == "messaging:writes:7:2"
    assert services._rate_key(7, 180.0) == "messaging:writes:7:3"  # a new minute
    assert services._rate_key(8, 120.0) != services._rate_key(7, 120.0)


def test_per_user_write_rate_is_limited(room, settings, one_minute):
    settings.MESSAGING_USER_WRITES_PER_MINUTE = 3
    for _ in range(3):
        post(room, "open")
    with pytest.raises(ValidationError) as excinfo:
        post(room, "open")
    assert _codes(excinfo) == "rate_limited"


def test_over_the_rate_limit_a_retry_of_a_stored_post_still_gets_its_message(
    room, settings, one_minute
):
    settings.MESSAGING_USER_WRITES_PER_MINUTE = 2
    first = post(room, "open", "stored")
    post(room, "open")
    again = services.message_post(
        space=room["space"], topic=room["topic"], body="stored", level=0, tlp=TLP.GREEN,
        client_id=first.client_id, acting_user=room["users"]["open"])
    assert again.pk == first.pk and again.idempotent_replay
    with pytest.raises(ValidationError) as excinfo:  # a new post is still refused
        post(room, "open")
    assert _codes(excinfo) == "rate_limited"


@pytest.mark.redis
def test_the_write_counter_on_redis_takes_one_round_trip_and_expires(settings, monkeypatch):
    """On Django's Redis cache, counting a write is one round trip (create the key if it is
    missing, then increment), and the count is the cache's own key, kept two minutes."""
    import redis
    from django.core.cache import cache

    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    sends = []
    real_send = redis.connection.Connection.send_packed_command

    def counted(self, command, *args, **kwargs):
        sends.append(command)
        return real_send(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counted)
    key = f"messaging:writes:test:{uuid.uuid4().hex}"
    assert [services._count_write(key) for _ in range(3)] == [1, 2, 3]
    assert len(sends) == 3  # one per write
    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", real_send)
    assert cache.get(key) == 3  # the cache reads it under its own prefix
    ttl = services._redis_client().ttl(cache.make_and_validate_key(key))
    assert 0 < ttl <= 120
    cache.delete(key)
    assert services._count_write(key) == 1  # gone (evicted, expired): counting starts again
