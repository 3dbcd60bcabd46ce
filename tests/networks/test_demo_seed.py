"""The living demo (`seed_demo`): fictional discussions in the four languages, marked so,
with quoting replies, reactions, mentions, levels and TLP within each author's clearance,
unread messages for the demo users, and documents; fast, and seeded once."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command

from documents.models import Document
from messaging import selectors
from messaging.models import Mention, Message, Reaction, Topic
from networks.clearance import level_rank
from networks.demo import DEMO_CONVERSATIONS, DEMO_USERS, MODERATOR
from networks.models import Space
from workspace.accounts.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_demo_creates_a_living_fictional_demo_once(settings):
    settings.DEBUG = True
    started = time.monotonic()
    call_command("seed_demo", "--if-empty", stdout=io.StringIO())
    assert time.monotonic() - started < 20, "seeding stays fast"

    demo_topics = Topic.objects.filter(name__regex=r"^\[D[EÉ]MO — fict")
    assert demo_topics.count() == len(DEMO_CONVERSATIONS)
    names = " ".join(demo_topics.values_list("name", flat=True))
    for word in ("fictional", "ficticio", "fictício", "fictif"):  # en, es, pt, fr
        assert word in names, word
    for topic in demo_topics:  # the first message says it too
        first = Message.objects.filter(topic=topic).order_by("seq").first()
        assert first is not None
        assert any(w in first.body for w in ("ictional", "icticio", "ictício", "ictif")), first

    messages = Message.objects.filter(topic__in=demo_topics)
    assert messages.filter(body__startswith="> ").exists(), "replies quote"
    assert Reaction.objects.filter(message__in=messages).count() >= 20
    assert Mention.objects.filter(message__in=messages).exists()
    assert set(messages.values_list("tlp", flat=True)) >= {"CLEAR", "GREEN", "AMBER"}
    assert set(messages.values_list("level", flat=True)) == {0, 1, 2, 3}
    clearance = {spec.email: level_rank(spec.clearance) for spec in DEMO_USERS if spec.role}
    for message in messages.select_related("author"):
        assert message.level <= clearance[message.author.email], message.body

    # The demo users find unread messages, and the moderator a mention waiting.
    moderator = User.objects.get(email=MODERATOR)
    space = Space.objects.get(slug="intelligence-cooperation")
    unread = selectors.unread_by_topic(user=moderator, space_id=space.pk)
    assert sum(unread.get(t.pk, 0) for t in demo_topics.filter(space=space)) >= 2
    olga = User.objects.get(email="open@demo.example")
    assert any(selectors.unread_by_topic(user=olga, space_id=space.pk).values())
    assert Document.objects.filter(title__startswith="[D").count() >= 3

    # Seeded once: --if-empty leaves an existing demo alone.
    out = io.StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    assert "skipped" in out.getvalue()
    assert Topic.objects.filter(name__regex=r"^\[D[EÉ]MO — fict").count() == len(DEMO_CONVERSATIONS)
