"""The live discussion in real browsers: delivery, typing, clearance and revocation.

Everything that should travel live is done through the pages (so it happens inside the
daphne process and rings its channel layer); the test process only sets up data.
"""

from __future__ import annotations

import re
import time

import pytest

from messaging import services
from networks.models import Membership
from tests.e2e.helpers import new_context, open_topic, post_message
from workspace.audit.models import AuditEvent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def topic(world):  # type: ignore[no-untyped-def]
    return services.topic_create(
        space=world["space"], name="Port routes", acting_user=world["users"]["moderator"]
    )


def _membership(world, name: str) -> Membership:  # type: ignore[no-untyped-def]
    return Membership.objects.get(space=world["space"], user=world["users"][name])


def test_two_browsers_see_messages_and_typing_live(
    world, topic, daphne_server, browser, browser_log
):
    users = world["users"]
    space = world["space"]
    alice = new_context(
        browser, daphne_server, browser_log, users["member_confidential"]
    ).new_page()
    bob = new_context(browser, daphne_server, browser_log, users["member_secret"]).new_page()
    # A third member watches the topic list: the unread badge counts up live.
    carol = new_context(browser, daphne_server, browser_log, users["member_open"]).new_page()
    open_topic(alice, space.pk, topic.pk)
    open_topic(bob, space.pk, topic.pk)
    carol.goto(f"/spaces/{space.pk}/topics/")
    carol.wait_for_function(
        "() => document.querySelector('.realtime-status').textContent"
        " === document.querySelector('#realtime').dataset.labelOnline"
    )
    badge = carol.locator(f"[data-topic-id='{topic.pk}'] .unread-badge")
    assert badge.is_hidden()
    bob.evaluate("window.__sameDocument = true")

    # Typing in one browser shows in the other.
    alice.locator("#id_body").press_sequentially("Conv")
    typist = users["member_confidential"].display_name
    bob.locator("p.typing").filter(has_text=f"{typist} is typing").wait_for()

    # A message posted in one appears in the other, without a reload.
    post_message(alice, "Convoy leaves **Valencia** at dawn", shown="Convoy leaves Valencia")
    article = bob.locator(".message-list article[data-message-id]", has_text="Convoy leaves")
    article.wait_for()
    assert article.locator("strong", has_text="Valencia").count() == 1
    assert bob.evaluate("window.__sameDocument") is True

    # And the other way round.
    post_message(bob, "Acknowledged, tracking it", level=2, tlp="AMBER")
    alice.locator(".message-list article[data-message-id]", has_text="tracking it").wait_for()

    # Carol (OPEN) counts Alice's OPEN messages but not Bob's CONFIDENTIAL one; events
    # come in seq order, so when the second OPEN one is counted the other was passed over.
    post_message(alice, "Second note for everyone")
    carol.wait_for_function(
        f"() => Number(document.querySelector(\"[data-topic-id='{topic.pk}'] .unread-badge\")"
        ".dataset.unread) >= 2"
    )
    assert badge.get_attribute("data-unread") == "2"
    assert badge.is_visible() and badge.inner_text() == "2"


def test_restricted_member_never_sees_confidential_even_after_downgrade(
    world, topic, daphne_server, browser, browser_log
):
    users = world["users"]
    space = world["space"]
    reader = new_context(browser, daphne_server, browser_log, users["member_restricted"]).new_page()
    # Every frame the reader's sockets receive (across the page's own reloads).
    frames: list[str] = []
    reader.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
    writer = new_context(browser, daphne_server, browser_log, users["member_secret"]).new_page()
    open_topic(reader, space.pk, topic.pk)
    open_topic(writer, space.pk, topic.pk)
    reader_list = reader.locator(".message-list")

    # Posted in this order; events arrive in seq order, so once the RESTRICTED one is
    # shown the CONFIDENTIAL one has been passed over.
    post_message(writer, "Confidential-6b1 source identity", level=2)
    post_message(writer, "Restricted-41c route summary", level=1)
    reader_list.locator("article", has_text="Restricted-41c").wait_for()
    assert reader_list.locator("article", has_text="Confidential-6b1").count() == 0

    # A moderator lowers the reader's clearance to OPEN on the members page.
    moderator = new_context(browser, daphne_server, browser_log, users["moderator"]).new_page()
    moderator.goto(f"/spaces/{space.pk}/members/")
    membership = _membership(world, "member_restricted")
    row = moderator.locator("tr", has=moderator.locator(f"#id_m{membership.pk}-clearance"))
    row.locator(f"#id_m{membership.pk}-clearance").select_option("0")
    with moderator.expect_navigation():
        row.get_by_role("button", name="Save").click()
    membership.refresh_from_db()
    assert membership.clearance == 0

    # From now on the open page gets only OPEN items. (The server sends `resync`
    # clearance_changed and realtime.js reloads the page by itself; the frame check below
    # holds whether or not that reload has happened yet.)
    post_message(writer, "Restricted-9d2 after the downgrade", level=1)
    post_message(writer, "Open-77e after the downgrade", level=0)
    reader_list.locator("article", has_text="Open-77e").wait_for()
    reader.get_by_text("You see messages up to OPEN.").wait_for()
    for hidden in ("Confidential-6b1", "Restricted-9d2", "Restricted-41c"):
        assert reader_list.locator("article", has_text=hidden).count() == 0, hidden

    # Not only the page: the content never reached the reader's browser at all.
    received = "\n".join(frames)
    assert "Open-77e" in received and "Restricted-41c" in received, "frames were captured"
    assert "Confidential-6b1" not in received
    assert "Restricted-9d2" not in received


@pytest.mark.parametrize("action", ["Remove", "Suspend"])
def test_revoked_member_sees_access_end_within_one_second(
    world, topic, daphne_server, browser, browser_log, action
):
    users = world["users"]
    space = world["space"]
    member = new_context(browser, daphne_server, browser_log, users["member_open"]).new_page()
    open_topic(member, space.pk, topic.pk)
    # The reloaded page is the friendly 403; Chromium logs its status as a console error.
    browser_log.allow(r"Failed to load resource: the server responded with a status of 403")
    # On a 4xx page Chromium may also ask for /favicon.ico, which the app does not serve.
    browser_log.allow(r"/favicon\.ico \(page [^)]*\): Failed to load resource: .* 404")

    moderator = new_context(browser, daphne_server, browser_log, users["moderator"]).new_page()
    moderator.goto(f"/spaces/{space.pk}/members/")
    membership = _membership(world, "member_open")
    form = moderator.locator(f"form[action$='/members/{membership.pk}/status/']")
    form.get_by_role("button", name=action, exact=True).click()
    dialog = moderator.locator("dialog.confirm-dialog")
    with moderator.expect_response(
        lambda r: r.url.endswith(f"/members/{membership.pk}/status/") and r.request.method == "POST"
    ):
        clicked = time.time()  # from the confirmation, the moderator's last click
        dialog.get_by_role("button", name=action, exact=True).click()

    # The reloaded page says what happened (templates/errors/membership_ended.html).
    heading = {"Remove": "You are no longer a member", "Suspend": "Your membership is suspended"}
    member.get_by_role("heading", name=heading[action]).wait_for(timeout=5_000)
    member.wait_for_load_state("domcontentloaded")
    shown_at = (
        member.evaluate(
            "performance.timeOrigin"
            " + performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
        )
        / 1000
    )
    # The removal's own moment: its audit record, written in the removing transaction.
    status = {"Remove": "removed", "Suspend": "suspended"}[action]
    audit = AuditEvent.objects.filter(action=f"membership.{status}", space_id=space.pk).get()
    elapsed = shown_at - audit.created_at.timestamp()
    after_click = shown_at - clicked
    print(
        f"access ended shown {elapsed:.3f} s after the {status} ({after_click:.3f} s after click)"
    )
    assert 0 < elapsed < 1.0, f"access ended was shown {elapsed:.3f} s after the removal"
    assert re.search(rf"/spaces/{space.pk}/topics/{topic.pk}/$", member.url)
    assert member.locator(".message-list").count() == 0
