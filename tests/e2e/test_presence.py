"""Presence on the topic page: "Online" lists the other members of the space connected
now; a newcomer sees who was already there, and arrivals and departures show live."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from messaging import services
from tests.e2e.helpers import assert_accessible, new_context, open_topic

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SHOTS = "/tmp/shots-mentions"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_online_list_snapshot_and_live(world, daphne_server, browser, browser_log, viewport):
    users = world["users"]
    for key, name in [("member_open", "Ana Ruiz"), ("member_secret", "Sofía Torres"),
                      ("moderator", "Rémi Dubois")]:
        users[key].display_name = name
        users[key].save()
    topic = services.topic_create(space=world["space"], name="Port routes",
                                  acting_user=users["moderator"])
    first = new_context(browser, daphne_server, browser_log, users["member_open"]).new_page()
    open_topic(first, world["space"].pk, topic.pk)
    online_first = first.locator("#presence .presence-member")
    expect(first.locator("#presence")).to_contain_text("No one else is here")
    # Another space's member connects: not named here.
    elsewhere = new_context(browser, daphne_server, browser_log,
                            users["other_moderator"]).new_page()
    elsewhere.goto("/")
    second_context = new_context(browser, daphne_server, browser_log, users["member_secret"])
    second = second_context.new_page()
    second.set_viewport_size(viewport)
    open_topic(second, world["space"].pk, topic.pk)
    # The newcomer is told who was already there; the first page hears of the newcomer.
    online_second = second.locator("#presence .presence-member")
    expect(online_second).to_have_text(["Ana Ruiz"])
    expect(online_first).to_have_text(["Sofía Torres"])
    third = new_context(browser, daphne_server, browser_log, users["moderator"]).new_page()
    open_topic(third, world["space"].pk, topic.pk)
    expect(online_second).to_have_text(["Ana Ruiz", "Rémi Dubois"])
    expect(third.locator("#presence .presence-member")).to_have_text(["Ana Ruiz", "Sofía Torres"])
    name = "desktop" if viewport is DESKTOP else "phone"
    second.screenshot(path=f"{SHOTS}/presence-{name}.png")
    assert_accessible(second)
    # Leaving shows live.
    third.context.close()
    expect(online_second).to_have_text(["Ana Ruiz"])
    expect(online_first).to_have_text(["Sofía Torres"])
    assert browser_log.unexpected() == []
