"""Document reads: lists filtered in SQL by the access rule."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from documents.models import Document
from networks.access import filter_visible


def documents_visible(*, user: Any, space_id: int) -> QuerySet[Document]:
    return (
        filter_visible(
            Document.objects.filter(space_id=space_id),
            user,
            space_field="space",
            level_field="level",
            tlp_field="tlp",
            author_field="author",
            recipients_field="recipients",
        )
        .select_related("author")
        .order_by("-updated_at")
    )
