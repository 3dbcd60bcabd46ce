"""Project-level views: the home page and friendly error pages that leak nothing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from workspace.audit.services import audit_record


@login_required
def home(request: HttpRequest) -> HttpResponse:
    from networks.selectors import dashboard_for

    return render(request, "home.html", dashboard_for(user=request.user))


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (error pages included)."""
    from django.http import HttpResponsePermanentRedirect
    from django.templatetags.static import static

    return HttpResponsePermanentRedirect(static("favicon.svg"))


def _error(request: HttpRequest, status: int, template: str) -> HttpResponse:
    return render(request, template, status=status)


def bad_request(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return _error(request, 400, "errors/400.html")


def permission_denied(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return _error(request, 403, "errors/403.html")


def page_not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
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
