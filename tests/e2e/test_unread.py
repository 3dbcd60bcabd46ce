"""Unread in a browser: the topic opens at the first unread message under a "New
messages" divider, and only what was on screen is marked read.

The defect this holds: a topic with 46 unread of 60 opened on the newest page, scrolled to
the top, with no divider, and counted every message before it as read.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from messaging import selectors, services
from messaging.models import Message, ReadMarker
from tests.e2e.helpers import assert_accessible, new_context, open_topic

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def busy_topic(world):  # type: ignore[no-untyped-def]
    """60 messages by others; the reader (member_open) has read the first 14."""
    users = world["users"]
    topic = services.topic_create(
        space=world["space"], name="Port routes", acting_user=users["moderator"]
    )
    authors = [users["moderator"], users["member_secret"], users["member_restricted"]]
    messages = [
        services.message_post(
            space=world["space"], topic=topic, body=f"Message {i + 1} about the convoy",
            level=0, tlp="GREEN", acting_user=authors[i % 3],
        )
        for i in range(60)
    ]
    services.read_mark(topic=topic, seq=messages[13].seq, acting_user=users["member_open"])
    return topic, messages


def _marker(user, topic) -> int:  # type: ignore[no-untyped-def]
    return ReadMarker.objects.filter(user=user, topic=topic).values_list(
        "last_seq", flat=True).first() or 0


def _wait_marker(user, topic, predicate, timeout: float = 8.0) -> int:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = _marker(user, topic)
        if predicate(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)  # polling the database for the page's POST, not a blind wait


def _on_screen_seqs(page) -> list[int]:  # type: ignore[no-untyped-def]
    return page.evaluate("""() => {
      const composer = document.querySelector(".composer");
      const bottom = Math.min(
        innerHeight, composer ? composer.getBoundingClientRect().top : innerHeight);
      return [...document.querySelectorAll('.message-list article[data-seq]')]
        .filter((a) => {
          const r = a.getBoundingClientRect();
          return r.bottom > 0 && r.bottom <= bottom + 1;
        })
        .map((a) => Number(a.dataset.seq));
    }""")


def test_a_topic_opens_at_the_first_unread_and_reads_only_what_was_seen(
    world, busy_topic, daphne_server, browser, browser_log
):
    topic, messages = busy_topic
    reader = world["users"]["member_open"]
    page = new_context(browser, daphne_server, browser_log, reader).new_page()
    page.set_viewport_size(DESKTOP)
    open_topic(page, world["space"].pk, topic.pk)

    # The page holding message 15, with the divider right before it, on screen.
    divider = page.locator(".message-list #first-unread")
    expect(divider).to_have_text("New messages")
    after = page.locator("#first-unread + article")
    expect(after).to_contain_text("Message 15 about")
    assert page.locator(".message-list article", has_text="Message 14 about").count() == 1
    box = divider.bounding_box()
    assert box is not None and 0 <= box["y"] < 300, f"the divider is at the top: {box}"
    expect(page.locator(".unread-bar")).to_contain_text("46 new messages")
    page.screenshot(path="/tmp/shots-chat/unread-1280.png")

    # Only what is on screen is read: the marker moves to the last message seen, and
    # the 30-odd below the fold stay unread.
    seen = _on_screen_seqs(page)
    assert seen and max(seen) < messages[40].seq
    marker = _wait_marker(reader, topic, lambda v: v >= max(seen))
    assert marker == max(seen), (marker, seen)
    unread = selectors.unread_by_topic(user=reader, space_id=world["space"].pk)[topic.pk]
    assert unread >= 60 - 14 - len(seen) - 1, unread

    # Reading on: scrolling to the end of this page reads up to its last message.
    page.keyboard.press("End")
    last_here = int(page.locator(".message-list article[data-seq]").last.get_attribute("data-seq"))
    assert _wait_marker(reader, topic, lambda v: v >= last_here) == last_here
    assert last_here < messages[-1].seq, "the newer page is not read yet"

    # "Jump to first unread" takes the reader back to the divider; "Mark all read" ends it.
    page.get_by_role("link", name="Jump to first unread").click()
    page.wait_for_function(
        "() => { const r = document.getElementById('first-unread').getBoundingClientRect();"
        " return r.top >= 0 && r.top < 300; }"
    )
    assert_accessible(page)
    page.get_by_role("button", name="Mark all read").click()
    expect(page.locator(".unread-bar")).to_have_count(0)
    assert _wait_marker(reader, topic, lambda v: v >= messages[-1].seq) == messages[-1].seq
    assert selectors.unread_by_topic(user=reader, space_id=world["space"].pk) == {}


def test_on_a_phone_new_messages_are_read_when_they_are_seen(
    world, busy_topic, daphne_server, browser, browser_log
):
    topic, messages = busy_topic
    reader = world["users"]["member_open"]
    services.read_mark(topic=topic, seq=messages[-3].seq, acting_user=reader)
    page = new_context(browser, daphne_server, browser_log, reader).new_page()
    page.set_viewport_size(PHONE)
    open_topic(page, world["space"].pk, topic.pk)
    expect(page.locator("#first-unread + article")).to_contain_text("Message 59 about")
    page.screenshot(path="/tmp/shots-chat/unread-390.png")

    # A message arriving live while the reader is at the end is shown and read.
    page.keyboard.press("End")
    assert _wait_marker(reader, topic, lambda v: v >= messages[-1].seq) == messages[-1].seq
    other = world["users"]["member_secret"]
    writer = new_context(browser, daphne_server, browser_log, other).new_page()
    open_topic(writer, world["space"].pk, topic.pk)
    writer.locator("#id_body").fill("Live: customs hold confirmed")
    writer.locator("#id_body").press("Enter")
    page.locator(".message-list article[data-message-id]", has_text="customs hold").wait_for()
    live = Message.objects.get(body="Live: customs hold confirmed")
    assert _wait_marker(reader, topic, lambda v: v >= live.seq) == live.seq
    expect(page.locator(".unread-bar")).to_have_count(0)
