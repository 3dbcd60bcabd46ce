"""By keyboard: post form, language switcher, account menu and moderation, Tab and Enter.

Focus moves only by Tab (and the arrow keys inside a select, which is how a select is
operated from the keyboard); nothing is clicked.
"""

from __future__ import annotations

import pytest

from messaging import services
from networks.models import Membership
from tests.e2e.helpers import new_context, wait_live

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _focused(page) -> str:  # type: ignore[no-untyped-def]
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " if (!e) return '';"
        " const name = e.id ? '#' + e.id : e.tagName.toLowerCase();"
        " return name + '|' + (e.textContent || '').trim().slice(0, 30); }"
    )


def _tab_to(page, selector: str, limit: int = 80) -> None:  # type: ignore[no-untyped-def]
    """Press Tab until `selector` has the focus; fail if it is never reached."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            outline = page.evaluate(
                "() => { const st = getComputedStyle(document.activeElement);"
                " return st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) >= 2; }"
            )
            assert outline, f"{selector} has no visible focus indicator"
            return
        seen.append(_focused(page))
    raise AssertionError(f"{selector} is not reachable by Tab; focus went through {seen}")


@pytest.fixture
def topic(world):  # type: ignore[no-untyped-def]
    """Created before the browser starts (its event loop would stop the doorbell)."""
    return services.topic_create(
        space=world["space"], name="Port routes", acting_user=world["users"]["moderator"]
    )


def test_skip_link_and_post_form_by_keyboard(world, topic, daphne_server, browser, browser_log):
    users = world["users"]
    space = world["space"]
    page = new_context(browser, daphne_server, browser_log, users["member_confidential"]).new_page()
    page.goto(f"/spaces/{space.pk}/topics/{topic.pk}/")
    wait_live(page)

    # The first Tab reaches the skip link; Enter moves focus to the main content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('skip-link')")
    assert page.locator(".skip-link").is_visible(), "the skip link shows when focused"
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'main'")

    _tab_to(page, "#id_body")
    page.keyboard.type("Sent with the keyboard only")
    _tab_to(page, "#id_level")
    page.keyboard.press("ArrowDown")  # OPEN → RESTRICTED
    assert page.input_value("#id_level") == "1"
    _tab_to(page, "#post-form button[type=submit]")
    page.keyboard.press("Enter")
    article = page.locator(".message-list article[data-message-id]", has_text="keyboard only")
    article.wait_for()
    assert "level-1" in article.locator(".level-badge").get_attribute("class")
    assert page.input_value("#id_body") == "", "the form is cleared for the next message"


def test_language_switcher_and_account_menu_by_keyboard(world, daphne_server, browser, browser_log):
    page = new_context(
        browser, daphne_server, browser_log, world["users"]["member_open"]
    ).new_page()
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "en"
    _tab_to(page, "#language-select")
    page.keyboard.press("ArrowDown")  # English → Español
    assert page.input_value("#language-select") == "es"
    _tab_to(page, ".language-form button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("html").get_attribute("lang") == "es"
    # And back again, from the top of the new page.
    _tab_to(page, "#language-select")
    page.keyboard.press("ArrowUp")
    assert page.input_value("#language-select") == "en"
    _tab_to(page, ".language-form button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("html").get_attribute("lang") == "en"

    # The account menu (a details/summary disclosure) opens with Enter; links follow.
    _tab_to(page, ".account-menu summary")
    page.keyboard.press("Enter")
    assert page.locator(".account-menu").get_attribute("open") is not None
    _tab_to(page, ".account-menu a[href='/accounts/profile/']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/accounts/profile/")


def test_moderation_by_keyboard(world, daphne_server, browser, browser_log):
    space = world["space"]
    page = new_context(browser, daphne_server, browser_log, world["users"]["moderator"]).new_page()
    page.goto(f"/spaces/{space.pk}/members/")
    membership = Membership.objects.get(space=space, user=world["users"]["member_restricted"])
    select = f"#id_m{membership.pk}-clearance"
    _tab_to(page, select, limit=250)
    page.keyboard.press("ArrowUp")  # RESTRICTED → OPEN
    assert page.input_value(select) == "0"
    _tab_to(page, f"form[action$='/members/{membership.pk}/'] button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator(".messages li").first.wait_for()
    membership.refresh_from_db()
    assert membership.clearance == 0
