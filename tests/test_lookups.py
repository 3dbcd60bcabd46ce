"""`field__any_of` (workspace/lookups.py) answers as `field__in` does, on SQLite and on
PostgreSQL (where it is one array parameter: the same statement for any length)."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from networks.models import Membership

pytestmark = pytest.mark.django_db


def _check_same_answers(world) -> None:
    users = [u for u in world["users"].values() if u is not None]
    ids = [u.pk for u in users]
    spaces = list(Membership.objects.values_list("space_id", flat=True).distinct())
    for wanted_users, wanted_spaces in [
        (ids, spaces),
        (ids[:1], spaces[:1]),
        (ids + [10**12], spaces),  # an id that matches nothing
        ([], spaces),  # nothing: no row, as `in` gives
    ]:
        by_in = Membership.objects.filter(user_id__in=wanted_users, space_id__in=wanted_spaces)
        by_any = Membership.objects.filter(
            user_id__any_of=wanted_users, space_id__any_of=wanted_spaces
        )
        assert sorted(by_any.values_list("pk", flat=True)) == sorted(
            by_in.values_list("pk", flat=True)
        )
    # Excluded, too; and on a non-key text column.
    excluded = Membership.objects.exclude(user_id__any_of=ids[:2]).values_list("pk", flat=True)
    assert sorted(excluded) == sorted(
        Membership.objects.exclude(user_id__in=ids[:2]).values_list("pk", flat=True)
    )
    keys = [f"key-{i}" for i in range(3)]
    for key in keys:
        Session.objects.create(session_key=key, session_data="x",
                               expire_date=timezone.now() + timezone.timedelta(hours=1))
    found = Session.objects.filter(session_key__any_of=[*keys, "other"]).values_list(
        "session_key", flat=True
    )
    assert sorted(found) == keys


def test_any_of_answers_as_in_does(world):
    _check_same_answers(world)


@pytest.mark.postgres
def test_on_postgresql_any_of_is_one_array_parameter_for_any_length(world):
    _check_same_answers(world)
    statements = set()
    for n in (1, 5, 300):
        with CaptureQueriesContext(connection) as queries:
            list(Membership.objects.filter(user_id__any_of=list(range(1, n + 1))))
        sql = queries[0]["sql"]
        assert "= ANY(" in sql and " IN (" not in sql, sql
        statements.add(sql.split(" = ANY(", 1)[0])
    assert len(statements) == 1  # the same statement before the values, whatever the length
