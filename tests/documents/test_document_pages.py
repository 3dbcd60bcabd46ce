"""Document pages in the space shell: the delete form asks first, the upload form says
what the server really does with the file."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from documents.crypto import encrypt
from documents.keys import space_key_current
from documents.services import DocumentMeta, document_upload

pytestmark = pytest.mark.django_db


def _document(world):
    space, moderator = world["space"], world["users"]["moderator"]
    recipient = space_key_current(space=space).recipient
    return document_upload(
        space=space,
        acting_user=moderator,
        stream=io.BytesIO(encrypt(b"statistics\n", [recipient])),
        content_length=None,
        filename="stats.txt",
        meta=DocumentMeta(title="Port statistics"),
    ).document


def test_the_delete_form_asks_for_confirmation(client, world):
    document = _document(world)
    client.force_login(world["users"]["moderator"])
    html = client.get(reverse("document_detail", args=[document.pk])).content.decode()
    assert f'action="{reverse("document_delete", args=[document.pk])}"' in html
    assert 'data-confirm="Delete “Port statistics”?"' in html
    assert 'aria-current="page">Documents</a>' in html


def test_the_upload_form_does_not_claim_the_server_never_sees_the_file(client, world):
    client.force_login(world["users"]["member_open"])
    html = client.get(reverse("document_new", args=[world["space"].pk])).content.decode()
    assert "never sees" not in html
    assert "decrypts the file in memory" in html
