"""Destructive actions ask first, in an accessible dialog: cancelling changes nothing,
confirming does what the button says."""

from __future__ import annotations

import io

import pytest

from documents.crypto import encrypt
from documents.keys import space_key_current
from documents.models import Document
from documents.services import DocumentMeta, document_upload
from networks.models import Membership, MembershipStatus
from tests.e2e.helpers import assert_accessible, new_context

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def document(world):  # type: ignore[no-untyped-def]
    space = world["space"]
    recipient = space_key_current(space=space).recipient
    return document_upload(
        space=space,
        acting_user=world["users"]["moderator"],
        stream=io.BytesIO(encrypt(b"port statistics\n", [recipient])),
        content_length=None,
        filename="stats.txt",
        meta=DocumentMeta(title="Port statistics"),
    ).document


def test_deleting_a_document_asks_first(world, document, daphne_server, browser, browser_log):
    page = new_context(browser, daphne_server, browser_log, world["users"]["moderator"]).new_page()
    page.goto(f"/documents/{document.pk}/")
    page.get_by_role("button", name="Delete this document").click()
    dialog = page.get_by_role("dialog", name="Delete “Port statistics”?")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.textContent") == "Cancel", "Cancel has focus"
    assert_accessible(page)
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert Document.objects.filter(pk=document.pk).exists(), "Escape deletes nothing"
    page.get_by_role("button", name="Delete this document").click()
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="hidden")
    assert page.url.endswith(f"/documents/{document.pk}/")
    assert Document.objects.filter(pk=document.pk).exists(), "Cancel deletes nothing"
    page.get_by_role("button", name="Delete this document").click()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Delete the document").click()
    assert not Document.objects.filter(pk=document.pk).exists()


def test_removing_a_member_asks_first(world, daphne_server, browser, browser_log):
    space = world["space"]
    member = world["users"]["member_open"]
    membership = Membership.objects.get(space=space, user=member)
    page = new_context(browser, daphne_server, browser_log, world["users"]["moderator"]).new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/spaces/{space.pk}/members/")
    form = page.locator(f"form[action$='/members/{membership.pk}/status/']")
    form.get_by_role("button", name="Remove").click()
    dialog = page.get_by_role("dialog", name=f"Remove {member.display_name} from this space?")
    dialog.wait_for()
    dialog.get_by_role("button", name="Cancel").click()
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.ACTIVE
    form.get_by_role("button", name="Suspend").click()
    dialog = page.get_by_role("dialog", name=f"Suspend {member.display_name}?")
    with page.expect_navigation():
        dialog.get_by_role("button", name="Suspend").click()
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.SUSPENDED, "the pressed button's value is sent"
