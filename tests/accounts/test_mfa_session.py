"""A session sees content only once it has passed its MFA step: having an authenticator
is not enough, whatever route the session came in by (the admin's login included)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.test import Client

from messaging import services
from networks.access import Action, access_space, frame_user
from networks.clearance import TLP
from tests.conftest import force_login_password_only
from tests.factories import PASSWORD, UserFactory
from tests.messaging.conftest import Socket, build_room
from workspace.accounts.mfa_session import SESSION_MFA_ATTR, SESSION_MFA_KEY
from workspace.accounts.totp import totp_code_from_secret
from workspace.audit.models import AuditEvent

SECRET_BODY = "Marker-SECRET-courier-route"


def _secret_room():  # type: ignore[no-untyped-def]
    room = build_room()
    message = services.message_post(
        space=room["space"],
        topic=room["topic"],
        body=SECRET_BODY,
        level=3,
        tlp=TLP.GREEN,
        recipients=[],
        client_id="6f1c1f8e-0d9b-4d51-8a4c-3b9a3f2b0c11",
        acting_user=room["users"]["secret"],
    )
    return room, message


def _content_urls(room) -> list[str]:  # type: ignore[no-untyped-def]
    space, topic = room["space"].pk, room["topic"].pk
    return [
        f"/spaces/{space}/",
        f"/spaces/{space}/topics/{topic}/",
        f"/spaces/{space}/notes/export.json",
        f"/search/?q={SECRET_BODY}",
    ]


def _password_then_totp(client: Client, user, *, totp: bool = True):  # type: ignore[no-untyped-def]
    cache.clear()  # a TOTP code is single use; a second login in the same 30 s needs this
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302 and response.url == "/accounts/2fa/authenticate/"
    if totp:
        response = client.post(
            "/accounts/2fa/authenticate/", {"code": totp_code_from_secret(user.totp_secret)}
        )
    return response


# --- the admin -------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_password_login_gives_no_session_and_sends_to_allauth(client):
    staff = UserFactory(mfa=True, is_staff=True, is_superuser=True)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": staff.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_admin_needs_the_totp_step_of_allauths_login(client):
    staff = UserFactory(mfa=True, is_staff=True, is_superuser=True)
    login_page = client.get("/admin/login/?next=/admin/")
    assert login_page.status_code == 302 and login_page.url.startswith("/accounts/login/")
    _password_then_totp(client, staff, totp=False)
    assert "_auth_user_id" not in client.session  # password alone: not signed in
    assert client.get("/admin/").status_code == 302
    response = client.post(
        "/accounts/2fa/authenticate/", {"code": totp_code_from_secret(staff.totp_secret)}
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_admin_failed_passwords_meet_the_login_limit(client):
    staff = UserFactory(mfa=True, is_staff=True)
    statuses = [
        client.post(
            "/accounts/login/?next=/admin/",
            {"login": staff.email, "password": "wrong-password!"},
            REMOTE_ADDR="203.0.113.40",
        ).status_code
        for _ in range(6)
    ]
    assert statuses[-1] == 429
    # Django's own form is gone: it neither checks passwords nor escapes the limit.
    response = client.post(
        "/admin/login/",
        {"username": staff.email, "password": PASSWORD},
        REMOTE_ADDR="203.0.113.40",
    )
    assert "_auth_user_id" not in client.session
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


# --- a session that came in by password alone ------------------------------------


@pytest.mark.django_db
def test_password_only_session_sees_no_content_and_is_ended(client):
    room, _ = _secret_room()
    user = room["users"]["secret"]
    for url in _content_urls(room):
        force_login_password_only(client, user)
        response = client.get(url)
        assert response.status_code in (302, 403, 404), url
        assert SECRET_BODY.encode() not in response.content, url
        if response.status_code == 302:
            assert response.url.startswith("/accounts/login/"), url
        assert "_auth_user_id" not in client.session, url  # logged out
    assert AuditEvent.objects.filter(action="auth.mfa_missing", actor_id=user.pk).exists()


@pytest.mark.django_db
def test_password_only_session_cannot_reach_mfa_pages_either(client):
    # Adding a second authenticator would otherwise mark the session as MFA-complete.
    user = UserFactory(mfa=True)
    for path in ["/accounts/2fa/", "/accounts/2fa/webauthn/add/", "/accounts/2fa/totp/activate/"]:
        force_login_password_only(client, user)
        response = client.get(path)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")
        assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_json_request_of_a_password_only_session_is_refused(client):
    room, _ = _secret_room()
    force_login_password_only(client, room["users"]["secret"])
    response = client.get(
        f"/spaces/{room['space'].pk}/notes/export.json", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_full_login_sees_the_secret_message(client):
    room, _ = _secret_room()
    user = room["users"]["secret"]
    _password_then_totp(client, user)
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.session[SESSION_MFA_KEY]["user_id"] == str(user.pk)
    page = client.get(f"/spaces/{room['space'].pk}/topics/{room['topic'].pk}/")
    assert page.status_code == 200
    assert SECRET_BODY.encode() in page.content


@pytest.mark.django_db
def test_recovery_code_login_counts_as_mfa(client):
    from allauth.mfa.models import Authenticator

    room, _ = _secret_room()
    user = room["users"]["secret"]
    _password_then_totp(client, user, totp=False)
    codes = Authenticator.objects.get(user=user, type="recovery_codes").wrap()
    response = client.post("/accounts/2fa/authenticate/", {"code": codes.get_unused_codes()[0]})
    assert response.status_code == 302
    page = client.get(f"/spaces/{room['space'].pk}/topics/{room['topic'].pk}/")
    assert page.status_code == 200 and SECRET_BODY.encode() in page.content


@pytest.mark.django_db
def test_mark_of_another_user_does_not_count(client):
    room, _ = _secret_room()
    user, other = room["users"]["secret"], room["users"]["open"]
    force_login_password_only(client, user)
    session = client.session
    session[SESSION_MFA_KEY] = {"user_id": str(other.pk), "how": "totp", "at": 0}
    session.save()
    response = client.get(f"/spaces/{room['space'].pk}/topics/{room['topic'].pk}/")
    assert response.status_code == 302 and "_auth_user_id" not in client.session


# --- networks.access: the viewer's own session -----------------------------------


@pytest.mark.django_db
def test_access_refuses_a_user_object_whose_session_skipped_mfa():
    room, _ = _secret_room()
    user = room["users"]["secret"]
    assert access_space(user, room["space"].pk, action=Action.VIEW)  # acts for no session
    setattr(user, SESSION_MFA_ATTR, False)
    with pytest.raises(PermissionDenied):
        access_space(user, room["space"].pk, action=Action.VIEW)
    with pytest.raises(PermissionDenied):
        access_space(frame_user(user), room["space"].pk, action=Action.VIEW)
    setattr(user, SESSION_MFA_ATTR, True)
    assert access_space(frame_user(user), room["space"].pk, action=Action.VIEW)


# --- the WebSocket ----------------------------------------------------------------


def _password_only_cookie(user) -> bytes:  # type: ignore[no-untyped-def]
    from django.conf import settings

    client = Client()
    force_login_password_only(client, user)
    return f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}".encode()


def _full_login_cookie(user) -> bytes:  # type: ignore[no-untyped-def]
    from django.conf import settings

    client = Client()
    _password_then_totp(client, user)
    return f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}".encode()


def _unmark(session_key: str) -> None:
    store = SessionStore(session_key)
    store.pop(SESSION_MFA_KEY)
    store.save()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_socket_of_a_password_only_session_is_closed_with_4403():
    room, _ = await database_sync_to_async(_secret_room)()
    cookie = await database_sync_to_async(_password_only_cookie)(room["users"]["secret"])
    sock = Socket(cookie)
    assert await sock.connect()
    assert await sock.recv(1) is None and sock.closed_code == 4403
    assert not sock.frames
    await sock.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_socket_of_a_full_login_works_and_frames_need_the_mark():
    room, _ = await database_sync_to_async(_secret_room)()
    user = room["users"]["secret"]
    cookie = await database_sync_to_async(_full_login_cookie)(user)
    sock = Socket(cookie)
    assert await sock.connect()
    ack = await sock.hello({room["space"].pk: 0})
    assert str(room["space"].pk) in ack["spaces"]
    assert any(SECRET_BODY in str(e["data"]) for e in sock.events(room["space"].pk))
    # The mark gone from the session (as if it never passed MFA): no frame passes.
    session_key = cookie.decode().split("=", 1)[1]
    await database_sync_to_async(_unmark)(session_key)
    frame = {
        "type": "post",
        "space_id": room["space"].pk,
        "topic_id": room["topic"].pk,
        "body": "after the mark",
        "level": 0,
        "tlp": "GREEN",
    }
    answer = await sock.request(frame)
    assert answer["type"] == "error" and answer["code"] == "forbidden"
    typing = await sock.request(
        {"type": "typing", "space_id": room["space"].pk, "topic_id": room["topic"].pk}
    )
    assert typing["type"] == "error" and typing["code"] == "forbidden"
    await sock.close()

    from messaging.models import Message

    assert not await database_sync_to_async(Message.objects.filter(body="after the mark").exists)()
