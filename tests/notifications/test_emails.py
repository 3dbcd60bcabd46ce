"""Notification emails: redaction by label, language, immediate mentions, idempotent digests."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import translation

from networks.clearance import level_name
from tests.messaging.conftest import post
from tests.notifications.conftest import upload
from workspace.notifications.models import (
    EmailDelivery,
    Notification,
    NotificationPreference,
)

pytestmark = pytest.mark.django_db

LEVELS = [0, 1, 2, 3]
TLPS = ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]
SECRET_TEXT = "Marker-Orinoco-42"


def at(user) -> str:
    return f"@**{user.email}**"


def _parts(message) -> tuple[str, str, str]:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return message.subject, message.body, html


def _expect_redacted(level: int, tlp: str) -> bool:
    return level > 0 or tlp in ("AMBER", "AMBER+STRICT", "RED")


def _check(message, *, level: int, tlp: str, space_name: str) -> None:
    subject, text, html = _parts(message)
    assert SECRET_TEXT not in subject  # subjects never quote an item
    if _expect_redacted(level, tlp):
        for part in (subject, text, html):
            assert SECRET_TEXT not in part
        assert level_name(level) in text and level_name(level) in html
        assert space_name in text and f"TLP:{tlp}" in text
    else:
        assert SECRET_TEXT in text and SECRET_TEXT in html
    assert "http://testserver.example/spaces/" in text or "/documents/" in text


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.WORKSPACE_SITE_URL = "http://testserver.example"


@pytest.mark.parametrize("tlp", TLPS)
@pytest.mark.parametrize("level", LEVELS)
def test_immediate_mention_email_is_redacted_by_label(
    room, level, tlp, django_capture_on_commit_callbacks
):
    u = room["users"]
    NotificationPreference.objects.create(user=u["secret"], email="immediate")
    recipients = (u["secret"],) if tlp == "RED" else ()
    with django_capture_on_commit_callbacks(execute=True):
        post(room, "moderator", f"{SECRET_TEXT} {at(u['secret'])}", level=level, tlp=tlp,
             recipients=recipients)
    [message] = mail.outbox
    assert message.to == [u["secret"].email]
    _check(message, level=level, tlp=tlp, space_name=room["space"].name)
    assert Notification.objects.get(user=u["secret"]).emailed_at is not None


@pytest.mark.parametrize("tlp", TLPS)
@pytest.mark.parametrize("level", LEVELS)
def test_digest_of_a_document_is_redacted_by_label(room, level, tlp):
    u = room["users"]
    recipients = (u["secret"],) if tlp == "RED" else ()
    upload(room, "moderator", title=SECRET_TEXT, level=level, tlp=tlp, recipients=recipients)
    mail.outbox.clear()
    NotificationPreference.objects.create(user=u["observer"], email="off")
    NotificationPreference.objects.create(user=u["secret"], email="daily")
    Notification.objects.exclude(user=u["secret"]).delete()
    call_command("send_digests", stdout=open("/dev/null", "w"))  # noqa: SIM115
    [message] = mail.outbox
    assert message.to == [u["secret"].email]
    _check(message, level=level, tlp=tlp, space_name=room["space"].name)


def test_level_names_come_from_settings(room, settings, django_capture_on_commit_callbacks):
    settings.WORKSPACE_CLEARANCE_LEVELS = ["PUBLIC", "LIMITED", "SENSITIVE", "TOP"]
    u = room["users"]
    NotificationPreference.objects.create(user=u["secret"], email="immediate")
    with django_capture_on_commit_callbacks(execute=True):
        post(room, "moderator", f"{SECRET_TEXT} {at(u['secret'])}", level=2)
    [message] = mail.outbox
    assert "SENSITIVE" in message.body and SECRET_TEXT not in message.body


def test_a_reply_digest_redacts_and_omits_the_topic_name(room):
    u = room["users"]
    post(room, "secret", f"{SECRET_TEXT} reply", level=1)  # the moderator follows the topic
    call_command("send_digests", stdout=open("/dev/null", "w"))  # noqa: SIM115
    [message] = [m for m in mail.outbox if m.to == [u["moderator"].email]]
    subject, text, html = _parts(message)
    assert SECRET_TEXT not in text + html
    assert "RESTRICTED" in text and room["topic"].name not in text


def test_emails_are_in_the_recipients_language(room, django_capture_on_commit_callbacks):
    u = room["users"]
    NotificationPreference.objects.create(user=u["secret"], email="immediate", language="es")
    u["confidential"].languages = ["de", "fr"]  # the first language the site speaks: fr
    u["confidential"].save()
    NotificationPreference.objects.create(user=u["confidential"], email="immediate")
    with django_capture_on_commit_callbacks(execute=True):
        post(room, "moderator", f"{at(u['secret'])} {at(u['confidential'])}", level=2)
    by_user = {m.to[0]: m for m in mail.outbox}
    for user, lang in ((u["secret"], "es"), (u["confidential"], "fr")):
        message = by_user[user.email]
        with translation.override(lang):
            expected = translation.gettext("You were mentioned in the Expert Workspace")
        assert expected != "You were mentioned in the Expert Workspace"
        assert message.subject == expected
        assert f'lang="{lang}"' in message.alternatives[0][0]
    assert translation.get_language() == "en"  # the override did not leak


def test_a_user_without_a_language_gets_the_site_default(room, settings,
                                                         django_capture_on_commit_callbacks):
    u = room["users"]
    NotificationPreference.objects.create(user=u["secret"], email="immediate")
    with django_capture_on_commit_callbacks(execute=True):
        post(room, "moderator", f"hi {at(u['secret'])}")
    assert mail.outbox[0].subject == "You were mentioned in the Expert Workspace"


def test_daily_users_get_no_immediate_email_but_a_digest(room, django_capture_on_commit_callbacks):
    u = room["users"]
    with django_capture_on_commit_callbacks(execute=True):
        post(room, "moderator", f"hi {at(u['secret'])}")  # no preference: daily
    assert [m for m in mail.outbox if m.to == [u["secret"].email]] == []
    call_command("send_digests", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert len([m for m in mail.outbox if m.to == [u["secret"].email]]) == 1


def test_an_immediate_mention_is_not_repeated_in_the_digest(room,
                                                            django_capture_on_commit_callbacks):
    u = room["users"]
    NotificationPreference.objects.create(user=u["secret"], email="immediate")
    with django_capture_on_commit_callbacks(execute=True):
        post(room, "moderator", f"hi {at(u['secret'])}")
    assert len(mail.outbox) == 1
    call_command("send_digests", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert [m.to for m in mail.outbox].count([u["secret"].email]) == 1


def test_the_digest_command_is_idempotent_and_records_what_it_sent(room, capsys):
    u = room["users"]
    post(room, "open", f"alpha {at(u['secret'])}")
    post(room, "open", f"beta {at(u['secret'])}")
    call_command("send_digests")
    first = len(mail.outbox)
    assert first >= 1  # the secret member, and the moderator who follows the topic
    assert "digests sent:" in capsys.readouterr().out
    call_command("send_digests")
    assert len(mail.outbox) == first  # nothing twice
    delivery = EmailDelivery.objects.get(user=u["secret"])
    assert delivery.kind == "digest" and delivery.notifications.count() == 2
    post(room, "open", f"gamma {at(u['secret'])}")
    call_command("send_digests")
    newest = [m for m in mail.outbox if m.to == [u["secret"].email]][-1]
    assert "gamma" in newest.body and "alpha" not in newest.body


def test_no_email_for_users_who_turned_it_off_or_read_it(room):
    u = room["users"]
    NotificationPreference.objects.create(user=u["secret"], email="off")
    post(room, "open", f"one {at(u['secret'])}")
    post(room, "open", f"two {at(u['confidential'])}")
    Notification.objects.filter(user=u["confidential"]).update(read_at="2026-01-01T00:00Z")
    Notification.objects.exclude(user__in=[u["secret"], u["confidential"]]).delete()
    call_command("send_digests", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert mail.outbox == []


def test_the_digest_rechecks_access(room):
    from networks.models import MembershipStatus
    from networks.services import membership_set_status

    u = room["users"]
    post(room, "open", f"{SECRET_TEXT} {at(u['restricted'])}")
    membership = room["space"].memberships.get(user=u["restricted"])
    membership_set_status(membership=membership, status=MembershipStatus.REMOVED,
                          acting_user=room["admin"])
    call_command("send_digests", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert [m for m in mail.outbox if m.to == [u["restricted"].email]] == []
