"""The topic view is a chat: messages stream above a composer pinned to the bottom of
the window, with compact Level and TLP controls and a recipients picker only for
TLP:RED that lists only members cleared for the chosen level."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from messaging import services
from messaging.models import Message
from tests.e2e.helpers import assert_accessible, new_context, open_topic

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def topic(world):  # type: ignore[no-untyped-def]
    topic = services.topic_create(
        space=world["space"], name="Port routes", acting_user=world["users"]["moderator"]
    )
    for i in range(30):
        services.message_post(space=world["space"], topic=topic, body=f"Earlier note {i}",
                              level=0, tlp="GREEN", acting_user=world["users"]["moderator"])
    # The author has read them all: the page opens on the newest.
    services.read_mark(topic=topic, seq=topic.messages.order_by("-seq").first().seq,
                       acting_user=world["users"]["member_secret"])
    return topic


@pytest.mark.parametrize(
    ("width", "height"), [(1280, 800), (390, 844)], ids=["desktop", "phone"]
)
def test_the_composer_is_pinned_and_red_lists_only_cleared_members(
    world, topic, daphne_server, browser, browser_log, width, height
):
    users, space = world["users"], world["space"]
    author = users["member_secret"]
    page = new_context(browser, daphne_server, browser_log, author).new_page()
    page.set_viewport_size({"width": width, "height": height})
    open_topic(page, space.pk, topic.pk)

    # Opened on the newest message, right above the composer, which stays at the bottom
    # of the window wherever the reader scrolls.
    composer = page.locator(".composer")
    last = page.locator(".message-list article").last
    expect(last).to_contain_text("Earlier note 29")
    end = last.bounding_box()
    assert end["y"] + end["height"] <= composer.bounding_box()["y"] + 1
    assert end["y"] > 0, "the newest message is on screen"
    page.evaluate("window.scrollTo(0, 0)")
    box = composer.bounding_box()
    assert abs(box["y"] + box["height"] - height) <= 2, box
    assert box["height"] < height * 0.35, "a compact composer, not a long form"

    # Level and TLP are compact controls with the defaults; no recipients until RED.
    expect(page.locator("#id_level")).to_have_value("0")
    expect(page.locator("#id_tlp")).to_have_value("GREEN")
    picker = page.locator("#recipients-picker")
    expect(picker).to_be_hidden()
    page.select_option("#id_tlp", "RED")
    expect(picker).to_be_visible()
    names = {who: users[who].display_name for who in
             ("member_open", "member_restricted", "member_confidential", "moderator")}
    for who in names:
        expect(picker.get_by_label(names[who], exact=False)).to_be_visible()

    # Ticked, then the level goes above that member's clearance: gone and unticked.
    picker.get_by_label(names["member_restricted"], exact=False).check()
    page.select_option("#id_level", "2")
    expect(picker.get_by_label(names["member_open"], exact=False)).to_be_hidden()
    expect(picker.get_by_label(names["member_restricted"], exact=False)).to_be_hidden()
    assert not picker.get_by_label(names["member_restricted"], exact=False).is_checked()
    expect(picker.get_by_label(names["member_confidential"], exact=False)).to_be_visible()

    # The search box narrows the list.
    picker.get_by_role("searchbox").fill(names["member_confidential"].upper())
    expect(picker.locator("li:not(.hidden)")).to_have_count(1)
    picker.get_by_label(names["member_confidential"], exact=False).check()
    assert_accessible(page)
    page.screenshot(path=f"/tmp/shots-chat/composer-red-{width}.png")

    page.locator("#id_body").fill("Eyes only: source meeting moved")
    page.locator("#id_body").press("Enter")
    page.locator(".message-list article[data-message-id]", has_text="Eyes only").wait_for()
    message = Message.objects.get(body="Eyes only: source meeting moved")
    assert (message.level, message.tlp) == (2, "RED")
    assert list(message.recipients.all()) == [users["member_confidential"]]
