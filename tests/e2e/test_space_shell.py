"""The space shell in a browser: tabs on every page of a space, the sidebar's unread
counts, a one-row header and no sideways scroll on a phone in every UI language, and
what a removed member sees."""

from __future__ import annotations

import io

import pytest

from documents.crypto import encrypt
from documents.keys import space_key_current
from documents.services import DocumentMeta, document_upload
from messaging import services
from tests.e2e.helpers import assert_accessible, new_context

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LANGUAGES = ["en", "es", "pt", "fr"]

LAYOUT = """() => ({
  header: document.querySelector('.site-header').getBoundingClientRect().height,
  scroll: document.documentElement.scrollWidth,
  width: window.innerWidth,
})"""


@pytest.fixture
def content(world):  # type: ignore[no-untyped-def]
    """A topic with two unread messages and a document; made before the browser starts."""
    space, moderator = world["space"], world["users"]["moderator"]
    topic = services.topic_create(space=space, name="Port routes", acting_user=moderator)
    for body in ("Convoy at dawn", "Second convoy"):
        services.message_post(
            space=space, topic=topic, body=body, level=0, tlp="GREEN", acting_user=moderator
        )
    recipient = space_key_current(space=space).recipient
    document = document_upload(
        space=space,
        acting_user=moderator,
        stream=io.BytesIO(encrypt(b"port statistics\n", [recipient])),
        content_length=None,
        filename="stats.txt",
        meta=DocumentMeta(title="Port statistics"),
    ).document
    return {"topic": topic, "document": document}


def _space_pages(space_id: int, content: dict) -> list[str]:  # type: ignore[type-arg]
    return [
        f"/spaces/{space_id}/",
        f"/spaces/{space_id}/topics/",
        f"/spaces/{space_id}/notes/",
        f"/spaces/{space_id}/notes/new/",
        f"/spaces/{space_id}/documents/",
        f"/spaces/{space_id}/documents/new/",
        f"/documents/{content['document'].pk}/",
        f"/spaces/{space_id}/members/",
        f"/spaces/{space_id}/audit/",
        f"/spaces/{space_id}/insight/",
    ]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_tabs_on_every_page_reach_the_documents(
    world, content, daphne_server, browser, browser_log, viewport
):
    space = world["space"]
    page = new_context(browser, daphne_server, browser_log, world["users"]["moderator"]).new_page()
    page.set_viewport_size(viewport)
    for path in _space_pages(space.pk, content):
        page.goto(path)
        tabs = page.get_by_role("navigation", name="Sections of this space")
        assert tabs.get_by_role("link", name="Documents").is_visible(), path
        assert tabs.locator("[aria-current=page]").count() == 1, path
    page.goto(f"/spaces/{space.pk}/")
    page.get_by_role("navigation", name="Sections of this space").get_by_role(
        "link", name="Documents"
    ).click()
    page.wait_for_url(f"**/spaces/{space.pk}/documents/")
    page.get_by_role("link", name="Port statistics").wait_for()


def test_the_sidebar_lists_topics_with_unread_counts(
    world, content, daphne_server, browser, browser_log
):
    space = world["space"]
    page = new_context(
        browser, daphne_server, browser_log, world["users"]["member_open"]
    ).new_page()
    page.set_viewport_size(DESKTOP)
    page.goto(f"/spaces/{space.pk}/documents/")
    sidebar = page.get_by_role("navigation", name="Spaces and topics")
    assert sidebar.is_visible()
    assert_accessible(page)
    topic = sidebar.get_by_role("link", name="Port routes 2 unread messages")
    assert topic.is_visible()
    # Once read (however the topic page marks it), the count is gone.
    last = content["topic"].messages.order_by("-seq").first()
    services.read_mark(
        topic=content["topic"], seq=last.seq, acting_user=world["users"]["member_open"]
    )
    page.goto(f"/spaces/{space.pk}/notes/")
    assert sidebar.get_by_role("link", name="Port routes", exact=True).is_visible(), (
        "read: the count is gone"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_one_row_header_and_no_sideways_scroll(
    world, content, daphne_server, browser, browser_log, language
):
    space = world["space"]
    context = new_context(browser, daphne_server, browser_log, world["users"]["moderator"])
    context.add_cookies([{"name": "django_language", "value": language, "url": daphne_server.url}])
    page = context.new_page()
    paths = ["/", "/search/?q=convoy", "/notifications/", *_space_pages(space.pk, content)]
    problems = []
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        for path in paths:
            page.goto(path)
            assert page.locator("html").get_attribute("lang") == language
            layout = page.evaluate(LAYOUT)
            if layout["header"] > 64:
                problems.append(f"{viewport['width']} {path}: header {layout['header']} px")
            if layout["scroll"] > layout["width"]:
                problems.append(f"{viewport['width']} {path}: scrollWidth {layout['scroll']}")
    assert not problems, "\n".join(problems)


def test_the_phone_menu_switches_the_language(world, daphne_server, browser, browser_log):
    page = new_context(
        browser, daphne_server, browser_log, world["users"]["member_open"]
    ).new_page()
    page.set_viewport_size(PHONE)
    page.goto("/")
    assert not page.locator("#language-select").is_visible()
    page.locator(".header-menu summary").click()
    page.select_option("#language-select-menu", "pt")
    with page.expect_navigation():
        page.locator(".menu-language button[type=submit]").click()
    assert page.locator("html").get_attribute("lang") == "pt"


def test_a_removed_member_sees_what_happened(world, daphne_server, browser, browser_log):
    browser_log.allow(r"403 \(Forbidden\)")
    space = world["space"]
    page = new_context(browser, daphne_server, browser_log, world["users"]["removed"]).new_page()
    page.set_viewport_size(PHONE)
    response = page.goto(f"/spaces/{space.pk}/")
    assert response is not None and response.status == 403
    page.get_by_role("heading", level=1, name="You are no longer a member").wait_for()
    text = page.locator("main").inner_text()
    assert space.name in text
    assert world["users"]["moderator"].display_name in text
    assert_accessible(page)
