"""workspace/prepared.py: a query compiled once answers as its queryset does, every time.

Runs on SQLite, and on PostgreSQL in CI's second pass (the SQL and the parameter binding
differ between the two: datetimes and UUIDs are bound differently).
"""

import uuid
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.models import Message, Topic
from messaging.selectors import visible_topic
from messaging.services import message_post, topic_create
from networks.access import Action, access_space
from networks.models import Membership, MembershipStatus
from networks.services import membership_set
from tests.factories import SpaceFactory, UserFactory
from workspace.prepared import Prepared, PreparedInsert

pytestmark = pytest.mark.django_db


def _same_objects(got: list, expected: list) -> None:
    assert [type(o) for o in got] == [type(o) for o in expected]
    assert [o.pk for o in got] == [o.pk for o in expected]
    for a, b in zip(got, expected, strict=True):
        assert a.__dict__.keys() - {"_state"} == b.__dict__.keys() - {"_state"}
        for name in a.__dict__.keys() - {"_state"}:
            assert getattr(a, name) == getattr(b, name), name
        assert a._state.db == b._state.db and a._state.adding is b._state.adding is False
        assert a._state.fields_cache.keys() == b._state.fields_cache.keys()


@pytest.fixture
def members():
    space = SpaceFactory()
    other = SpaceFactory(network=space.network)
    admin = UserFactory(mfa=True)
    users = [UserFactory(mfa=i != 2) for i in range(4)]
    for i, user in enumerate(users):
        membership_set(space=space, user=user, clearance=i % 4, acting_user=admin)
    membership_set(space=other, user=users[0], clearance=1, acting_user=admin)
    return space, other, users


def _memberships(user_id, space_id):
    return (
        Membership.objects.select_related("space", "space__network")
        .filter(user_id=user_id, space_id=space_id, status=MembershipStatus.ACTIVE)
        .annotate(has_other=Exists(Membership.objects.filter(user_id=OuterRef("user_id"))
                                   .exclude(space_id=space_id)))
    )


def test_model_rows_with_related_objects_and_annotations_match_the_queryset(members):
    space, other, users = members
    prepared = Prepared(_memberships)
    for user in users:
        for space_id in (space.pk, other.pk, 10**9):
            got = prepared.list(user.pk, space_id)
            _same_objects(got, list(_memberships(user.pk, space_id)))
            for row in got:  # select_related filled in, as the queryset does
                assert row.space.network.pk == space.network.pk
                assert row.has_other == (user == users[0])


def test_the_sql_is_built_once_and_every_call_reads_the_database(members):
    space, _other, users = members
    built = []

    def build(user_id, space_id):
        built.append((user_id, space_id))
        return _memberships(user_id, space_id)

    prepared = Prepared(build)
    with CaptureQueriesContext(connection) as queries:
        for user in users:
            assert [m.user_id for m in prepared.list(user.pk, space.pk)] == [user.pk]
    assert len(built) == 1 and built[0] != (users[0].pk, space.pk)  # built from marks, once
    assert len(queries) == len(users)
    # A removal shows at the next call: nothing but the SQL is kept.
    Membership.objects.filter(user=users[1], space=space).update(status=MembershipStatus.REMOVED)
    assert prepared.list(users[1].pk, space.pk) == []


def test_values_rows_with_a_datetime_and_an_in_list_of_each_length():
    def build(now, *keys):
        return Session.objects.filter(session_key__in=keys, expire_date__gt=now).values_list(
            "session_key", "expire_date"
        )

    stores = []
    for days in (1, 2, -1):  # the last has expired
        store = SessionStore()
        store["n"] = days
        store.set_expiry(timedelta(days=days))
        store.create()
        stores.append(store.session_key)
    prepared = Prepared(build)
    now = timezone.now()
    for keys in (stores[:1], stores[:2], stores, ["missing"], stores[::-1]):
        got = sorted(prepared.list(now, *keys))
        assert got == sorted(build(now, *keys))
        assert stores[2] not in {key for key, _ in got}
    # A later "now" is a parameter too, not a constant of the SQL.
    assert prepared.list(now + timedelta(days=3), *stores) == []


def test_uuid_values_and_a_slice(members):
    space, _other, users = members
    topic = topic_create(space=space, name="Routes", acting_user=users[3])
    client_ids = [uuid.uuid4() for _ in range(3)]
    for client_id in client_ids:
        message_post(space=space, topic=topic, body="hello", level=0, tlp="GREEN",
                     client_id=client_id, acting_user=users[3])
    prepared = Prepared(
        lambda author_id, client_id: Message.objects.filter(
            author_id=author_id, client_id=client_id
        ).order_by("pk")[:1]
    )
    for client_id in [*client_ids, uuid.uuid4()]:
        expected = Message.objects.filter(author=users[3], client_id=client_id).first()
        assert prepared.first(users[3].pk, client_id) == expected
    assert prepared.first(users[0].pk, client_ids[0]) is None


def test_a_query_whose_value_is_not_a_parameter_runs_as_a_queryset(members):
    space, _other, users = members
    built = []

    def build(user_id, level):
        built.append(level)
        # The level decides the query's shape in Python: it never reaches the SQL.
        return Membership.objects.filter(user_id=user_id, clearance__gte=0 if level else 1)

    prepared = Prepared(build)
    for level in (0, 1, 0):
        expected = list(build(users[1].pk, level))
        assert [m.pk for m in prepared.list(users[1].pk, level)] == [m.pk for m in expected]
    # Compiled once, found not reusable, and from then on built per call (with the values).
    assert built[1] not in (0, 1)
    assert len(built) == 1 + 3 + 3


def _outcome(fn):
    try:
        return "rows", [row.pk for row in fn()]
    except Exception as exc:  # noqa: BLE001 - compared, not hidden
        return "error", type(exc)


def test_integers_beyond_a_parameter_range_get_the_orm_answer(members):
    space, _other, users = members
    prepared = Prepared(lambda user_id, space_id: Membership.objects.filter(
        user_id=user_id, space_id=space_id))
    assert len(prepared.list(users[0].pk, space.pk)) == 1
    for value in (2**40, 2**63 - 1, 2**63, -(2**63) - 1):
        assert _outcome(lambda v=value: prepared.list(users[0].pk, v)) == _outcome(
            lambda v=value: Membership.objects.filter(user_id=users[0].pk, space_id=v))


def test_shapes_are_capped(members):
    space, _other, users = members
    prepared = Prepared(lambda *ids: Membership.objects.filter(user_id__in=ids), shapes=2)
    for n in range(1, 5):
        ids = [u.pk for u in users[:n]]
        assert {m.user_id for m in prepared.list(*ids)} == set(ids)
    assert len(prepared._statements) == 2


def test_hostile_ids_at_the_prepared_access_checks(members):
    space, _other, users = members
    topic = topic_create(space=space, name="Routes", acting_user=users[3])
    user = users[3]
    assert access_space(user, space.pk, action=Action.VIEW).space_id == space.pk
    assert access_space(user, str(space.pk), action=Action.VIEW).space_id == space.pk
    for bad in ("x", None, "1; DROP TABLE networks_space", 2**70, -1, [space.pk]):
        with pytest.raises(PermissionDenied):
            access_space(user, bad, action=Action.VIEW)
    assert visible_topic(user=user, space_id=space.pk, topic_id=topic.pk) == topic
    for bad in ("x", None, 2**70, -1, topic.pk + 1000):
        with pytest.raises(Topic.DoesNotExist):
            visible_topic(user=user, space_id=space.pk, topic_id=bad)
    with pytest.raises(Topic.DoesNotExist):
        visible_topic(user=user, space_id=space.pk + 1000, topic_id=topic.pk)


def test_a_prefetching_queryset_runs_as_it_is(members):
    space, _other, users = members
    prepared = Prepared(lambda space_id: Membership.objects.filter(space_id=space_id)
                        .prefetch_related("user__memberships"))
    rows = prepared.list(space.pk)
    assert len(rows) == 4 and all("user" in r._prefetched_objects_cache or
                                  "memberships" in r.user._prefetched_objects_cache
                                  for r in rows)
    assert prepared._statements and all(v is None for v in prepared._statements.values())


def _counting_converters(monkeypatch):
    import threading

    from django.db.models.sql.compiler import SQLCompiler

    calls = []
    real = SQLCompiler.get_converters

    def counted(self, expressions):
        calls.append(threading.get_ident())
        return real(self, expressions)

    monkeypatch.setattr(SQLCompiler, "get_converters", counted)
    return calls


def test_converters_are_worked_out_once_and_rows_still_convert(members, monkeypatch):
    """A prepared run keeps its columns' converters (datetimes here): Django asked every
    field again at every run. The rows still match the queryset's."""
    import threading

    _, _, users = members
    prepared = Prepared(lambda user_id: Membership.objects.filter(user_id=user_id))
    calls = _counting_converters(monkeypatch)
    expected = list(Membership.objects.filter(user_id=users[1].pk))
    calls.clear()
    for _ in range(3):
        _same_objects(prepared.list(users[1].pk), expected)
    assert calls == [threading.get_ident()]  # the first run only


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_another_thread_works_out_its_own_converters(monkeypatch):
    """The converters belong to a thread's connection: a socket database thread works its
    own out once, and its rows match the queryset's."""
    import threading

    space = SpaceFactory()
    user = UserFactory(mfa=True)
    membership_set(space=space, user=user, clearance=1, acting_user=UserFactory(mfa=True))
    prepared = Prepared(lambda user_id: Membership.objects.filter(user_id=user_id))
    calls = _counting_converters(monkeypatch)
    expected = list(Membership.objects.filter(user_id=user.pk))
    calls.clear()
    _same_objects(prepared.list(user.pk), expected)
    found = {}

    def elsewhere():
        try:
            found["rows"] = [prepared.list(user.pk) for _ in range(2)]
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    for rows in found["rows"]:
        _same_objects(rows, expected)
    assert len(calls) == 2 and calls[0] != calls[1]  # once here, once there


# --- PreparedInsert ---------------------------------------------------------------------


_AT = timezone.now() - timedelta(days=3, microseconds=17)


def _event(space, seq, **extra):
    from messaging.models import Event, EventKind

    return Event(**{"space": space, "seq": seq, "kind": EventKind.MESSAGE_NEW, "level": 2,
                    "tlp": "AMBER", "created_at": _AT,
                    "payload": {"message": {"body": "ünïcode \x01 <b>", "ids": [1, 2]}},
                    **extra})


def _row(model, pk):
    row = model.objects.filter(pk=pk).values().get()
    row.pop("id")
    return row


def test_an_insert_writes_the_row_save_writes_and_returns_it_saved(members):
    from messaging.models import Event

    space, other, users = members
    saved = _event(space, 1, author=users[0])
    saved.save()
    inserted = PreparedInsert(Event).save(_event(other, 1, author=users[0]))
    assert isinstance(inserted.pk, int) and inserted.pk != saved.pk
    assert inserted._state.adding is False and inserted._state.db == "default"
    expected = _row(Event, saved.pk)
    expected["space_id"] = other.pk
    assert _row(Event, inserted.pk) == expected
    inserted.refresh_from_db()  # the object is the row
    assert inserted.payload == saved.payload and inserted.created_at == saved.created_at


def test_the_insert_sql_is_built_once_and_each_save_is_one_statement(members, monkeypatch):
    from django.db.models.sql.compiler import SQLInsertCompiler

    from messaging.models import Event

    space, _, users = members
    built = []
    as_sql = SQLInsertCompiler.as_sql
    monkeypatch.setattr(SQLInsertCompiler, "as_sql",
                        lambda self: built.append(1) or as_sql(self))
    prepared = PreparedInsert(Event)
    with CaptureQueriesContext(connection) as queries:
        pks = [prepared.save(_event(space, seq, author=users[seq % 4])).pk for seq in (1, 2, 3)]
    assert len(built) == 1
    assert len(queries) == 3 and all(q["sql"].startswith("INSERT") for q in queries)
    assert list(Event.objects.filter(space=space).values_list("pk", "seq", "author_id")) == [
        (pks[0], 1, users[1].pk), (pks[1], 2, users[2].pk), (pks[2], 3, users[3].pk)]


@pytest.mark.django_db(transaction=True)
def test_a_refused_insert_raises_changes_nothing_and_marks_the_block_for_rollback():
    """As save() does: the constraint's error reaches the caller, and the atomic block it
    happened in can only roll back."""
    from django.db import IntegrityError, transaction

    from messaging.models import Event

    space = SpaceFactory()
    prepared = PreparedInsert(Event)
    prepared.save(_event(space, 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        prepared.save(_event(space, 2))
        try:
            prepared.save(_event(space, 1))  # (space, seq) is taken
        finally:
            assert connection.needs_rollback
    assert list(Event.objects.filter(space=space).values_list("seq", flat=True)) == [1]
    with pytest.raises(IntegrityError):
        prepared.save(_event(space, 0))  # the check constraint: seq > 0
    with pytest.raises(ValueError, match="unsaved related object"):
        prepared.save(_event(space, 3, topic=Topic(space=space, name="never saved")))
    assert Event.objects.filter(space=space).count() == 1


def test_save_itself_runs_where_it_would_do_more(members):
    """A listener of post_save, an expression value, an object that is not new: save() is
    called, and does what it always does; a value the field refuses gets save()'s error."""
    from django.db.models.signals import post_save

    from messaging.models import Event

    space, _, _ = members
    prepared = PreparedInsert(Event)
    heard = []

    def listener(sender, instance, created, **kwargs):
        heard.append((instance.seq, created))

    post_save.connect(listener, sender=Event)
    try:
        event = prepared.save(_event(space, 1))
    finally:
        post_save.disconnect(listener, sender=Event)
    assert heard == [(1, True)]
    from django.db.models.functions import Now

    timed = prepared.save(_event(space, 2, created_at=Now()))  # the database's clock
    assert isinstance(Event.objects.get(pk=timed.pk).created_at, type(_AT))
    from django.db import transaction

    fresh = PreparedInsert(Event)
    for target in (prepared, fresh):  # compiled already; compiling with this object
        with pytest.raises(ValueError, match="expected a number"), transaction.atomic():
            try:
                target.save(_event(space, "three"))  # the field's own error
            finally:
                assert connection.needs_rollback  # as save() leaves the block
    assert fresh.save(_event(space, 3)).seq == 3
    assert list(fresh._statements.values()) != [None]  # not given up for a bad value
    event.kind = "message.edit"
    with CaptureQueriesContext(connection) as queries:
        prepared.save(event)  # saved already: save() updates it
    assert queries[0]["sql"].startswith("UPDATE")
    assert Event.objects.get(pk=event.pk).kind == "message.edit"
    assert Event.objects.filter(space=space).count() == 3
