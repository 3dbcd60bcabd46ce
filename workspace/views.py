"""Project-level views: the home page and friendly error pages that leak nothing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from networks import selectors as network_selectors
from networks.access import row_id, user_has_completed_mfa
from networks.models import Membership, MembershipStatus
from workspace.audit.services import audit_record


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", network_selectors.dashboard_for(user=request.user))


@login_required
def shortcuts_help(request: HttpRequest) -> HttpResponse:
    """The keyboard shortcuts (workspace/static/js/shortcuts.js) and the keys of the forms."""
    return render(request, "help/shortcuts.html")


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (error pages included)."""
    from django.http import HttpResponsePermanentRedirect
    from django.templatetags.static import static

    return HttpResponsePermanentRedirect(static("favicon.svg"))


def _error(request: HttpRequest, status: int, template: str) -> HttpResponse:
    return render(request, template, status=status)


def bad_request(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return _error(request, 400, "errors/400.html")


def _space_of_route(request: HttpRequest) -> int | None:
    """The space named by the refused URL (`/spaces/<space_id>/…`), for a signed-in user
    whose session passed its MFA step; None otherwise."""
    match = getattr(request, "resolver_match", None)
    space_id = row_id((getattr(match, "kwargs", None) or {}).get("space_id"))
    user = getattr(request, "user", None)
    if space_id is None or not user_has_completed_mfa(user):
        return None
    return space_id


def _expired_membership(request: HttpRequest, space_id: int) -> Membership | None:
    """The user's active membership in the space if its clearance has expired."""
    return (
        Membership.objects.filter(
            user_id=request.user.pk,
            space_id=space_id,
            status=MembershipStatus.ACTIVE,
            clearance_expires_at__lte=timezone.now(),
        )
        .select_related("space")
        .first()
    )


def _standing(request: HttpRequest) -> dict[str, Any] | None:
    """What to tell a member whose standing in the refused page's space changed: their
    membership was suspended or removed, or their clearance expired. None for anyone who
    holds no such membership of their own: they get the plain page, which names no space
    (no oracle for a space's existence or name)."""
    space_id = _space_of_route(request)
    if space_id is None:
        return None
    membership = network_selectors.ended_membership(user=request.user, space_id=space_id)
    if membership is None:
        membership = _expired_membership(request, space_id)
    if membership is None:
        return None
    return {
        "membership": membership,
        "space": membership.space,
        "moderators": network_selectors.space_moderator_names(space_id=space_id),
    }


def permission_denied(request: HttpRequest, exception: Any = None) -> HttpResponse:
    standing = _standing(request)
    if standing is not None:
        return render(request, "errors/membership_ended.html", standing, status=403)
    return _error(request, 403, "errors/403.html")


def page_not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
    standing = _standing(request)
    if standing is not None and standing["membership"].status == MembershipStatus.ACTIVE:
        # Hidden and missing items answer alike; the member only learns why some are hidden.
        return render(request, "errors/404.html", standing, status=404)
    return _error(request, 404, "errors/404.html")


def too_many_requests(request: HttpRequest, exception: Any = None) -> HttpResponse:
    """allauth calls this when a rate limit is hit; every hit is audited."""
    user = getattr(request, "user", None)
    audit_record(
        action="auth.rate_limited",
        actor=user if user is not None and user.is_authenticated else None,
        request=request,
        details={"path": request.path[:200]},
    )
    return _error(request, 429, "errors/429.html")


def server_error(request: HttpRequest) -> HttpResponse:
    """Rendered without the request's context: no user, session or database is touched,
    so the page still renders when the database is what failed."""
    from django.template import loader

    return HttpResponse(loader.get_template("errors/500.html").render({}), status=500)
