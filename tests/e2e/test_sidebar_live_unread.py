"""The space sidebar's unread counts follow the socket: a message in another topic of the
open space adds to that topic's count (creating the badge, bolding the topic); reading
the open topic clears its own count."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from messaging import services
from tests.e2e.helpers import new_context, open_topic, post_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_sidebar_counts_update_live(world, daphne_server, browser, browser_log, viewport):
    users, space = world["users"], world["space"]
    reader, writer = users["member_open"], users["member_secret"]
    here = services.topic_create(space=space, name="Port routes", acting_user=writer)
    there = services.topic_create(space=space, name="Financial flows", acting_user=writer)
    services.message_post(space=space, topic=here, body="Unread before the page opened",
                          level=0, tlp="GREEN", acting_user=writer)
    page = new_context(browser, daphne_server, browser_log, reader).new_page()
    page.set_viewport_size(viewport)
    open_topic(page, space.pk, here.pk)
    if viewport is PHONE:
        page.get_by_role("link", name="Spaces and topics").click()
    sidebar = page.locator("#space-sidebar")
    here_link = sidebar.locator(f'li[data-topic-id="{here.pk}"] a.sidebar-topic')
    there_link = sidebar.locator(f'li[data-topic-id="{there.pk}"] a.sidebar-topic')
    # The open topic was read on screen: its count goes.
    expect(here_link.locator(".unread-count")).to_have_count(0)
    expect(here_link).not_to_have_class("sidebar-topic has-unread")
    expect(there_link.locator(".unread-count")).to_have_count(0)

    other = new_context(browser, daphne_server, browser_log, writer).new_page()
    open_topic(other, space.pk, there.pk)
    post_message(other, "Transfers via Panama")
    badge = there_link.locator(".unread-count")
    expect(badge).to_have_attribute("data-unread", "1")
    expect(badge).to_have_text("1 unread message")
    expect(there_link).to_have_class("sidebar-topic has-unread")
    post_message(other, "And via Curaçao")
    expect(badge).to_have_attribute("data-unread", "2")
    expect(badge).to_have_text("2 unread messages")
    # A message above the reader's clearance never reaches the page: no count for it.
    post_message(other, "Secret ledger", level=3)
    post_message(other, "After the ledger")
    expect(badge).to_have_attribute("data-unread", "3")
    # The open topic's own new message, read as it arrives, adds nothing.
    open_topic(other, space.pk, here.pk)
    post_message(other, "Seen at once")
    page.locator(".message-list article", has_text="Seen at once").wait_for()
    expect(here_link.locator(".unread-count")).to_have_count(0)
    assert browser_log.unexpected() == []
