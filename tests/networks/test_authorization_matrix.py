"""The authorization matrix: every URL pattern × every kind of user.

A route missing from ROUTES fails `test_every_route_is_in_the_matrix`, so a new view
cannot escape. Deny means 403 or 404 with nothing of the space in the body (or, for
anonymous and not-yet-MFA users, a redirect to login or MFA setup).

Hidden is missing: for every route that names an object (OBJECT_ROUTES), a user who may
not see the object gets the very answer an id (or slug) that no object has gets, so
walking ids tells nothing. A hidden document, upload, notification or network is a 404.
Under /spaces/<id>/ the space answers first: a space the user is no active member of is
a 403, as a missing space is (a former member of it is told why: OWN_STANDING); a
hidden item in a space they belong to is a 404. A right the user lacks on an object they
do see (to manage it, to post) may be a 403: that is not this check's business.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from networks.models import JoinRequest

MEMBERS = {
    "observer",
    "member_open",
    "member_restricted",
    "member_confidential",
    "member_secret",
    "member_expired",
    "moderator",
}
NETWORK_PEOPLE = MEMBERS | {"other_moderator", "network_admin"}
MFA_USERS = NETWORK_PEOPLE | {"non_member", "invited", "suspended", "removed"}
MODERATION = {"moderator", "network_admin"}
UPLOADERS = MEMBERS - {"observer"}
# The matrix document is RESTRICTED (level 1), TLP:GREEN, written by member_secret.
CLEARED_FOR_DOC = {"member_restricted", "member_confidential", "member_secret", "moderator"}
DOC_MANAGERS = {"member_secret", "moderator"}

# route name -> (method, who is allowed)
ROUTES: dict[str, tuple[str, set[str]]] = {
    "home": ("GET", MFA_USERS),
    "shortcuts_help": ("GET", MFA_USERS),
    "network_directory": ("GET", NETWORK_PEOPLE),
    "space_create": ("GET", {"network_admin"}),
    "space_detail": ("GET", MEMBERS),
    "join_request_create": ("POST", NETWORK_PEOPLE),
    "space_members": ("GET", MODERATION),
    "space_invite": ("POST", MODERATION),
    "membership_change": ("POST", MODERATION),
    "membership_status": ("POST", MODERATION),
    "join_request_decide": ("POST", MODERATION),
    "invitation_accept": ("GET", {"anonymous"} | MFA_USERS),  # the page that reads the token
    "profile_edit": ("GET", MFA_USERS),
    "document_list": ("GET", MEMBERS),
    "document_new": ("GET", UPLOADERS),
    "document_upload": ("POST", UPLOADERS),  # allowed users reach validation: 400, no body
    "document_detail": ("GET", CLEARED_FOR_DOC),
    "version_upload": ("POST", DOC_MANAGERS),
    "version_download": ("GET", CLEARED_FOR_DOC),
    "document_delete": ("POST", DOC_MANAGERS),
    "favicon": ("GET", {"anonymous"} | MFA_USERS),  # a redirect to the static icon
    "space_audit": ("GET", MODERATION),
    "network_audit": ("GET", {"network_admin"}),
    "space_insight": ("GET", MODERATION),
    "network_insight": ("GET", {"network_admin"}),
    "platform_audit": ("GET", set()),  # superusers only: nobody here
    "upload_start": ("POST", UPLOADERS),
    "version_upload_start": ("POST", DOC_MANAGERS),
    "upload_part": ("POST", {"member_secret"}),  # the upload session's owner only
    "upload_finish": ("POST", {"member_secret"}),
    # Public; details only for loopback callers and network admins (tests/test_health.py).
    "healthz": ("GET", {"anonymous"} | MFA_USERS),
    # The test client's REMOTE_ADDR is 127.0.0.1, a local scrape: allowed for everyone who
    # gets past the MFA redirect. Non-local callers get 403 (tests/test_metrics.py).
    "metrics": ("GET", {"anonymous"} | MFA_USERS),
    # Search covers only what the user may see (tests/search); everyone with MFA may ask.
    "search": ("GET", MFA_USERS),
    # Discussions. The matrix message is OPEN, TLP:GREEN, written by member_open.
    "topic_list": ("GET", MEMBERS),
    "topic_create": ("POST", UPLOADERS),
    "topic_detail": ("GET", MEMBERS),
    "message_post": ("POST", UPLOADERS),
    "message_edit": ("GET", {"member_open"}),  # the author only
    "message_delete": ("POST", {"member_open", "moderator"}),
    "message_revisions": ("GET", MEMBERS),
    "reaction_toggle": ("POST", UPLOADERS),
    # Notes. The matrix note is OPEN, TLP:GREEN, handling H0, written by member_open.
    "note_list": ("GET", MEMBERS),
    "note_create": ("GET", UPLOADERS),
    "note_detail": ("GET", MEMBERS),
    "note_edit": ("GET", {"member_open", "moderator"}),  # the author and moderators
    "note_export": ("GET", MEMBERS),
    "note_list_export": ("GET", MEMBERS),
    # Notifications: everyone's own; the matrix document notified member_restricted.
    "notification_list": ("GET", MFA_USERS),
    "notification_read": ("POST", {"member_restricted"}),  # another user's id is a 404
    "notification_read_all": ("POST", MFA_USERS),
    "notification_settings": ("GET", MFA_USERS),
    "topic_follow": ("POST", MEMBERS),
}
# Statuses that mean "allowed" when not the default (200 or a redirect inside the app).
ALLOWED_STATUS = {
    "favicon": {301},
    "document_upload": {400},
    "version_upload": {400},
    "upload_start": {400},
    "version_upload_start": {400},
    "upload_part": {400, 413},  # the default multipart body exceeds the announced size
    "upload_finish": {400},
}
# mfa_remove_webauthn wraps allauth's view and lives under accounts/ like it.
# Third-party route groups, judged by their own tests (tests/accounts): account pages,
# Django admin (staff only: nobody here), language switch and the JS catalogue.
INCLUDED_PREFIXES = ("accounts/", "admin/", "i18n/", "jsi18n/")

USERS = [
    "anonymous",
    "no_mfa",
    "non_member",
    "invited",
    "observer",
    "member_open",
    "member_restricted",
    "member_confidential",
    "member_secret",
    "member_expired",
    "suspended",
    "removed",
    "moderator",
    "other_moderator",
    "network_admin",
]


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.name


def test_every_route_is_in_the_matrix():
    missing = [
        (route, name)
        for route, name in _walk(get_resolver().url_patterns)
        if not route.startswith(INCLUDED_PREFIXES) and name not in ROUTES
    ]
    assert not missing, f"routes missing from the authorization matrix: {missing}"


@pytest.fixture(scope="module")
def matrix_media(tmp_path_factory) -> str:  # type: ignore[no-untyped-def]
    return str(tmp_path_factory.mktemp("matrix") / "media")


@pytest.fixture(autouse=True)
def _media_root(settings, matrix_media) -> None:  # type: ignore[no-untyped-def]
    # Replaces the suite's per-test storage: the matrix document's blob is stored once.
    settings.MEDIA_ROOT = matrix_media


@pytest.fixture(scope="module")
def matrix(django_db_setup, django_db_blocker, matrix_media):  # type: ignore[no-untyped-def]
    """The world and one object of each kind, built once for every cell of the matrix.

    Everything is made inside a transaction held open for the module and rolled back at
    its end; each cell runs in a savepoint within it (pytest-django's `db`), so what a
    cell changes (a suspension, a delete, a post) is undone before the next cell.
    """
    from django.db import transaction
    from django.test import override_settings

    from tests.conftest import build_world

    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=matrix_media):
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            world = build_world()
            yield world, _urls(world)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _urls(world) -> dict[str, str]:
    from django.urls import reverse

    space = world["space"]
    membership = space.memberships.filter(user=world["users"]["member_open"]).get()
    join_request = JoinRequest.objects.create(space=space, user=world["users"]["non_member"])
    document = _matrix_document(world)
    message = _matrix_message(world)
    note = _matrix_note(world)
    from documents.models import UploadSession

    session = UploadSession.objects.create(
        space=space, user=world["users"]["member_secret"], filename="x.txt", declared_size=10
    )
    kwargs: dict[str, dict] = {
        "home": {},
        "shortcuts_help": {},
        "profile_edit": {},
        "network_directory": {"slug": space.network.slug},
        "space_create": {"slug": space.network.slug},
        "space_detail": {"space_id": space.pk},
        "join_request_create": {"space_id": space.pk},
        "space_members": {"space_id": space.pk},
        "space_invite": {"space_id": space.pk},
        "membership_change": {"space_id": space.pk, "membership_id": membership.pk},
        "membership_status": {"space_id": space.pk, "membership_id": membership.pk},
        "join_request_decide": {"space_id": space.pk, "request_id": join_request.pk},
        "invitation_accept": {},  # the token comes in the link's fragment, posted later
        "document_list": {"space_id": space.pk},
        "document_new": {"space_id": space.pk},
        "document_upload": {"space_id": space.pk},
        "document_detail": {"document_id": document.pk},
        "version_upload": {"document_id": document.pk},
        "version_download": {"document_id": document.pk, "number": 1},
        "document_delete": {"document_id": document.pk},
        "favicon": {},
        "space_audit": {"space_id": space.pk},
        "network_audit": {"slug": space.network.slug},
        "space_insight": {"space_id": space.pk},
        "network_insight": {"slug": space.network.slug},
        "platform_audit": {},
        "upload_start": {"space_id": space.pk},
        "version_upload_start": {"document_id": document.pk},
        "upload_part": {"upload_id": session.pk, "index": 0},
        "upload_finish": {"upload_id": session.pk},
        "healthz": {},
        "metrics": {},
        "search": {},
        "topic_list": {"space_id": space.pk},
        "topic_create": {"space_id": space.pk},
        "topic_detail": {"space_id": space.pk, "topic_id": message.topic_id},
        "message_post": {"space_id": space.pk, "topic_id": message.topic_id},
        "message_edit": {"space_id": space.pk, "message_id": message.pk},
        "message_delete": {"space_id": space.pk, "message_id": message.pk},
        "message_revisions": {"space_id": space.pk, "message_id": message.pk},
        "reaction_toggle": {"space_id": space.pk, "message_id": message.pk},
        "note_list": {"space_id": space.pk},
        "note_create": {"space_id": space.pk},
        "note_detail": {"space_id": space.pk, "note_id": note.pk},
        "note_edit": {"space_id": space.pk, "note_id": note.pk},
        "note_export": {"space_id": space.pk, "note_id": note.pk},
        "note_list_export": {"space_id": space.pk},
        "notification_list": {},
        "notification_read": {"notification_id": _matrix_notification(world, document)},
        "notification_read_all": {},
        "notification_settings": {},
        "topic_follow": {"space_id": space.pk, "topic_id": message.topic_id},
    }
    return {name: reverse(name, kwargs=kwargs[name]) for name in ROUTES}


def _matrix_notification(world, document):
    from workspace.notifications.models import Notification

    user = world["users"]["member_restricted"]
    return Notification.objects.get(user=user, document=document).pk


def _matrix_message(world):
    from messaging.services import message_post, topic_create

    space, author = world["space"], world["users"]["member_open"]
    topic = topic_create(space=space, name="Matrix topic", acting_user=author)
    return message_post(space=space, topic=topic, body="matrix message", level=0, tlp="GREEN",
                        acting_user=author)


def _matrix_note(world):
    from messaging.note_services import NoteInput, note_create

    return note_create(
        space=world["space"],
        data=NoteInput(
            title="Matrix note",
            summary="matrix note summary",
            category="concealment.air_cargo",
            source_reliability="B",
            information_credibility="2",
            handling_code="H0",
            level=0,
            tlp="GREEN",
        ),
        acting_user=world["users"]["member_open"],
    )


def _matrix_document(world):
    import io

    from documents.crypto import encrypt
    from documents.keys import space_key_current
    from documents.services import DocumentMeta, document_upload

    space = world["space"]
    ciphertext = encrypt(b"matrix document body", [space_key_current(space=space).recipient])
    version = document_upload(
        space=space,
        acting_user=world["users"]["member_secret"],
        stream=io.BytesIO(ciphertext),
        content_length=len(ciphertext),
        filename="brief.txt",
        meta=DocumentMeta(title="Nightjar brief", level=1, tlp="GREEN"),
    )
    return version.document


POST_DATA = {
    "space_invite": {"email": "new@agency.example", "role": "member", "clearance": "0"},
    "membership_change": {"m{pk}-role": "member", "m{pk}-clearance": "1"},
    "membership_status": {"status": "suspended"},
    "join_request_decide": {"decision": "approve", "role": "member", "clearance": "0"},
    "join_request_create": {"message": "please"},
    "topic_create": {"name": "Another topic"},
    "message_post": {"body": "hi", "level": "0", "tlp": "GREEN",
                     "client_id": "6f1c2a3e-1b7d-4c55-9a51-0d2e3f4a5b6c"},
    "reaction_toggle": {"emoji": "+1"},
    "topic_follow": {"following": "1"},
}


@pytest.mark.parametrize("user_key", USERS)
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_matrix_cell(client, matrix, db, route, user_key):
    world, urls = matrix
    method, allowed = ROUTES[route]
    user = world["users"][user_key]
    if user is not None:
        client.force_login(user)
    url = urls[route]
    if method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, POST_DATA.get(route, {}))
    if response.streaming:
        body = b"".join(response.streaming_content).decode()
    else:
        body = response.content.decode()
    space = world["space"]
    if user_key in allowed:
        ok = ALLOWED_STATUS.get(route, {200, 302})
        assert response.status_code in ok, (route, user_key, response.status_code)
        if response.status_code == 302:
            assert "/accounts/login/" not in response.url and "/2fa/" not in response.url
        return
    if user_key == "anonymous":
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    elif user_key == "no_mfa":
        assert response.status_code == 302 and response.url == "/accounts/2fa/totp/activate/"
    else:
        assert response.status_code in (403, 404), (route, user_key, response.status_code)
    if user_key not in OWN_STANDING:
        assert space.name not in body
    assert "Marker-7f3a" not in body
    assert "Nightjar brief" not in body and "matrix document body" not in body


# Who may see the object a route names (not who may act on it).
SEE_SPACE = MEMBERS | {"network_admin", "other_moderator"}  # listed in their directory
MISSING_ID = 999_999_999
MISSING_SLUG = "no-such-network"
# route -> (the URL argument naming its object, who may see that object)
OBJECT_ROUTES: dict[str, tuple[str, set[str]]] = {
    "network_directory": ("slug", NETWORK_PEOPLE),
    "space_create": ("slug", {"network_admin"}),
    "network_audit": ("slug", {"network_admin"}),
    "network_insight": ("slug", {"network_admin"}),
    **{
        name: ("space_id", SEE_SPACE)
        for name in (
            "space_detail", "join_request_create", "space_members", "space_invite",
            "document_list", "document_new", "document_upload", "upload_start",
            "space_audit", "space_insight", "topic_list", "topic_create", "note_list",
            "note_create", "note_list_export",
        )
    },
    "membership_change": ("membership_id", MODERATION),
    "membership_status": ("membership_id", MODERATION),
    "join_request_decide": ("request_id", MODERATION),
    "document_detail": ("document_id", CLEARED_FOR_DOC),
    "version_upload": ("document_id", CLEARED_FOR_DOC),
    "version_download": ("document_id", CLEARED_FOR_DOC),
    "document_delete": ("document_id", CLEARED_FOR_DOC),
    "version_upload_start": ("document_id", CLEARED_FOR_DOC),
    "upload_part": ("upload_id", {"member_secret"}),
    "upload_finish": ("upload_id", {"member_secret"}),
    "topic_detail": ("topic_id", MEMBERS),
    "message_post": ("topic_id", MEMBERS),
    "topic_follow": ("topic_id", MEMBERS),
    "message_edit": ("message_id", MEMBERS),
    "message_delete": ("message_id", MEMBERS),
    "message_revisions": ("message_id", MEMBERS),
    "reaction_toggle": ("message_id", MEMBERS),
    "note_detail": ("note_id", MEMBERS),
    "note_edit": ("note_id", MEMBERS),
    "note_export": ("note_id", MEMBERS),
    "notification_read": ("notification_id", {"member_restricted"}),
}
# Objects that stand outside any space's URL: hidden and missing are a 404 for everyone.
NOT_UNDER_A_SPACE = {"slug", "document_id", "upload_id", "notification_id"}
# A suspended or removed member, or one whose clearance expired, is told about their own
# membership when a page of the space refuses them (workspace/views.py, #28): they know
# the space, so that page may name it, and differs from a missing space's by design.
OWN_STANDING = {"suspended", "removed", "member_expired"}


def test_every_route_with_an_object_is_in_the_hidden_is_missing_check():
    unchecked = [
        name
        for route, name in _walk(get_resolver().url_patterns)
        if name in ROUTES and re.search(r"<(int|slug|uuid):", route) and name not in OBJECT_ROUTES
    ]
    assert not unchecked, f"routes with an object missing from OBJECT_ROUTES: {unchecked}"


def _answer(client, method: str, url: str, data: dict) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    response = client.get(url) if method == "GET" else client.post(url, data)
    if response.streaming:
        body = b"".join(response.streaming_content).decode()
    else:
        body = response.content.decode()
    template = response.templates[0].name if response.templates else ""
    # Per-response tokens, and the URL itself (a form may post back to it), are no oracle.
    body = re.sub(r'(csrfmiddlewaretoken" value=|nonce=)"[^"]*"', r"\1", body)
    body = body.replace(url, "")
    return response.status_code, template, body


@pytest.mark.parametrize("route", sorted(OBJECT_ROUTES))
def test_hidden_is_answered_as_missing(client, matrix, db, route):
    from django.urls import resolve, reverse

    world, urls = matrix
    method, allowed = ROUTES[route]
    argument, see = OBJECT_ROUTES[route]
    url = urls[route]
    kwargs = dict(resolve(url).kwargs)
    kwargs[argument] = {
        "slug": MISSING_SLUG,
        "upload_id": "00000000-0000-4000-8000-000000000000",
    }.get(argument, MISSING_ID)
    missing_url = reverse(route, kwargs=kwargs)
    data = POST_DATA.get(route, {})
    hidden_from = MFA_USERS - see - (OWN_STANDING if argument == "space_id" else set())
    for user_key in sorted(hidden_from):
        assert user_key not in allowed, (route, user_key)
        client.force_login(world["users"][user_key])
        hidden = _answer(client, method, url, data)
        missing = _answer(client, method, missing_url, data)
        assert hidden == missing, (route, user_key, hidden[:2], missing[:2])
        if argument in NOT_UNDER_A_SPACE:
            assert hidden[0] == 404, (route, user_key, hidden[0])
        assert "Nightjar brief" not in hidden[2], (route, user_key)
        if user_key not in OWN_STANDING:
            for name in (world["space"].name, world["space"].network.name):
                assert name not in hidden[2], (route, user_key, name)
