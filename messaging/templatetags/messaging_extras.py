"""Template helpers for discussion pages: level and TLP badges."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

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


@register.simple_tag
def badges(level: int, tlp: str) -> SafeString:
    """An item's level and TLP badges (`{% badges item.level item.tlp %}`): a tag rather
    than an included template, as a page shows them once per message."""
    return format_html(
        '<span class="badge level-badge level-{}" title="{}">{}</span> '
        '<span class="badge tlp-badge {}" title="{}">{}</span>',
        level,
        gettext("Level"),
        level_label(level),
        tlp_class(tlp),
        gettext("Traffic Light Protocol label"),
        tlp_label(tlp),
    )
