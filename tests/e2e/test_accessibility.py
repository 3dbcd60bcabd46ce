"""axe-core on each main page: no serious or critical violations.

axe-core comes from the npm package, copied into the venv by `make install`; it is served
to the page from the same origin by a Playwright route (so the page's CSP stays on and
nothing is fetched from a CDN).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from documents.crypto import encrypt
from documents.keys import space_key_current
from documents.services import DocumentMeta, document_upload
from messaging import services
from networks.models import Membership
from tests.e2e.helpers import (
    axe_source,
    describe_violations,
    new_context,
    run_axe,
    serious,
    wait_live,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def topic(world):  # type: ignore[no-untyped-def]
    """Created before the browser starts (its event loop would stop the doorbell)."""
    space = world["space"]
    moderator = world["users"]["moderator"]
    topic = services.topic_create(space=space, name="Port routes", acting_user=moderator)
    services.message_post(
        space=space,
        topic=topic,
        body="Convoy leaves **Valencia** at dawn, see @**someone**",
        level=1,
        tlp="AMBER",
        acting_user=moderator,
    )
    return topic


@pytest.fixture
def document(world):  # type: ignore[no-untyped-def]
    """A stored document (encrypted to the space key, as the browser would)."""
    recipient = space_key_current(space=world["space"]).recipient
    version = document_upload(
        space=world["space"],
        acting_user=world["users"]["moderator"],
        stream=io.BytesIO(encrypt(b"port statistics\n", [recipient])),
        content_length=None,
        filename="statistics.txt",
        meta=DocumentMeta(title="Port statistics"),
    )
    return version.document


@pytest.mark.parametrize("width", [1280, 360], ids=["desktop", "narrow"])
def test_main_pages_have_no_serious_axe_violations(
    world, topic, document, daphne_server, browser, browser_log, width
):
    axe_source()  # skip (or fail under CI) before starting anything if it is missing
    space = world["space"]
    moderator = world["users"]["moderator"]

    anonymous = new_context(browser, daphne_server, browser_log).new_page()
    signed_in = new_context(browser, daphne_server, browser_log, moderator).new_page()
    for page in (anonymous, signed_in):
        page.set_viewport_size({"width": width, "height": 800})
    pages = [
        (anonymous, "/accounts/login/", None),
        (signed_in, "/", None),
        (signed_in, f"/networks/{space.network.slug}/", None),
        (signed_in, f"/spaces/{space.pk}/", None),
        (signed_in, f"/spaces/{space.pk}/topics/", wait_live),
        (signed_in, f"/spaces/{space.pk}/topics/{topic.pk}/", wait_live),
        (signed_in, f"/spaces/{space.pk}/documents/", None),
        (signed_in, f"/spaces/{space.pk}/documents/new/", None),
        (signed_in, f"/documents/{document.pk}/", None),
        (signed_in, f"/spaces/{space.pk}/members/", None),
        (signed_in, f"/spaces/{space.pk}/insight/", None),
        (signed_in, "/search/?q=valencia", None),  # results, highlighted snippets, facets
        (signed_in, "/search/?q=zzqqxx", None),  # the empty state
        (signed_in, "/accounts/profile/", None),
        (signed_in, "/accounts/2fa/", None),
        (signed_in, "/accounts/sessions/", None),
        (signed_in, "/this-page-does-not-exist/", None),
    ]
    # The friendly 404 page is checked too; Chromium logs its status as a console error.
    # On a 4xx page Chromium also asks for /favicon.ico, which the app does not serve.
    browser_log.allow(r"this-page-does-not-exist/\)?: Failed to load resource: .* 404")
    reports = []
    for page, path, ready in pages:
        response = page.goto(path)
        expected = 404 if "does-not-exist" in path else 200
        assert response is not None and response.status == expected, f"{path}: {response}"
        if ready is not None:
            ready(page)
        found = serious(run_axe(page))
        if found:
            reports.append(describe_violations(path, found))

    # States, not only pages: a form with errors, and a page carrying a flash message.
    anonymous.goto("/accounts/login/")
    anonymous.fill("#id_login", "nobody@agency.example")
    anonymous.fill("#id_password", "wrong password")
    anonymous.locator("main form button[type=submit]").click()
    anonymous.locator(".errorlist, [role=alert], .form-errors").first.wait_for()
    if found := serious(run_axe(anonymous)):
        reports.append(describe_violations("/accounts/login/ (wrong password)", found))
    signed_in.goto(f"/spaces/{space.pk}/members/")
    membership = Membership.objects.get(space=space, user=world["users"]["member_open"])
    signed_in.locator(f"#id_m{membership.pk}-clearance").select_option("1")
    row = signed_in.locator("tr", has=signed_in.locator(f"#id_m{membership.pk}-clearance"))
    with signed_in.expect_navigation():
        row.get_by_role("button", name="Save").click()
    signed_in.locator(".messages li").first.wait_for()
    if found := serious(run_axe(signed_in)):
        reports.append(describe_violations("members page after a change", found))
    assert not reports, "\n\n".join(reports)

    # The checker itself works on these pages: a nameless button is reported as critical.
    signed_in.evaluate(
        "document.querySelector('main').append(Object.assign("
        "document.createElement('button'), {id: 'axe-probe'}))"
    )
    probe = [v["id"] for v in serious(run_axe(signed_in))]
    assert "button-name" in probe, probe


DARK_SHOTS = Path("/tmp/shots-dark")


@pytest.fixture
def unread_topic(world):  # type: ignore[no-untyped-def]
    """Two messages the open member has not read: the sidebar badge, divider and bar."""
    space = world["space"]
    moderator = world["users"]["moderator"]
    topic = services.topic_create(space=space, name="Container manifests", acting_user=moderator)
    for body in ("First look at the manifests.", "The consignee changed twice, see the table."):
        services.message_post(
            space=space, topic=topic, body=body, level=0, tlp="GREEN", acting_user=moderator
        )
    return topic


@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_main_pages_in_dark_mode_have_no_serious_axe_violations(
    world, topic, unread_topic, document, daphne_server, browser, browser_log, width, height
):
    """Dark mode follows prefers-color-scheme; axe (colour contrast included) passes on
    the main pages, an unread topic and the confirm dialog. Screenshots go to
    /tmp/shots-dark/ for a person to look at."""
    axe_source()
    space = world["space"]
    moderator = world["users"]["moderator"]
    member = world["users"]["member_open"]
    DARK_SHOTS.mkdir(parents=True, exist_ok=True)
    anonymous = new_context(browser, daphne_server, browser_log).new_page()
    signed_in = new_context(browser, daphne_server, browser_log, moderator).new_page()
    as_member = new_context(browser, daphne_server, browser_log, member).new_page()
    for page in (anonymous, signed_in, as_member):
        page.set_viewport_size({"width": width, "height": height})
        page.emulate_media(color_scheme="dark")
    pages = [
        ("login", anonymous, "/accounts/login/", None),
        ("dashboard", signed_in, "/", None),
        ("network", signed_in, f"/networks/{space.network.slug}/", None),
        ("space", signed_in, f"/spaces/{space.pk}/", None),
        ("topics", signed_in, f"/spaces/{space.pk}/topics/", wait_live),
        ("topic", signed_in, f"/spaces/{space.pk}/topics/{topic.pk}/", wait_live),
        ("topic-unread", as_member, f"/spaces/{space.pk}/topics/{unread_topic.pk}/", wait_live),
        ("notes", signed_in, f"/spaces/{space.pk}/notes/", None),
        ("documents", signed_in, f"/spaces/{space.pk}/documents/", None),
        ("document-new", signed_in, f"/spaces/{space.pk}/documents/new/", None),
        ("document", signed_in, f"/documents/{document.pk}/", None),
        ("members", signed_in, f"/spaces/{space.pk}/members/", None),
        ("insight", signed_in, f"/spaces/{space.pk}/insight/", None),
        ("search", signed_in, "/search/?q=valencia", None),
        ("profile", signed_in, "/accounts/profile/", None),
        ("notifications", signed_in, "/notifications/", None),
        ("shortcuts", signed_in, "/help/shortcuts/", None),
    ]
    reports = []
    for name, page, path, ready in pages:
        response = page.goto(path)
        assert response is not None and response.status == 200, f"{path}: {response}"
        if ready is not None:
            ready(page)
        background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert background == "rgb(21, 24, 28)", f"{path} is not dark: {background}"
        page.screenshot(path=str(DARK_SHOTS / f"{name}-{width}.png"))
        if found := serious(run_axe(page)):
            reports.append(describe_violations(f"{path} (dark, {width}px)", found))

    # The confirm dialog, over a dark page.
    signed_in.goto(f"/documents/{document.pk}/")
    signed_in.get_by_role("button", name="Delete this document").click()
    signed_in.get_by_role("dialog").wait_for()
    signed_in.screenshot(path=str(DARK_SHOTS / f"confirm-{width}.png"))
    if found := serious(run_axe(signed_in)):
        reports.append(describe_violations("confirm dialog (dark)", found))
    assert not reports, "\n\n".join(reports)
