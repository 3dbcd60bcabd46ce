"""Note pages: list with filters, note page with history, create and edit forms, JSON export."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_http_methods

from messaging import note_selectors, note_services
from messaging.models import Note
from messaging.note_forms import NoteFilterForm, NoteForm
from messaging.selectors import space_member_users
from messaging.taxonomy import load_taxonomy
from networks.access import Action, access_space, clearance_in_effect
from networks.clearance import TLP, level_name
from networks.models import Membership

PAGE_SIZE = 50


def _language() -> str:
    return (get_language() or "en").split("-")[0]


def _can(user: Any, space_id: int, action: Action) -> bool:
    try:
        access_space(user, space_id, action=action)
    except PermissionDenied:
        return False
    return True


def _visible_note(request: HttpRequest, space_id: int, note_id: int) -> tuple[Membership, Note]:
    membership = access_space(request.user, space_id, action=Action.VIEW)
    note = note_selectors.visible_note(user=request.user, space_id=space_id, note_id=note_id)
    if note is None:
        raise Http404
    return membership, note


def _note_form(request: HttpRequest, membership: Membership, **kwargs: Any) -> NoteForm:
    return NoteForm(
        request.POST if request.method == "POST" else None,
        clearance=clearance_in_effect(membership),
        members=space_member_users(space_id=membership.space_id, exclude_id=request.user.pk),
        **kwargs,
    )


def _decorate(note: Note) -> Note:
    """Labels for the page, in the UI language, from the shipped taxonomy."""
    taxonomy = load_taxonomy()
    category = taxonomy.categories.get(note.category)
    note.category_label = category.label() if category else note.category  # type: ignore[attr-defined]
    note.substance_labels = [  # type: ignore[attr-defined]
        taxonomy.substances_by_code[c].label()
        for c in note.substances
        if c in taxonomy.substances_by_code
    ]
    scheme = taxonomy.schemes_by_code.get(note.grading_scheme)
    source = scheme.source(note.source_reliability) if scheme else None
    info = scheme.information(note.information_credibility) if scheme else None
    note.grading_title = " · ".join(  # type: ignore[attr-defined]
        part
        for part in (
            scheme.label() if scheme else "",
            f"{note.source_reliability}: {source.label()}" if source else "",
            f"{note.information_credibility}: {info.label()}" if info else "",
        )
        if part
    )
    handling = taxonomy.handling_by_code.get(note.handling_code)
    note.handling_label = handling.label() if handling else note.handling_code  # type: ignore[attr-defined]
    return note


def _filters_and_notes(request: HttpRequest, space_id: int) -> tuple[NoteFilterForm, Any]:
    form = NoteFilterForm(request.GET or None)
    filters = form.filters() if request.GET else note_selectors.NoteFilters()
    return form, note_selectors.note_list(user=request.user, space_id=space_id, filters=filters)


@login_required
@require_GET
def note_list(request: HttpRequest, space_id: int) -> HttpResponse:
    membership = access_space(request.user, space_id, action=Action.VIEW)
    form, notes = _filters_and_notes(request, space_id)
    page = Paginator(notes, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [_decorate(note) for note in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "messaging/notes/note_list.html",
        {
            "space": membership.space,
            "membership": membership,
            "form": form,
            "page": page,
            "rows": rows,
            "query": query.urlencode(),
            "can_post": _can(request.user, space_id, Action.POST),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def note_create(request: HttpRequest, space_id: int) -> HttpResponse:
    membership = access_space(request.user, space_id, action=Action.POST)
    form = _note_form(request, membership)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                note = note_services.note_create(
                    space=membership.space, data=form.to_input(), acting_user=request.user
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                return redirect("note_detail", space_id=space_id, note_id=note.pk)
        status = 400
    return _render_form(request, membership, form, note=None, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def note_edit(request: HttpRequest, space_id: int, note_id: int) -> HttpResponse:
    membership, note = _visible_note(request, space_id, note_id)
    if not note_services.can_edit_note(request.user, note):
        raise PermissionDenied
    recipient_ids = list(note.recipients.values_list("pk", flat=True))
    form = _note_form(request, membership, initial=NoteForm.initial_for(note, recipient_ids))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                note_services.note_edit(
                    note=note, data=form.to_input(), acting_user=request.user, request=request
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                return redirect("note_detail", space_id=space_id, note_id=note.pk)
        status = 400
    return _render_form(request, membership, form, note=note, status=status)


def _add_errors(form: NoteForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)
    for name in form.errors:
        if name in form.fields:
            form.fields[name].widget.attrs["aria-invalid"] = "true"


def _render_form(
    request: HttpRequest, membership: Membership, form: NoteForm, *, note: Note | None, status: int
) -> HttpResponse:
    return render(
        request,
        "messaging/notes/note_form.html",
        {
            "space": membership.space,
            "note": note,
            "form": form,
            "schemes": load_taxonomy().schemes,
            "handling_codes": load_taxonomy().handling_codes,
            "clearance_name": level_name(clearance_in_effect(membership)),
        },
        status=status,
    )


@login_required
@require_GET
def note_detail(request: HttpRequest, space_id: int, note_id: int) -> HttpResponse:
    membership, note = _visible_note(request, space_id, note_id)
    _decorate(note)
    return render(
        request,
        "messaging/notes/note_detail.html",
        {
            "space": membership.space,
            "note": note,
            "route": note.route,
            "recipients": list(note.recipients.all()) if note.tlp == TLP.RED else [],
            "history": note_selectors.note_history(note=note, language=_language()),
            "can_edit": note_services.can_edit_note(request.user, note),
            "can_export": _exportable(note),
        },
    )


def _wants_html(request: HttpRequest) -> bool:
    """A browser following the Export link asks for a page; a script asks for JSON."""
    return "text/html" in request.headers.get("Accept", "")


def _exportable(note: Note) -> bool:
    """Whether `note_export` would let this note out (not TLP:RED, a handling code that
    allows export): the page offers the Export link only then."""
    handling = load_taxonomy().handling_by_code.get(note.handling_code)
    return note.tlp != TLP.RED and bool(getattr(handling, "exportable", False))


def _export_response(
    request: HttpRequest, notes: list[Note], filename: str, *, space: Any
) -> HttpResponse:
    try:
        payload = note_services.note_export(
            notes=notes, acting_user=request.user, language=_language(), request=request
        )
    except note_services.NoteExportRefused as exc:
        if _wants_html(request):
            return render(
                request,
                "messaging/notes/export_refused.html",
                {"space": space, "message": exc.message, "references": exc.references},
                status=403,
            )
        return JsonResponse(
            {"error": "export_refused", "message": exc.message, "notes": exc.references},
            status=403,
        )
    except ValidationError as exc:
        if _wants_html(request):
            return render(
                request,
                "messaging/notes/export_refused.html",
                {"space": space, "message": " ".join(exc.messages), "references": []},
                status=400,
            )
        return JsonResponse(
            {"error": exc.code or "invalid", "message": " ".join(exc.messages)}, status=400
        )
    response = HttpResponse(
        json.dumps(payload, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def note_export(request: HttpRequest, space_id: int, note_id: int) -> HttpResponse:
    membership, note = _visible_note(request, space_id, note_id)
    return _export_response(request, [note], f"{note.reference}.json", space=membership.space)


@login_required
@require_GET
def note_list_export(request: HttpRequest, space_id: int) -> HttpResponse:
    membership = access_space(request.user, space_id, action=Action.VIEW)
    _form, notes = _filters_and_notes(request, space_id)
    rows = list(notes[: note_services.MAX_EXPORT + 1])
    return _export_response(request, rows, f"notes-space-{space_id}.json", space=membership.space)
