"""Keyboard shortcuts (workspace/static/js/shortcuts.js): `?` help, `g d` dashboard,
`n` next unread topic, `r` reply; never while typing, never with a modifier key."""

from __future__ import annotations

import re

import pytest

from messaging import services
from tests.e2e.helpers import assert_accessible, new_context, wait_live

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def unread_topics(world):  # type: ignore[no-untyped-def]
    """Two topics with messages the open member has not read; in the second, the open
    member's own message (for `e`)."""
    space = world["space"]
    moderator = world["users"]["moderator"]
    topics = []
    for name in ("Port of Guayaquil", "Antwerp terminal"):
        topic = services.topic_create(space=space, name=name, acting_user=moderator)
        services.message_post(
            space=space,
            topic=topic,
            body=f"News about {name}.",
            level=0,
            tlp="GREEN",
            acting_user=moderator,
        )
        topics.append(topic)
    services.message_post(
        space=space,
        topic=topics[1],
        body="My own note on Antwerp.",
        level=0,
        tlp="GREEN",
        acting_user=world["users"]["member_open"],
    )
    return topics


def test_shortcuts_move_around_and_never_fire_while_typing(
    world, unread_topics, daphne_server, browser, browser_log
):
    space = world["space"]
    page = new_context(
        browser, daphne_server, browser_log, world["users"]["member_open"]
    ).new_page()
    page.goto(f"/spaces/{space.pk}/")
    topic_urls = {f"/spaces/{space.pk}/topics/{t.pk}/" for t in unread_topics}

    # n: the next topic with unread messages, then the other one.
    with page.expect_navigation():
        page.keyboard.press("n")
    first = page.url.removeprefix(daphne_server.url)
    assert first in topic_urls, first
    wait_live(page)
    with page.expect_navigation():
        page.keyboard.press("n")
    second = page.url.removeprefix(daphne_server.url)
    assert second in topic_urls - {first}, second
    wait_live(page)

    # r: reply, the message box has the focus; typing n, g d or ? there only types.
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "id_body"
    page.keyboard.type("n g d ?")
    assert page.locator("#id_body").input_value() == "n g d ?"
    assert page.url.removeprefix(daphne_server.url) == second
    page.locator("#id_body").fill("")
    page.locator("#id_body").blur()

    # e: edit one's last message, in the topic that has one.
    antwerp = f"/spaces/{space.pk}/topics/{unread_topics[1].pk}/"
    if second != antwerp:
        page.goto(antwerp)
        wait_live(page)
    with page.expect_navigation():
        page.keyboard.press("e")
    assert re.search(r"/messages/\d+/edit/$", page.url), page.url
    page.goto(second)
    wait_live(page)

    # A modifier key leaves the key to the browser.
    page.keyboard.press("Alt+n")
    assert page.url.removeprefix(daphne_server.url) == second

    # ?: the help page, which lists the shortcuts and is reachable from the account menu.
    with page.expect_navigation():
        page.keyboard.press("Shift+?")
    assert page.url.endswith("/help/shortcuts/")
    assert page.get_by_role("heading", name="Keyboard shortcuts").is_visible()
    for key in ("?", "g", "d", "n", "r", "e"):
        assert page.locator(
            "kbd", has_text=re.compile(rf"^\{key}$" if key == "?" else rf"^{key}$")
        ).count()
    assert_accessible(page)
    page.emulate_media(color_scheme="dark")
    assert_accessible(page)

    # g then d: the dashboard.
    page.keyboard.press("g")
    with page.expect_navigation():
        page.keyboard.press("d")
    assert page.url.removeprefix(daphne_server.url) == "/"
    page.locator(".account-menu summary").click()
    page.get_by_role("link", name="Keyboard shortcuts").click()
    page.wait_for_url("**/help/shortcuts/")
    assert not browser_log.unexpected(), browser_log.unexpected()
