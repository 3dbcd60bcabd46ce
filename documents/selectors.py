"""Document reads: lists filtered in SQL by the access rule."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from documents.models import Document
from networks.access import filter_visible, row_id


def _visible(queryset: QuerySet[Document], user: Any) -> QuerySet[Document]:
    return filter_visible(
        queryset,
        user,
        space_field="space",
        level_field="level",
        tlp_field="tlp",
        author_field="author",
        recipients_field="recipients",
    )


def documents_visible(*, user: Any, space_id: int) -> QuerySet[Document]:
    return (
        _visible(Document.objects.filter(space_id=space_id), user)
        .select_related("author")
        .order_by("-updated_at")
    )


def visible_document(*, user: Any, document_id: Any) -> Document | None:
    """One document, with its space, if the user may see it; hidden and missing are both
    None, read by the same queries, so a sequential id tells nothing of a hidden one."""
    pk = row_id(document_id)
    if pk is None:
        return None
    return _visible(Document.objects.filter(pk=pk), user).select_related("space").first()
