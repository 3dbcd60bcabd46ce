"""Document views: thin. Uploads arrive as age ciphertext; downloads stream plaintext."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from documents import services
from documents.keys import space_key_current
from documents.models import Document, DocumentVersion, UploadSession
from documents.selectors import documents_visible, visible_document
from documents.services import DocumentMeta, UploadRejected
from documents.sniff import ALLOWED_EXTENSIONS
from networks.access import Action, access_space, clearance_in_effect
from networks.clearance import TLP, level_choices, level_name
from networks.models import Membership, MembershipStatus

META_HEADER = "X-Document-Meta"


@login_required
@require_GET
def document_list(request: HttpRequest, space_id: int) -> HttpResponse:
    membership = access_space(request.user, space_id, action=Action.VIEW)
    documents = documents_visible(user=request.user, space_id=space_id)
    return render(
        request,
        "documents/list.html",
        {
            "space": membership.space,
            "documents": documents,
            "can_upload": request.user.has_perm("networks.upload_document", membership.space),
        },
    )


def _upload_context(request: HttpRequest, membership: Membership) -> dict[str, Any]:
    space = membership.space
    own = clearance_in_effect(membership)
    members = (
        Membership.objects.filter(space=space, status=MembershipStatus.ACTIVE)
        .select_related("user")
        .order_by("user__email")
    )
    return {
        "space": space,
        "recipient": space_key_current(space=space).recipient,
        "levels": [(rank, name) for rank, name in level_choices() if rank <= own],
        "tlps": TLP.choices,
        "members": [m for m in members if m.user_id != request.user.pk],
        "accept": ",".join(ALLOWED_EXTENSIONS),
        "max_bytes": services.max_upload_bytes(),
    }


@login_required
@require_GET
def document_new(request: HttpRequest, space_id: int) -> HttpResponse:
    membership = access_space(request.user, space_id, action=Action.UPLOAD)
    return render(request, "documents/upload.html", _upload_context(request, membership))


def _error(exc: UploadRejected | ValidationError) -> JsonResponse:
    if isinstance(exc, UploadRejected):
        return JsonResponse({"error": exc.code, "message": exc.message}, status=exc.status)
    return JsonResponse(
        {"error": exc.code or "invalid", "message": " ".join(exc.messages)}, status=400
    )


def _parse_meta(request: HttpRequest) -> dict[str, Any]:
    raw = request.headers.get(META_HEADER, "")
    if not raw or len(raw) > 32_000:
        raise ValidationError(_("The upload is missing its description."), code="meta")
    try:
        meta = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValidationError(_("The upload description is malformed."), code="meta") from None
    if not isinstance(meta, dict):
        raise ValidationError(_("The upload description is malformed."), code="meta")
    return meta


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _typed(meta: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = meta.get(key, default)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise ValidationError(_("The upload description is malformed."), code="meta")
    return value


def _document_meta(data: dict[str, Any]) -> DocumentMeta:
    """The document's description from the client's JSON, every field type-checked."""
    recipients = _typed(data, "recipients", list, [])
    if not all(isinstance(r, int) and not isinstance(r, bool) for r in recipients):
        raise ValidationError(_("The upload description is malformed."), code="meta")
    return DocumentMeta(
        title=_typed(data, "title", str, ""),
        description=_typed(data, "description", str, ""),
        level=_typed(data, "level", int, 0),
        tlp=_typed(data, "tlp", str, TLP.GREEN),
        recipient_ids=recipients,
    )


@login_required
@require_POST
def document_upload(request: HttpRequest, space_id: int) -> HttpResponse:
    membership = access_space(request.user, space_id, action=Action.UPLOAD)
    try:
        meta = _parse_meta(request)
        version = services.document_upload(
            space=membership.space,
            acting_user=request.user,
            stream=request,
            content_length=_content_length(request),
            filename=_typed(meta, "filename", str, ""),
            meta=_document_meta(meta),
            request=request,
        )
    except (UploadRejected, ValidationError) as exc:
        return _error(exc)
    return JsonResponse(
        {"id": version.document_id, "url": f"/documents/{version.document_id}/"}, status=201
    )


def _document_for(user: Any, document_id: int) -> Document:
    """A document the user may see. Hidden and missing are alike a 404 (an id of another
    space or network, or above the user's clearance, is no oracle); a right the user lacks
    on a document they see (to manage it, to upload) is the caller's 403."""
    document = visible_document(user=user, document_id=document_id)
    if document is None:
        raise Http404
    return document


@login_required
@require_POST
def version_upload(request: HttpRequest, document_id: int) -> HttpResponse:
    document = _document_for(request.user, document_id)
    services.access_document_manage(request.user, document, action=Action.UPLOAD)
    try:
        meta = _parse_meta(request)
        services.document_upload(
            space=document.space,
            acting_user=request.user,
            stream=request,
            content_length=_content_length(request),
            filename=_typed(meta, "filename", str, ""),
            document=document,
            request=request,
        )
    except (UploadRejected, ValidationError) as exc:
        return _error(exc)
    return JsonResponse({"id": document.pk, "url": f"/documents/{document.pk}/"}, status=201)


@login_required
@require_GET
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    document = _document_for(request.user, document_id)
    membership = access_space(request.user, document.space_id)
    context = {
        "document": document,
        "space": document.space,
        "versions": document.versions.select_related("uploaded_by"),
        "level_name": level_name(document.level),
        "recipients": document.recipients.all(),
        "can_manage": document.author_id == request.user.pk or membership.role == "moderator",
    }
    if context["can_manage"] and request.user.has_perm("networks.upload_document", document.space):
        context.update(_upload_context(request, membership))
    return render(request, "documents/detail.html", context)


@login_required
@require_GET
def version_download(request: HttpRequest, document_id: int, number: int) -> HttpResponse:
    document = _document_for(request.user, document_id)
    version = get_object_or_404(
        DocumentVersion.objects.select_related("space_key", "document"),
        document=document,
        number=number,
    )
    chunks = services.version_open(version=version, acting_user=request.user, request=request)
    if isinstance(request, ASGIRequest):
        chunks = services.aiter_in_thread(chunks)
    response = StreamingHttpResponse(chunks, content_type=version.content_type)
    response["Content-Length"] = str(version.size)
    response["Content-Disposition"] = content_disposition_header(True, version.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@login_required
@require_POST
def document_delete(request: HttpRequest, document_id: int) -> HttpResponse:
    document = _document_for(request.user, document_id)
    space_id = document.space_id
    services.document_delete(document=document, acting_user=request.user, request=request)
    return redirect("document_list", space_id=space_id)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValidationError(_("The upload description is malformed."), code="meta") from None
    if not isinstance(data, dict):
        raise ValidationError(_("The upload description is malformed."), code="meta")
    return data


def _session_created(session: Any) -> JsonResponse:
    return JsonResponse(
        {
            "upload": str(session.pk),
            "part_size": services.part_size(),
            "parts_url": f"/uploads/{session.pk}/parts/",
            "finish_url": f"/uploads/{session.pk}/finish/",
        },
        status=201,
    )


@login_required
@require_POST
def upload_start(request: HttpRequest, space_id: int) -> HttpResponse:
    """Begin an upload in parts: the description first, then the ciphertext in parts."""
    membership = access_space(request.user, space_id, action=Action.UPLOAD)
    try:
        data = _json_body(request)
        session = services.upload_session_start(
            space=membership.space,
            acting_user=request.user,
            filename=_typed(data, "filename", str, ""),
            size=_typed(data, "size", int, 0),
            meta=_document_meta(data),
        )
    except (UploadRejected, ValidationError) as exc:
        return _error(exc)
    return _session_created(session)


@login_required
@require_POST
def version_upload_start(request: HttpRequest, document_id: int) -> HttpResponse:
    document = _document_for(request.user, document_id)
    services.access_document_manage(request.user, document, action=Action.UPLOAD)
    try:
        data = _json_body(request)
        session = services.upload_session_start(
            space=document.space,
            acting_user=request.user,
            filename=_typed(data, "filename", str, ""),
            size=_typed(data, "size", int, 0),
            document=document,
        )
    except (UploadRejected, ValidationError) as exc:
        return _error(exc)
    return _session_created(session)


@login_required
@require_POST
def upload_part(request: HttpRequest, upload_id: Any, index: int) -> HttpResponse:
    try:
        session = services.upload_session_part(
            session_id=upload_id,
            acting_user=request.user,
            index=index,
            stream=request,
            content_length=_content_length(request),
        )
    except UploadSession.DoesNotExist:
        raise Http404 from None  # another user's, finished or missing: all alike
    except (UploadRejected, ValidationError) as exc:
        return _error(exc)
    return JsonResponse({"parts": session.parts_received, "received": session.bytes_received})


@login_required
@require_POST
def upload_finish(request: HttpRequest, upload_id: Any) -> HttpResponse:
    try:
        version = services.upload_session_finish(
            session_id=upload_id, acting_user=request.user, request=request
        )
    except UploadSession.DoesNotExist:
        raise Http404 from None  # another user's, finished or missing: all alike
    except (UploadRejected, ValidationError) as exc:
        return _error(exc)
    url = f"/documents/{version.document_id}/"
    return JsonResponse({"id": version.document_id, "url": url}, status=201)
