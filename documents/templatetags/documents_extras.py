"""Template helpers for documents: level names."""

from django import template

from networks.clearance import level_name

register = template.Library()


@register.filter
def level_label(rank: int) -> str:
    return level_name(int(rank))
