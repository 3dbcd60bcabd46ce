"""Writes to the user's own profile."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from workspace.accounts.models import User
from workspace.audit.services import audit_record

PROFILE_FIELDS = ("display_name", "organisation", "country", "languages", "expertise")


@transaction.atomic
def profile_update(
    *, user: User, acting_user: User, data: dict[str, Any], request: Any = None
) -> User:
    if user.pk != acting_user.pk:
        raise PermissionError("Users edit only their own profile.")
    changed = [
        name for name in PROFILE_FIELDS if name in data and getattr(user, name) != data[name]
    ]
    for name in changed:
        setattr(user, name, data[name])
    user.full_clean(exclude=["password"])
    user.save(update_fields=changed or None)
    if changed:
        audit_record(
            action="account.profile_updated",
            actor=acting_user,
            request=request,
            details={"fields": changed},
        )
    return user
