"""Responsive down to 360 px: the main pages never scroll sideways on a small phone.

Wide content (tables, charts) scrolls inside its own box or scales; the page itself
must not be wider than the viewport.
"""

from __future__ import annotations

import io

import pytest

from documents.crypto import encrypt
from documents.keys import space_key_current
from documents.services import DocumentMeta, document_upload
from messaging import services
from messaging.note_services import NoteInput, note_create
from tests.e2e.helpers import new_context, wait_live

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 360, 740


@pytest.fixture
def content(world):  # type: ignore[no-untyped-def]
    """A topic with a message, a document and a note; created before the browser starts.

    Every member gets a long name and address: the widest real data, so the check does
    not depend on the names the factory happens to pick (a short run once hid a table's
    visually-hidden labels escaping its scroll box)."""
    from workspace.accounts.models import User

    for user in User.objects.all():
        user.display_name = "Bartholomew Featherstonehaugh-Montgomery"
        user.email = f"a.very.long.mailbox.name.{user.pk}@directorate-general.example"
        user.save(update_fields=["display_name", "email"])
    space, moderator = world["space"], User.objects.get(pk=world["users"]["moderator"].pk)
    topic = services.topic_create(space=space, name="Port routes", acting_user=moderator)
    services.message_post(
        space=space,
        topic=topic,
        body="Convoy leaves **Valencia** at dawn; a long unbroken reference "
        "MSCU-1234567-VALENCIA-ALGECIRAS-ROTTERDAM-TRANSSHIPMENT follows.",
        level=0,
        tlp="GREEN",
        acting_user=moderator,
    )
    recipient = space_key_current(space=space).recipient
    document = document_upload(
        space=space,
        acting_user=moderator,
        stream=io.BytesIO(encrypt(b"port statistics\n", [recipient])),
        content_length=None,
        filename="port-statistics-for-the-second-quarter-of-the-year.txt",
        meta=DocumentMeta(title="Port statistics"),
    ).document
    note = note_create(
        space=space,
        data=NoteInput(
            title="Semi-submersible departures",
            summary="Pattern of low-profile vessels.",
            category="concealment.air_cargo",
            source_reliability="B",
            information_credibility="2",
            handling_code="H0",
            level=0,
            tlp="GREEN",
            countries=["CO", "ES"],
        ),
        acting_user=moderator,
    )
    return {"topic": topic, "document": document, "note": note}


def test_main_pages_fit_a_360px_screen(world, content, daphne_server, browser, browser_log):
    space = world["space"]
    anonymous = new_context(browser, daphne_server, browser_log).new_page()
    moderator = new_context(browser, daphne_server, browser_log, world["users"]["moderator"])
    admin = new_context(browser, daphne_server, browser_log, world["users"]["network_admin"])
    signed_in, admin_page = moderator.new_page(), admin.new_page()
    for page in (anonymous, signed_in, admin_page):
        page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    topic, note = content["topic"], content["note"]
    pages = [
        (anonymous, "/accounts/login/", None),
        (signed_in, "/", None),
        (signed_in, f"/networks/{space.network.slug}/", None),
        (signed_in, f"/spaces/{space.pk}/", None),
        (signed_in, f"/spaces/{space.pk}/topics/", wait_live),
        (signed_in, f"/spaces/{space.pk}/topics/{topic.pk}/", wait_live),
        (signed_in, f"/spaces/{space.pk}/documents/", None),
        (signed_in, f"/spaces/{space.pk}/documents/new/", None),
        (signed_in, f"/documents/{content['document'].pk}/", None),
        (signed_in, f"/spaces/{space.pk}/notes/", None),
        (signed_in, f"/spaces/{space.pk}/notes/new/", None),
        (signed_in, f"/spaces/{space.pk}/notes/{note.pk}/", None),
        (signed_in, f"/spaces/{space.pk}/members/", None),
        (signed_in, f"/spaces/{space.pk}/audit/", None),
        (signed_in, f"/spaces/{space.pk}/insight/", None),
        (admin_page, f"/networks/{space.network.slug}/insight/", None),
        (signed_in, "/search/?q=valencia", None),
        (signed_in, "/notifications/", None),
        (signed_in, "/notifications/settings/", None),
        (signed_in, "/accounts/profile/", None),
        (signed_in, "/accounts/2fa/", None),
        (signed_in, "/accounts/sessions/", None),
    ]
    too_wide = []
    for page, path, ready in pages:
        response = page.goto(path)
        assert response is not None and response.status == 200, f"{path}: {response}"
        if ready is not None:
            ready(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > WIDTH:
            culprits = page.evaluate(
                """(limit) => [...document.querySelectorAll('body *')]
                  .filter(e => e.getBoundingClientRect().right > limit + 0.5
                            && !(e.closest('.table-scroll') && e.closest('.table-scroll') !== e))
                  .slice(0, 5)
                  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
                            + ' ' + Math.round(e.getBoundingClientRect().right))""",
                WIDTH,
            )
            too_wide.append(f"{path}: scrollWidth {width}; {culprits}")
    assert not too_wide, "pages wider than the screen:\n" + "\n".join(too_wide)
