"""Insight dashboards: a space's moderators (and network admins) see activity volume.

Thin: check access, read the aggregates, build chart geometry, render.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from networks.access import Action, access_space, clearance_in_effect, is_network_admin
from networks.clearance import LOWEST_LEVEL, level_name
from networks.models import Network, Space
from workspace.audit.services import audit_record
from workspace.insight import selectors
from workspace.insight.charts import BarChart, bar_chart
from workspace.insight.selectors import Activity


def _charts(activity: Activity, *, where: str) -> list[tuple[str, BarChart]]:
    """(heading, chart) for each series, titled with the space or network name."""
    series = [
        (
            "chart-messages",
            _("Messages per week"),
            _("Messages per week in %(where)s"),
            _("Messages"),
            activity.messages,
        ),
        (
            "chart-active",
            _("Active members per week"),
            _("Active members per week in %(where)s"),
            _("Active members"),
            activity.active_members,
        ),
        (
            "chart-documents",
            _("Documents added per week"),
            _("Documents added per week in %(where)s"),
            _("Documents"),
            activity.documents,
        ),
    ]
    return [
        (
            heading,
            bar_chart(
                chart_id=chart_id,
                title=title % {"where": where},
                value_heading=value_heading,
                weeks=activity.weeks,
                counts=counts,
            ),
        )
        for chart_id, heading, title, value_heading, counts in series
    ]


@login_required
@require_GET
def space_insight(request: HttpRequest, space_id: int) -> HttpResponse:
    space = Space.objects.select_related("network").filter(pk=space_id).first()
    if space is not None and is_network_admin(request.user, space.network_id):
        ceilings = selectors.clearance_ceilings(user=request.user, space_ids=[space.pk])
    else:
        membership = access_space(request.user, space_id, action=Action.MODERATE)
        space = membership.space
        ceilings = {space.pk: clearance_in_effect(membership)}
    activity = selectors.weekly_activity(viewer=request.user, ceilings=ceilings).total
    # Who looked at a space's activity and members by country, and when.
    audit_record(
        action="insight.viewed",
        actor=request.user,
        request=request,
        space_id=space.pk,
        target=f"space:{space.pk}",
    )
    return render(
        request,
        "insight/dashboard.html",
        {
            "space": space,
            "network": space.network,
            "scope_name": space.name,
            "charts": _charts(activity, where=space.name),
            "activity": activity,
            "countries": selectors.members_by_country(space_ids=[space.pk]),
            "ceiling_name": level_name(ceilings[space.pk]),
        },
    )


@login_required
@require_GET
def network_insight(request: HttpRequest, slug: str) -> HttpResponse:
    network = Network.objects.filter(slug=slug).first()
    # A network the user does not administer is a 404 like a missing one: no slug oracle.
    if network is None or not is_network_admin(request.user, network.pk):
        raise Http404
    spaces = list(selectors.network_spaces(network_id=network.pk))
    ceilings = selectors.clearance_ceilings(user=request.user, space_ids=[s.pk for s in spaces])
    activity = selectors.weekly_activity(viewer=request.user, ceilings=ceilings)
    breakdown = [
        (space, activity.per_space[space.pk], level_name(ceilings[space.pk])) for space in spaces
    ]
    audit_record(
        action="insight.viewed", actor=request.user, request=request, target=f"network:{slug}"
    )
    return render(
        request,
        "insight/dashboard.html",
        {
            "space": None,
            "network": network,
            "scope_name": network.name,
            "charts": _charts(activity.total, where=network.name),
            "activity": activity.total,
            "countries": selectors.members_by_country(space_ids=[s.pk for s in spaces]),
            "breakdown": breakdown,
            "lowest_level_name": level_name(LOWEST_LEVEL),
        },
    )
