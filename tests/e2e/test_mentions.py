"""Mentions in the composer: "@" and letters list the members cleared for the chosen
level (accents and case ignored), the keyboard picks one and the server's syntax
`@**Display Name**` is inserted; a mention of a member not cleared for the level is
refused before sending, with the reason, and the text stays."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from messaging import services
from messaging.models import Mention, Message
from tests.e2e.helpers import assert_accessible, new_context, open_topic

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SHOTS = "/tmp/shots-mentions"


@pytest.fixture
def named(world):  # type: ignore[no-untyped-def]
    users = world["users"]
    for i, user in enumerate(u for u in users.values() if u is not None):
        user.display_name = f"Quill {i}"  # names the queries below cannot match
        user.save()
    for key, name in [("member_restricted", "Rémi Dubois"), ("member_open", "Ana Ruiz"),
                      ("member_confidential", "Remedios Álvarez"),
                      ("member_secret", "Sofía Torres")]:
        users[key].display_name = name
        users[key].save()
    topic = services.topic_create(space=world["space"], name="Port routes",
                                  acting_user=users["moderator"])
    return topic


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_mention_autocomplete_and_refusal(world, named, daphne_server, browser, browser_log,
                                          viewport):
    users = world["users"]
    page = new_context(browser, daphne_server, browser_log, users["member_secret"]).new_page()
    page.set_viewport_size(viewport)
    open_topic(page, world["space"].pk, named.pk)
    body = page.locator("#id_body")
    listbox = page.get_by_role("listbox", name="Members to mention")
    page.select_option("#id_level", "1")  # RESTRICTED: Ana (OPEN) is not cleared
    body.click()
    body.press_sequentially("Look @REMI")
    expect(listbox).to_be_visible()
    options = listbox.get_by_role("option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_text("Rémi Dubois")
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(body).to_have_attribute("aria-activedescendant", "mention-option-0")
    name = "desktop" if viewport is DESKTOP else "phone"
    page.screenshot(path=f"{SHOTS}/autocomplete-{name}.png")
    assert_accessible(page)  # with the listbox open
    body.press("Enter")  # picks; does not send
    expect(listbox).to_be_hidden()
    expect(body).to_have_value("Look @**Rémi Dubois** ")

    # "@re" lists both cleared Re… members; the arrows move, Escape closes, text unchanged.
    body.press_sequentially("and @re")
    expect(options).to_have_count(2)
    expect(listbox).not_to_contain_text("Ana Ruiz")
    body.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    body.press("Escape")
    expect(listbox).to_be_hidden()
    expect(body).to_have_value("Look @**Rémi Dubois** and @re")
    body.press("Backspace")
    body.press("Backspace")  # "@" alone: everyone cleared, and @moderators
    expect(listbox).to_contain_text("@moderators")
    page.screenshot(path=f"{SHOTS}/autocomplete-all-{name}.png")
    body.press("ArrowUp")  # wraps to the last: @moderators
    body.press("Tab")
    expect(body).to_have_value("Look @**Rémi Dubois** and @moderators ")
    body.press("Enter")
    page.locator(".message-list article[data-message-id]", has_text="Rémi Dubois").wait_for()
    message = Message.objects.get(topic=named)
    mentioned = set(Mention.objects.filter(message=message).values_list("user", flat=True))
    assert mentioned == {users["member_restricted"].pk, users["moderator"].pk}

    # A mention typed by hand of a member not cleared for the level is refused, with why.
    body.fill("Heads up @**Ana Ruiz**")
    page.select_option("#id_level", "1")
    body.press("Enter")
    notice = page.locator(".composer-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Ana Ruiz is not cleared for RESTRICTED")
    expect(body).to_have_value("Heads up @**Ana Ruiz**")
    page.screenshot(path=f"{SHOTS}/refused-{name}.png")
    assert Message.objects.filter(topic=named).count() == 1
    # At OPEN she is cleared: it goes, and she is told.
    page.select_option("#id_level", "0")
    body.press("Enter")
    page.locator(".message-list article[data-message-id]", has_text="Heads up").wait_for()
    latest = Message.objects.filter(topic=named).latest("pk")
    assert set(Mention.objects.filter(message=latest).values_list("user", flat=True)) == {
        users["member_open"].pk}
    assert browser_log.unexpected() == []
