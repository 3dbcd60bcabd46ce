"""The composer never loses text: it stays until the server acknowledges the post.

The page's socket runs through a proxy in the browser (Playwright's WebSocket routing),
so a test can hold a post, answer it with an error, or cut the connection, against the
real daphne behind it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from messaging import services
from messaging.models import Message
from tests.e2e.helpers import new_context, open_topic, wait_live

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class SocketProxy:
    """Between the page and daphne: records post frames; may hold or refuse them."""

    def __init__(self, page: Any) -> None:
        self.posts: list[dict[str, Any]] = []
        self.hold = False
        self.held: list[tuple[Any, str]] = []
        self.fail_next: str | None = None
        self.offline = False
        self.current: tuple[Any, Any] | None = None
        page.route_web_socket(re.compile(r"/ws/$"), self._route)

    def _route(self, ws: Any) -> None:
        if self.offline:
            ws.close(code=4000, reason="offline")
            return
        server = ws.connect_to_server()
        self.current = (ws, server)

        def from_page(message: Any) -> None:
            frame = json.loads(message) if isinstance(message, str) else {}
            if frame.get("type") == "post":
                self.posts.append(frame)
                if self.fail_next:
                    ws.send(json.dumps({"type": "error", "code": "server_error",
                                        "message": self.fail_next, "ref": frame["client_id"]}))
                    self.fail_next = None
                    return
                if self.hold:
                    self.held.append((server, message))
                    return
            server.send(message)

        ws.on_message(from_page)
        server.on_message(lambda message: ws.send(message))

    def release(self) -> None:
        self.hold = False
        for server, message in self.held:
            server.send(message)
        self.held.clear()

    def cut(self) -> None:
        self.offline = True
        if self.current:
            ws, server = self.current
            server.close()
            ws.close(code=4000, reason="offline")


@pytest.fixture
def topic(world):  # type: ignore[no-untyped-def]
    return services.topic_create(
        space=world["space"], name="Port routes", acting_user=world["users"]["moderator"]
    )


def _open(browser, server, log, user, viewport, space, topic):  # type: ignore[no-untyped-def]
    page = new_context(browser, server, log, user).new_page()
    page.set_viewport_size(viewport)
    proxy = SocketProxy(page)
    open_topic(page, space.pk, topic.pk)
    return page, proxy


def test_text_stays_until_the_ack_and_enter_sends(world, topic, daphne_server, browser,
                                                   browser_log):
    page, proxy = _open(browser, daphne_server, browser_log, world["users"]["member_open"],
                        DESKTOP, world["space"], topic)
    body = page.locator("#id_body")
    body.click()
    body.press_sequentially("Line one")
    body.press("Shift+Enter")
    body.press_sequentially("line two")
    proxy.hold = True
    body.press("Enter")

    pending = page.locator(".message-list article.pending", has_text="line two")
    pending.wait_for()
    expect(pending).to_contain_text("Sending…")
    assert body.input_value() == "Line one\nline two", "kept until the server answers"
    assert len(proxy.posts) == 1

    proxy.release()
    page.locator(".message-list article[data-message-id]", has_text="line two").wait_for()
    expect(body).to_have_value("")
    expect(page.locator(".message-list article.pending")).to_have_count(0)
    assert Message.objects.get(topic=topic).body == "Line one\nline two"


def test_limits_are_checked_first_and_retry_sends_the_same_post(
    world, topic, daphne_server, browser, browser_log
):
    page, proxy = _open(browser, daphne_server, browser_log, world["users"]["member_open"],
                        PHONE, world["space"], topic)
    body = page.locator("#id_body")
    notice = page.locator(".composer-notice")

    # Over the size limit: the reason shows at once, nothing is sent, the text stays.
    body.fill("x" * 20_001)
    body.press("Enter")
    expect(notice).to_contain_text("Too long: 20001 characters; the limit is 20000.")
    assert proxy.posts == [] and len(body.input_value()) == 20_001

    # TLP:RED without recipients, checked before sending too.
    body.fill("Eyes only")
    page.select_option("#id_tlp", "RED")
    body.press("Enter")
    expect(notice).to_contain_text("Choose at least one recipient for TLP:RED.")
    assert proxy.posts == []
    page.select_option("#id_tlp", "GREEN")

    # The server refuses: its reason shows, and Retry sends the same client_id again.
    body.fill("Customs hold confirmed")
    proxy.fail_next = "Database busy, try again."
    body.press("Enter")
    expect(notice).to_contain_text("Not sent: Database busy, try again.")
    expect(body).to_have_value("Customs hold confirmed")
    expect(page.locator(".message-list article.pending")).to_have_count(0)
    page.screenshot(path="/tmp/shots-chat/composer-error-390.png")
    notice.get_by_role("button", name="Retry").click()
    page.locator(".message-list article[data-message-id]",
                 has_text="Customs hold confirmed").wait_for()
    expect(body).to_have_value("")
    expect(notice).to_be_hidden()
    assert [p["client_id"] for p in proxy.posts][0] == proxy.posts[1]["client_id"]
    assert Message.objects.filter(body="Customs hold confirmed").count() == 1


def test_offline_the_message_waits_and_goes_once(world, topic, daphne_server, browser,
                                                 browser_log):
    page, proxy = _open(browser, daphne_server, browser_log, world["users"]["member_open"],
                        DESKTOP, world["space"], topic)
    proxy.cut()
    page.locator(".realtime-status", has_text="Offline").wait_for()
    body = page.locator("#id_body")
    body.fill("Sent while the train is in the tunnel")
    body.press("Enter")

    waiting = page.locator(".message-list article.pending.queued", has_text="tunnel")
    waiting.wait_for()
    expect(waiting).to_contain_text("waiting to send")
    expect(page.locator(".composer-notice")).to_contain_text("waiting to send")
    assert page.url.endswith(f"/topics/{topic.pk}/"), "never the browser's error page"
    assert body.input_value() == "Sent while the train is in the tunnel"
    page.screenshot(path="/tmp/shots-chat/composer-offline-1280.png")

    proxy.offline = False  # the page reconnects by itself
    wait_live(page)
    page.locator(".message-list article[data-message-id]", has_text="tunnel").wait_for()
    expect(body).to_have_value("")
    assert Message.objects.filter(body__contains="tunnel").count() == 1
    assert len({p["client_id"] for p in proxy.posts}) == 1


def test_a_draft_survives_a_reload_and_sign_out_clears_it(
    world, topic, daphne_server, browser, browser_log
):
    other = services.topic_create(
        space=world["space"], name="Cash couriers", acting_user=world["users"]["moderator"]
    )
    page, _proxy = _open(browser, daphne_server, browser_log, world["users"]["member_open"],
                         PHONE, world["space"], topic)
    page.locator("#id_body").fill("Half-written: the courier's")
    page.reload()
    wait_live(page)
    expect(page.locator("#id_body")).to_have_value("Half-written: the courier's")
    open_topic(page, world["space"].pk, other.pk)
    expect(page.locator("#id_body")).to_have_value("")  # a draft per topic
    assert page.evaluate("() => Object.keys(localStorage).length") == 0

    page.locator("form[action$='/logout/']").first.evaluate("form => form.requestSubmit()")
    page.wait_for_url(lambda url: f"/topics/{other.pk}/" not in url)
    keys = page.evaluate("() => Object.keys(sessionStorage)")
    assert not [k for k in keys if k.startswith("workspace.draft.")]
