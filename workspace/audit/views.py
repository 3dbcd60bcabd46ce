"""The audit trail: moderators see their space's, network admins their network's
(its spaces and the network itself), and superusers the whole platform's, with the
user-level sign-in and MFA events that belong to no network.

Lists are filtered and paginated; CSV and JSON exports stream in constant memory, are
themselves audited, and neutralise spreadsheet formulas in CSV cells.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from networks.access import Action, access_space, is_network_admin, user_has_completed_mfa
from networks.models import Network, Space
from workspace.audit.models import AuditEvent
from workspace.audit.selectors import audit_events_for
from workspace.audit.services import audit_record

ACTION_GROUPS = [
    ("", _("All actions")),
    ("auth.", _("Sign-in and sessions")),
    ("mfa.", _("Two-factor authentication")),
    ("invitation.", _("Invitations")),
    ("membership.", _("Memberships and clearance")),
    ("join_request.", _("Join requests")),
    ("document.", _("Documents")),
    ("message.", _("Messages")),
    ("note.", _("Notes")),
    ("space", _("Spaces and keys")),
]
EXPORT_FIELDS = [
    "seq",
    "created_at",
    "action",
    "actor_id",
    "actor_label",
    "ip",
    "user_agent",
    "space_id",
    "target",
    "details",
    "prev_hash",
    "hash",
]


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Actor email"), required=False, max_length=254)
    action = forms.ChoiceField(label=_("Action"), choices=ACTION_GROUPS, required=False)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


def network_events(network: Network) -> QuerySet[AuditEvent]:
    """The events of a network's spaces and of the network itself, newest first.

    User-level events (sign-in, MFA, profile) name no space and belong to no network: a
    network admin does not see them, whoever the user is.
    """
    return audit_events_for().filter(
        Q(space_id__in=Space.objects.filter(network=network).values("pk"))
        | Q(space_id=None, target__in=[f"network:{network.pk}", f"network:{network.slug}"])
    )


def _filtered(
    request: HttpRequest, events: QuerySet[AuditEvent]
) -> tuple[AuditFilterForm, QuerySet[AuditEvent]]:
    form = AuditFilterForm(request.GET or None)
    if form.is_valid():
        data = form.cleaned_data
        if data["actor"]:
            events = events.filter(actor_label__icontains=data["actor"].strip())
        if data["action"]:
            events = events.filter(action__startswith=data["action"])
        tz = timezone.get_current_timezone()
        if data["since"]:
            events = events.filter(created_at__gte=datetime.combine(data["since"], time(), tz))
        if data["until"]:
            end = datetime.combine(data["until"], time(), tz) + timedelta(days=1)
            events = events.filter(created_at__lt=end)
    return form, events


def _safe_cell(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    # A cell starting with = + - @ (or a tab/CR) is a formula to a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(events: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_FIELDS)
    for event in events.iterator(chunk_size=1000):
        yield writer.writerow([_safe_cell(getattr(event, f)) for f in EXPORT_FIELDS])


def _json_rows(events: QuerySet) -> Iterator[str]:
    yield "["
    first = True
    for event in events.iterator(chunk_size=1000):
        row = {f: getattr(event, f) for f in EXPORT_FIELDS}
        row["created_at"] = event.created_at.isoformat()
        yield ("" if first else ",") + json.dumps(row, sort_keys=True)
        first = False
    yield "]"


def _respond(
    request: HttpRequest, events: QuerySet, *, scope: str, space_id: int | None, context: dict
) -> HttpResponse:
    fmt = request.GET.get("export", "")
    if fmt in ("csv", "json"):
        audit_record(
            action="audit.exported",
            actor=request.user,
            request=request,
            space_id=space_id,
            target=scope,
            details={"format": fmt, "filters": dict(request.GET.items())},
        )
        rows = _csv_rows(events) if fmt == "csv" else _json_rows(events)
        content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
        response = StreamingHttpResponse(rows, content_type=content_type)
        filename = f"audit-{scope.replace(':', '-')}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request, "audit/trail.html", {**context, "page": page, "query": query.urlencode()}
    )


@login_required
@require_GET
def space_audit(request: HttpRequest, space_id: int) -> HttpResponse:
    space = Space.objects.select_related("network").filter(pk=space_id).first()
    if space is None or not is_network_admin(request.user, space.network_id):
        access_space(request.user, space_id, action=Action.MODERATE)
        space = Space.objects.select_related("network").get(pk=space_id)
    form, events = _filtered(request, audit_events_for(space_id=space.pk))
    return _respond(
        request,
        events,
        scope=f"space-{space.pk}",
        space_id=space.pk,
        context={"form": form, "space": space, "network": space.network},
    )


@login_required
@require_GET
def network_audit(request: HttpRequest, slug: str) -> HttpResponse:
    network = Network.objects.filter(slug=slug).first()
    # A slug the caller does not administer answers as one that does not exist.
    if network is None or not is_network_admin(request.user, network.pk):
        raise Http404
    form, events = _filtered(request, network_events(network))
    return _respond(
        request,
        events,
        scope=f"network:{network.pk}",
        space_id=None,
        context={"form": form, "space": None, "network": network},
    )


@login_required
@require_GET
def platform_audit(request: HttpRequest) -> HttpResponse:
    """Every event, user-level ones included: for superusers (the platform's operators)."""
    if not (request.user.is_superuser and user_has_completed_mfa(request.user)):
        raise Http404
    form, events = _filtered(request, audit_events_for())
    return _respond(
        request,
        events,
        scope="platform",
        space_id=None,
        context={"form": form, "space": None, "network": None},
    )


__all__ = ["AuditEvent", "network_audit", "platform_audit", "space_audit"]
