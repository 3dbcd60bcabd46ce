"""Template helpers for discussion pages: level and TLP badges."""

from __future__ import annotations

from django import template

from networks.clearance import TLP, level_name

register = template.Library()


@register.filter
def level_label(rank: int) -> str:
    return level_name(int(rank))


@register.filter
def tlp_class(tlp: str) -> str:
    """A CSS class per TLP label, e.g. AMBER+STRICT -> tlp-amber-strict."""
    return "tlp-" + str(tlp).lower().replace("+", "-")


@register.filter
def tlp_label(tlp: str) -> str:
    """ "TLP:AMBER+STRICT": the standard's own label (never translated)."""
    return str(TLP(tlp).label) if tlp in TLP.values else "TLP:?"
