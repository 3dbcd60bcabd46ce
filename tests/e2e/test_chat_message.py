"""One rendering for a message: what arrives over the socket is what a reload shows.

A message (and its reactions) posted live in one browser is captured in another as the
live `<article>`, then the page is reloaded and the server's `<article>` must be the same
element: author, time, labels, reactions as emoji, and the controls this reader may use.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from messaging import services
from messaging.models import Reaction
from tests.e2e.helpers import assert_accessible, new_context, open_topic, post_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# The CSRF token in each form is masked anew for every page; nothing else may differ.
ARTICLE_HTML = """(id) => {
  const node = document.getElementById(id).cloneNode(true);
  for (const input of node.querySelectorAll('input[name=csrfmiddlewaretoken]')) input.value = '';
  for (const input of node.querySelectorAll('input[name=csrfmiddlewaretoken]'))
    input.setAttribute('value', '');
  return node.outerHTML;
}"""


@pytest.fixture
def topic(world):  # type: ignore[no-untyped-def]
    return services.topic_create(
        space=world["space"], name="Port routes", acting_user=world["users"]["moderator"]
    )


def _page(browser, server, log, user, viewport):  # type: ignore[no-untyped-def]
    page = new_context(browser, server, log, user).new_page()
    page.set_viewport_size(viewport)
    return page


def _article_id(page, text: str) -> str:  # type: ignore[no-untyped-def]
    article = page.locator(".message-list article[data-message-id]", has_text=text)
    article.wait_for()
    return str(article.get_attribute("id"))


def test_a_live_message_is_the_element_a_reload_shows(
    world, topic, daphne_server, browser, browser_log
):
    users, space = world["users"], world["space"]
    reader = _page(browser, daphne_server, browser_log, users["member_confidential"], DESKTOP)
    writer = _page(browser, daphne_server, browser_log, users["member_secret"], DESKTOP)
    open_topic(reader, space.pk, topic.pk)
    open_topic(writer, space.pk, topic.pk)

    # Someone else's message, then the reader's own, then a reaction: all live.
    post_message(writer, "Convoy leaves **Valencia** at dawn", level=1, tlp="AMBER",
                 shown="Convoy leaves Valencia")
    theirs = _article_id(reader, "Convoy leaves")
    post_message(reader, "Own note on the convoy")
    mine = _article_id(reader, "Own note on the convoy")
    writer.locator(f"#{theirs} .react-add").click()
    writer.locator(f"#{theirs} .emoji-picker button[value=eyes]").click()
    chip = reader.locator(f"#{theirs} button.reaction[value=eyes]")
    chip.wait_for()

    # What a user sees live: the emoji, never its code; a time; the reader's controls.
    assert chip.inner_text().split() == ["👀", "1"]
    assert chip.get_attribute("aria-pressed") == "false"
    assert users["member_secret"].display_name in chip.get_attribute("aria-label")
    time = reader.locator(f"#{theirs} time")
    assert re.search(r"\d", time.inner_text()), "a live message shows its time"
    assert time.get_attribute("datetime")
    assert reader.locator(f"#{theirs} .react-add").is_visible()
    assert reader.locator(f"#{theirs} .reply-button").is_visible()
    assert reader.locator(f"#{theirs} .edit-link").count() == 0, "not the reader's message"
    assert reader.locator(f"#{theirs} .delete-form").count() == 0
    assert reader.locator(f"#{mine} .edit-link").is_visible()
    assert reader.locator(f"#{mine} .delete-form button").is_visible()
    assert reader.locator(f"#{theirs} .tlp-badge").inner_text() == "TLP:AMBER"

    live = {key: reader.evaluate(ARTICLE_HTML, key) for key in (theirs, mine)}
    reader.reload()
    reader.locator(f"#{theirs} button.reaction[value=eyes]").wait_for()
    reader.wait_for_function(
        f"() => document.querySelector('#{theirs} time').title !== ''"
    )
    for key, html in live.items():
        assert reader.evaluate(ARTICLE_HTML, key) == html


def test_reactions_are_emoji_that_toggle_and_say_who(
    world, topic, daphne_server, browser, browser_log
):
    users, space = world["users"], world["space"]
    message = services.message_post(
        space=space, topic=topic, body="Weights differ by 240 kg", level=0, tlp="GREEN",
        acting_user=users["moderator"],
    )
    services.reaction_toggle(message=message, emoji="+1", acting_user=users["moderator"])
    ana, bob = users["member_open"], users["member_restricted"]
    first = _page(browser, daphne_server, browser_log, ana, PHONE)
    second = _page(browser, daphne_server, browser_log, bob, PHONE)
    open_topic(first, space.pk, topic.pk)
    open_topic(second, space.pk, topic.pk)
    article = f"#m{message.pk}"

    # From the page: 👍 with a count, never "+1".
    thumbs = first.locator(f"{article} button.reaction[value='+1']")
    assert thumbs.inner_text().split() == ["👍", "1"]
    assert "+1" not in first.locator(f"{article} .reactions").inner_text()

    # The picker adds 👀 for Ana; both browsers see it, pressed only for Ana.
    first.locator(f"{article} .react-add").click()
    picker = first.locator(f"{article} .emoji-picker")
    assert [b.inner_text() for b in picker.locator("button").all()] == [
        "👍", "👎", "✅", "👀", "❓", "⚠️"]
    assert_accessible(first)
    picker.locator("button[value=eyes]").click()
    eyes_a = first.locator(f"{article} button.reaction[value=eyes]")
    eyes_b = second.locator(f"{article} button.reaction[value=eyes]")
    eyes_b.wait_for()
    expect(eyes_a).to_have_attribute("aria-pressed", "true")
    expect(eyes_b).to_have_attribute("aria-pressed", "false")
    assert picker.count() == 0, "the picker closes after a choice"

    # Bob clicks the chip: it is his too now; the names say who reacted.
    eyes_b.click()
    first.wait_for_function(
        f"() => document.querySelector(\"{article} button.reaction[value=eyes]"
        " .reaction-count\").textContent === '2'"
    )
    expect(eyes_b).to_have_attribute("aria-pressed", "true")
    who = eyes_a.get_attribute("data-who")
    assert ana.display_name in who and bob.display_name in who
    assert who in eyes_a.get_attribute("aria-label")
    # Focus shows the names (a tooltip) as hover does.
    eyes_a.focus()
    first.keyboard.press("Shift+Tab")
    first.keyboard.press("Tab")
    shown = first.evaluate(
        f"() => getComputedStyle(document.querySelector(\"{article} button.reaction[value=eyes]\"),"
        " '::after').display"
    )
    assert shown == "block"

    # Ana clicks again: her reaction goes, Bob's stays.
    eyes_a.click()
    second.wait_for_function(
        f"() => document.querySelector(\"{article} button.reaction[value=eyes]"
        " .reaction-count\").textContent === '1'"
    )
    expect(eyes_a).to_have_attribute("aria-pressed", "false")
    assert set(Reaction.objects.filter(message=message).values_list("emoji", "user_id")) == {
        ("+1", users["moderator"].pk), ("eyes", bob.pk)}

    # Reply quotes the message and names its author in the composer.
    first.locator(f"{article} .reply-button").click()
    expect(first.locator("#id_body")).to_be_focused()
    assert first.locator("#id_body").input_value() == (
        f"@**{users['moderator'].display_name}**\n> Weights differ by 240 kg\n\n")

    first.reload()
    assert first.locator(f"{article} button.reaction[value=eyes]").inner_text().split() == [
        "👀", "1"]
    expect(first.locator("#id_body")).to_have_value(
        f"@**{users['moderator'].display_name}**\n> Weights differ by 240 kg\n\n")  # a draft
    first.screenshot(path="/tmp/shots-chat/reactions-390.png")
