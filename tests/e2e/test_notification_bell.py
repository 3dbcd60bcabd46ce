"""In a real browser: the header bell's count updates live, on a page without the
discussion client (bell.js opens its own socket) and on a topic page (realtime.js passes
the frame on), and a mention the reader may not see never moves it."""

from __future__ import annotations

import re
import uuid

import pytest

from messaging import services
from tests.e2e.helpers import new_context, open_topic, post_message, wait_live

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _count(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator("#notification-bell .bell-number").inner_text()


def test_the_bell_counts_live_without_reload(world, daphne_server, browser, browser_log):
    space = world["space"]
    users = world["users"]
    topic = services.topic_create(space=space, name="Bell", acting_user=users["moderator"])
    reader = users["member_restricted"]
    dashboard = new_context(browser, daphne_server, browser_log, reader).new_page()
    dashboard.goto("/")
    assert _count(dashboard) == "0"
    assert not dashboard.locator("#notification-bell .bell-count").is_visible()
    on_topic = new_context(browser, daphne_server, browser_log, reader).new_page()
    # Another topic of the space: a visible topic page reads a message (and its mention)
    # as soon as it is on screen, so on the mention's own topic the count would go back
    # to 0 at once (realtime.js's Unread, 3659f2a).
    elsewhere = services.topic_create(space=space, name="Elsewhere", acting_user=users["moderator"])
    open_topic(on_topic, space.pk, elsewhere.pk)
    wait_live(on_topic)
    dashboard.wait_for_timeout(500)  # bell.js has its socket open by now

    writer = new_context(browser, daphne_server, browser_log, users["member_secret"]).new_page()
    open_topic(writer, space.pk, topic.pk)
    wait_live(writer)
    mention = f"@**{reader.display_name}**"
    # Above the reader's clearance: no count moves, anywhere. The composer itself refuses
    # to mention someone not cleared for the level, so this goes as the no-JavaScript form
    # does, to the same server and its sockets.
    csrf = writer.locator("#post-form input[name=csrfmiddlewaretoken]").get_attribute("value")
    posted = writer.request.post(
        f"/spaces/{space.pk}/topics/{topic.pk}/post/",
        form={"csrfmiddlewaretoken": csrf, "body": f"{mention} confidential", "level": "2",
              "tlp": "GREEN", "client_id": str(uuid.uuid4())},
        max_redirects=0,
    )
    assert posted.status == 302, re.findall(r"errorlist[^<]*<li>([^<]*)", posted.text())
    writer.locator(".message-list article", has_text="confidential").wait_for()
    writer.wait_for_timeout(1500)
    assert _count(dashboard) == "0" and _count(on_topic) == "0"
    # A mention they may see: both tabs count it without a reload.
    post_message(writer, f"{mention} open", level=0, shown="open")
    for page in (dashboard, on_topic):
        page.wait_for_function(
            "() => document.querySelector('#notification-bell .bell-number')"
            ".textContent === '1'", timeout=5000)
    assert dashboard.locator("#notification-bell .bell-count").is_visible()
    assert re.search(r"/$", dashboard.url)  # no navigation happened
