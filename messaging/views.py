"""Discussion pages that work without JavaScript: thin views over services and selectors."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from messaging import selectors, services
from messaging.app_settings import messaging_settings
from messaging.forms import EditForm, MessageForm, ReactionForm, TopicForm
from messaging.models import Emoji, Message, Topic
from networks.access import (
    Action,
    access_item,
    access_space,
    access_space_for,
    clearance_in_effect,
    frame_user,
)
from networks.clearance import level_name
from networks.models import Membership
from workspace.accounts.adapter import user_has_mfa


def _topic(user: Any, membership: Membership, topic_id: int) -> Topic:
    """A topic the member may see; a hidden note's discussion is a 404 like a missing one."""
    try:
        return selectors.visible_topic(user=user, space_id=membership.space_id, topic_id=topic_id)
    except Topic.DoesNotExist:
        raise Http404 from None


def _visible_message(request: HttpRequest, space_id: int, message_id: int) -> Message:
    """A message of this space that the user may see; hidden and missing are both 404."""
    access_space(request.user, space_id, action=Action.VIEW)
    message = (
        selectors.visible_messages(user=request.user, space_id=space_id)
        .select_related("topic", "author")
        .filter(pk=message_id)
        .first()
    )
    if message is None:
        raise Http404
    return message


def _can(user: Any, space_id: int, action: Action) -> bool:
    try:
        access_space(user, space_id, action=action)
    except PermissionDenied:
        return False
    return True


def _message_form(request: HttpRequest, membership: Membership, data: Any = None) -> MessageForm:
    return MessageForm(
        data,
        clearance=clearance_in_effect(membership),
        members=selectors.space_member_users(
            space_id=membership.space_id, exclude_id=request.user.pk
        ),
    )


@login_required
@require_GET
def topic_list(request: HttpRequest, space_id: int) -> HttpResponse:
    membership = access_space(request.user, space_id, action=Action.VIEW)
    return render(
        request,
        "messaging/topic_list.html",
        {
            "space": membership.space,
            "membership": membership,
            "topics": selectors.topics_with_unread(user=request.user, space_id=space_id),
            "mentions": selectors.unread_mentions(user=request.user, space_id=space_id),
            "head": selectors.space_head(space_id=space_id),
            "can_post": _can(request.user, space_id, Action.POST),
            "form": TopicForm(),
        },
    )


@login_required
@require_POST
def topic_create(request: HttpRequest, space_id: int) -> HttpResponse:
    membership = access_space(request.user, space_id, action=Action.POST)
    form = TopicForm(request.POST)
    if form.is_valid():
        try:
            topic = services.topic_create(
                space=membership.space, name=form.cleaned_data["name"], acting_user=request.user
            )
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            return redirect("topic_detail", space_id=space_id, topic_id=topic.pk)
    for error in form.errors.get("name", []):
        messages.error(request, error)
    return redirect("topic_list", space_id=space_id)


def _render_topic(
    request: HttpRequest,
    membership: Membership,
    topic: Topic,
    form: MessageForm,
    status: int = 200,
    *,
    user: Any = None,
) -> HttpResponse:
    """`user`: the acting user object for the page's reads and checks (a `frame_user`
    whose access answers were read with the membership); by default request.user."""
    user = request.user if user is None else user
    paginator = Paginator(
        selectors.topic_messages(user=user, topic=topic),
        messaging_settings().page_size,
    )
    # The page opens where the member stopped reading: the page holding the first unread
    # message (realtime.js scrolls to it), else the newest. Nothing is marked read here:
    # the page's script marks what was on screen; "Mark all read" posts to this URL.
    unread = selectors.topic_unread_state(user=user, topic=topic)
    unread_page = (
        unread.before_first_unread // paginator.per_page + 1
        if unread.first_unread_seq is not None
        else paginator.num_pages
    )
    page = paginator.get_page(request.GET.get("page") or unread_page)
    rows = list(page.object_list)
    is_moderator = _can(user, membership.space_id, Action.MODERATE)
    can_post = _can(user, membership.space_id, Action.POST)
    names = selectors.member_names(space_id=membership.space_id)
    choices = (
        selectors.recipient_choices(space_id=membership.space_id, exclude_id=user.pk)
        if can_post
        else []
    )
    for message in rows:
        message.reaction_summary = selectors.reaction_summary(message)  # type: ignore[attr-defined]
        message.can_delete = not message.is_deleted and (  # type: ignore[attr-defined]
            message.author_id == user.pk or is_moderator
        )
    return render(
        request,
        "messaging/topic_detail.html",
        {
            "space": membership.space,
            "membership": membership,
            "topic": topic,
            "page": page,
            "rows": rows,
            "form": form,
            "can_post": can_post,
            "is_moderator": is_moderator,
            "limits": messaging_settings(),
            "unread": unread,
            "unread_page": unread_page,
            "recipient_choices": choices,
            # For the composer's @-mention autocomplete: [[id, name, clearance], …].
            "mentionables_json": json.dumps([[c.pk, c.name, c.clearance] for c in choices]),
            "member_names": names,
            # For realtime.js: who reacted, a TLP:RED message's recipients (a data attribute).
            "members_json": json.dumps({str(pk): name for pk, name in names.items()}),
            "head": selectors.space_head(space_id=membership.space_id),
            "clearance_name": level_name(clearance_in_effect(membership)),
            # Rendered once per page, not once per message: the options loop was a fifth
            # of a 40-message page's time.
            "emoji_options": format_html_join(
                "", '<option value="{}">{}</option>', Emoji.choices
            ),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def topic_detail(request: HttpRequest, space_id: int, topic_id: int) -> HttpResponse:
    if request.method == "POST":
        return _topic_read(request, space_id, topic_id)
    # One user object for the page, as for a socket frame: the membership and the page's
    # three permissions (view, post, moderate) are read in one query, once. Nothing on
    # this page changes the user's own membership.
    user = frame_user(request.user, mfa=user_has_mfa(request.user))
    membership = access_space_for(
        user, space_id, action=Action.VIEW, also=(Action.POST, Action.MODERATE)
    )
    topic = _topic(user, membership, topic_id)
    form = _message_form(request, membership)
    return _render_topic(request, membership, topic, form, user=user)


def _topic_read(request: HttpRequest, space_id: int, topic_id: int) -> HttpResponse:
    """POST to a topic's page: mark it read up to `seq` (what the page's script saw on
    screen) or, with `read=all`, up to the newest message ("Mark all read", also without
    JavaScript). The read marker never goes backwards (services.read_mark)."""
    membership = access_space(request.user, space_id, action=Action.VIEW)
    topic = _topic(request.user, membership, topic_id)
    if request.POST.get("read") == "all":
        seq: Any = selectors.space_head(space_id=space_id)
    else:
        raw = request.POST.get("seq", "")
        seq = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None
        if seq is None:
            return HttpResponseBadRequest(_("Invalid sequence number."))
    marker = services.read_mark(topic=topic, seq=seq, acting_user=request.user)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"topic_id": topic.pk, "seq": marker.last_seq})
    return redirect("topic_detail", space_id=space_id, topic_id=topic.pk)


@login_required
@require_POST
def message_post(request: HttpRequest, space_id: int, topic_id: int) -> HttpResponse:
    membership = access_space(request.user, space_id, action=Action.POST)
    topic = _topic(request.user, membership, topic_id)
    form = _message_form(request, membership, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            message = services.message_post(
                space=membership.space,
                topic=topic,
                body=data["body"],
                level=data["level"],
                tlp=data["tlp"],
                recipients=list(data["recipients"]),
                client_id=data["client_id"],
                acting_user=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # Posting answers what came before: the page opens at the new message.
            services.read_mark(topic=topic, seq=message.seq, acting_user=request.user)
            url = reverse("topic_detail", kwargs={"space_id": space_id, "topic_id": topic.pk})
            return redirect(f"{url}#m{message.pk}")
    return _render_topic(request, membership, topic, form)


@login_required
@require_http_methods(["GET", "POST"])
def message_edit(request: HttpRequest, space_id: int, message_id: int) -> HttpResponse:
    message = _visible_message(request, space_id, message_id)
    if message.author_id != request.user.pk or message.is_deleted:
        raise PermissionDenied
    access_item(request.user, selectors.message_labels(message), action=Action.POST)
    form = EditForm(request.POST or None, initial={"body": message.body})
    if request.method == "POST" and form.is_valid():
        try:
            services.message_edit(
                message=message, body=form.cleaned_data["body"], acting_user=request.user
            )
        except ValidationError as exc:
            form.add_error("body", exc)
        else:
            url = reverse(
                "topic_detail", kwargs={"space_id": space_id, "topic_id": message.topic_id}
            )
            return redirect(f"{url}#m{message.pk}")
    return render(
        request,
        "messaging/message_edit.html",
        {
            "space": message.space,
            "message": message,
            "form": form,
        },
    )


@login_required
@require_POST
def message_delete(request: HttpRequest, space_id: int, message_id: int) -> HttpResponse:
    message = _visible_message(request, space_id, message_id)
    services.message_delete(message=message, acting_user=request.user, request=request)
    messages.success(request, _("The message was deleted."))
    return redirect("topic_detail", space_id=space_id, topic_id=message.topic_id)


@login_required
@require_GET
def message_revisions(request: HttpRequest, space_id: int, message_id: int) -> HttpResponse:
    message = _visible_message(request, space_id, message_id)
    if message.is_deleted:
        # What was deleted stays on record for moderators only.
        access_space(request.user, space_id, action=Action.MODERATE)
    return render(
        request,
        "messaging/message_revisions.html",
        {
            "space": message.space,
            "message": message,
            "revisions": message.revisions.select_related("edited_by"),
        },
    )


@login_required
@require_POST
def reaction_toggle(request: HttpRequest, space_id: int, message_id: int) -> HttpResponse:
    message = _visible_message(request, space_id, message_id)
    form = ReactionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Unknown reaction."))
    else:
        try:
            services.reaction_toggle(
                message=message, emoji=form.cleaned_data["emoji"], acting_user=request.user
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    url = reverse("topic_detail", kwargs={"space_id": space_id, "topic_id": message.topic_id})
    return redirect(f"{url}#m{message.pk}")
