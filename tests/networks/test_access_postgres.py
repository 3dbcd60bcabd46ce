"""PostgreSQL specifics of the access rule's SQL form."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import Message
from networks.access import filter_visible

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_the_space_ids_are_one_array_parameter(world):
    """psycopg re-parses statements of more than 50 parameters on every execution; a
    member of many spaces must not push every list and search past that."""
    user = world["users"]["member_secret"]
    sql, params = filter_visible(Message.objects.all(), user).query.sql_with_params()
    assert '"messaging_message"."space_id" = ANY(%s::bigint[])' in sql
    assert [world["space"].pk] in params
    assert " IN (%s" not in sql


@pytest.mark.parametrize(
    ("who", "levels"),
    [("member_open", [0]), ("member_restricted", [0, 1]), ("member_secret", [0, 1, 2, 3]),
     ("member_expired", [0]), ("non_member", [])],
)
def test_the_array_form_finds_exactly_the_visible_rows(world, who, levels):
    from messaging.services import message_post, topic_create

    author = world["users"]["member_secret"]
    topic = topic_create(space=world["space"], name="Ports", acting_user=author)
    by_level = {
        level: message_post(
            space=world["space"], topic=topic, body=f"m{level}", level=level, tlp="GREEN",
            acting_user=author,
        ).pk
        for level in range(4)
    }
    with CaptureQueriesContext(connection) as context:
        seen = set(
            filter_visible(Message.objects.all(), world["users"][who]).values_list(
                "pk", flat=True
            )
        )
    assert seen == {by_level[level] for level in levels}
    if levels:
        assert "= ANY(" in context.captured_queries[-1]["sql"]
