"""Clearance levels and TLP labels: ordered vocabularies shared by every app.

Clearances and levels are stored as their rank (0 = lowest). The names come from
`settings.WORKSPACE_CLEARANCE_LEVELS`, so a deployment may rename them; only the
order matters.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

DEFAULT_LEVELS = ("OPEN", "RESTRICTED", "CONFIDENTIAL", "SECRET")


def level_names() -> tuple[str, ...]:
    return tuple(getattr(settings, "WORKSPACE_CLEARANCE_LEVELS", DEFAULT_LEVELS))


def level_choices() -> list[tuple[int, str]]:
    return list(enumerate(level_names()))


def level_name(rank: int) -> str:
    names = level_names()
    return names[rank] if 0 <= rank < len(names) else "?"


def level_rank(name: str) -> int:
    """The rank of a level name; raises ValueError for an unknown name."""
    try:
        return level_names().index(name.upper())
    except ValueError:
        raise ValueError(f"Unknown clearance level: {name!r}") from None


LOWEST_LEVEL = 0


def validate_level(rank: int) -> None:
    from django.core.exceptions import ValidationError

    if not 0 <= rank < len(level_names()):
        raise ValidationError(_("Unknown clearance level."), code="unknown_level")


class TLP(models.TextChoices):
    CLEAR = "CLEAR", _("TLP:CLEAR")
    GREEN = "GREEN", _("TLP:GREEN")
    AMBER = "AMBER", _("TLP:AMBER")
    AMBER_STRICT = "AMBER+STRICT", _("TLP:AMBER+STRICT")
    RED = "RED", _("TLP:RED")
