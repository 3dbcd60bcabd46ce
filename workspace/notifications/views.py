"""Notification pages that work without JavaScript: the list, mark read, settings, follow."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from messaging.models import Topic
from messaging.selectors import visible_topic
from networks.access import Action, access_space
from workspace.notifications import selectors, services
from workspace.notifications.forms import FollowForm, PreferenceForm
from workspace.notifications.models import CONTENT_KINDS, Notification
from workspace.notifications.presenting import present

PAGE_SIZE = 30


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    paginator = Paginator(selectors.notification_page_rows(user=request.user), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    rows = [(n, present(n)) for n in page.object_list]
    return render(
        request,
        "notifications/list.html",
        {
            "page": page,
            "rows": rows,
            "unread": selectors.unread_count(user=request.user),
            "content_kinds": [str(kind) for kind in CONTENT_KINDS],
        },
    )


@login_required
@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    try:
        services.notification_mark_read(notification_id=notification_id, acting_user=request.user)
    except Notification.DoesNotExist:
        raise Http404 from None  # another user's, hidden or missing: all alike
    return redirect("notification_list")


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    services.notification_mark_all_read(acting_user=request.user)
    messages.success(request, _("All notifications are marked as read."))
    return redirect("notification_list")


@login_required
@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    preference = selectors.preference_for(user=request.user)
    initial = {"email": preference.email, "language": preference.language}
    form = PreferenceForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.preference_set(
            email=form.cleaned_data["email"],
            language=form.cleaned_data["language"],
            acting_user=request.user,
        )
        messages.success(request, _("Your notification settings are saved."))
        return redirect("notification_settings")
    return render(
        request,
        "notifications/settings.html",
        {"form": form},
        status=400 if form.is_bound else 200,
    )


@login_required
@require_POST
def topic_follow(request: HttpRequest, space_id: int, topic_id: int) -> HttpResponse:
    access_space(request.user, space_id, action=Action.VIEW)
    try:
        # A hidden note's discussion is a 404 like a missing topic, as on the topic page.
        topic = visible_topic(user=request.user, space_id=space_id, topic_id=topic_id)
    except Topic.DoesNotExist:
        raise Http404 from None
    form = FollowForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Invalid request."))
    follow = services.topic_follow_set(
        topic=topic, following=form.cleaned_data["following"], acting_user=request.user
    )
    if follow.following:
        messages.success(request, _("You follow this topic."))
    else:
        messages.success(request, _("You no longer follow this topic."))
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("topic_detail", space_id=space_id, topic_id=topic_id)
