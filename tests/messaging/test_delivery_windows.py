"""The doorbell batch read (`visible_events_after_many`): sockets with different last
seqs share one read up to one committed head, and each gets exactly what the per-user
SQL path (`visible_events_after`) gives for its own window."""

from __future__ import annotations

import itertools

import pytest

from messaging.selectors import space_head, visible_events_after, visible_events_after_many
from networks.clearance import TLP
from tests.messaging.conftest import post

pytestmark = pytest.mark.django_db


def _world(room):
    users = room["users"]
    post(room, "open", "a")
    post(room, "secret", "b", level=3)
    post(room, "moderator", "c", tlp=TLP.RED, recipients=(users["restricted"],))
    post(room, "confidential", "d", level=2)
    post(room, "restricted", "e", level=1)
    post(room, "secret", "f", tlp=TLP.RED, recipients=(users["open"], users["secret"]))
    return space_head(space_id=room["space"].pk)


def test_each_window_gets_what_the_per_user_query_gives(room):
    head = _world(room)
    space_id = room["space"].pk
    users = room["users"]
    people = ["open", "restricted", "confidential", "secret", "observer", "outsider", "no_mfa"]
    afters = [0, 2, head - 3, head - 1, head]
    windows = [(users[who], after) for who, after in itertools.product(people, afters)]
    batches = visible_events_after_many(windows=windows, space_id=space_id, limit=100, upto=head)
    assert len(batches) == len(windows)
    for (user, after), batch in zip(windows, batches, strict=True):
        alone = visible_events_after(
            user=user, space_id=space_id, after_seq=after, limit=100, upto=head
        )
        assert [e.pk for e in batch.events] == [e.pk for e in alone.events], (user, after)
        assert batch.head == head and not batch.overflow
    # The windows differ, and the levels and TLP:RED split them: not everybody got the same.
    assert len({tuple(e.pk for e in b.events) for b in batches}) > 5


def test_a_window_past_the_head_gets_nothing(room):
    head = _world(room)
    batch = visible_events_after_many(
        windows=[(room["users"]["secret"], head)], space_id=room["space"].pk, limit=100, upto=head
    )[0]
    assert batch.events == [] and batch.head == head


def test_an_overflowing_shared_read_falls_back_to_each_users_own_count(room):
    """The shared read starts at the lowest seq; when it is over the limit, each window
    is counted on its own, so a socket that is nearly up to date is not sent to resync."""
    head = _world(room)
    secret = room["users"]["secret"]
    far, near = (secret, 0), (secret, head - 1)
    batches = visible_events_after_many(
        windows=[far, near], space_id=room["space"].pk, limit=3, upto=head
    )
    assert batches[0].overflow
    assert not batches[1].overflow and len(batches[1].events) == 1
