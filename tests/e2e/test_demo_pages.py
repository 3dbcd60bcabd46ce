"""The living demo as a newcomer sees it: the seeded fictional discussions (quotes,
mentions, reactions, TLP badges, unread messages) pass axe in light and dark mode, on a
desktop and on a phone. Screenshots go to /tmp/shots-dark/ for a person to look at."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from messaging.models import Topic
from networks.demo import MODERATOR
from tests.e2e.helpers import (
    axe_source,
    describe_violations,
    new_context,
    run_axe,
    serious,
    wait_live,
)
from workspace.accounts.models import User

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots-dark")


@pytest.fixture
def demo(settings):  # type: ignore[no-untyped-def]
    """Seeded before the browser starts (its event loop would stop the doorbell)."""
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    return Topic.objects.filter(name__startswith="[DEMO — fictional]").get()


@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_demo_discussion_in_light_and_dark(
    demo, daphne_server, browser, browser_log, width, height
):
    axe_source()
    page = new_context(
        browser, daphne_server, browser_log, User.objects.get(email=MODERATOR)
    ).new_page()
    page.set_viewport_size({"width": width, "height": height})
    reports = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for name, path in (
            ("demo-space", f"/spaces/{demo.space_id}/"),
            ("demo-topic", f"/spaces/{demo.space_id}/topics/{demo.pk}/"),
        ):
            page.goto(path)
            if "topics" in path:
                wait_live(page)
                page.locator(".reaction").first.wait_for()
                assert page.locator(".message-body blockquote").count(), "a reply quotes"
            page.screenshot(path=str(SHOTS / f"{name}-{scheme}-{width}.png"))
            if found := serious(run_axe(page)):
                reports.append(describe_violations(f"{path} ({scheme}, {width}px)", found))
    assert not reports, "\n\n".join(reports)
