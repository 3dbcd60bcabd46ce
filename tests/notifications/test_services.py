"""Each notification kind, who gets it, and the access rule at creation and display time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from django.utils import timezone

from messaging import services as messaging
from networks.models import JoinPolicy, MembershipStatus, Role
from networks.services import (
    join_request_create,
    membership_change,
    membership_invite,
    membership_set_status,
)
from tests.factories import UserFactory
from tests.messaging.conftest import post
from tests.notifications.conftest import upload
from workspace.notifications import selectors, services
from workspace.notifications.models import Notification, NotificationKind, TopicFollow

pytestmark = pytest.mark.django_db


def _kinds(user):
    return sorted(Notification.objects.filter(user=user).values_list("kind", flat=True))


def _visible(user):
    return list(selectors.visible_notifications(user=user))


def at(user) -> str:
    return f"@**{user.email}**"


# --- mentions ---------------------------------------------------------------------


def test_a_mention_notifies_the_mentioned_member(room):
    u = room["users"]
    message = post(room, "open", f"see {at(u['restricted'])}")
    [notification] = Notification.objects.filter(user=u["restricted"])
    assert notification.kind == NotificationKind.MENTION
    assert notification.message == message and notification.space == room["space"]
    assert (notification.level, notification.tlp) == (0, "GREEN")
    assert _visible(u["restricted"]) == [notification]
    assert selectors.unread_count(user=u["restricted"]) == 1


def test_a_restricted_member_is_never_notified_of_a_confidential_mention(room):
    u = room["users"]
    post(room, "secret", f"look {at(u['restricted'])} and {at(u['confidential'])}", level=2)
    assert _kinds(u["restricted"]) == []
    assert _kinds(u["confidential"]) == ["mention"]


def test_a_red_mention_reaches_only_named_recipients(room):
    u = room["users"]
    body = f"{at(u['confidential'])} {at(u['secret'])}"
    post(room, "open", body, tlp="RED", recipients=(u["secret"],))
    assert _kinds(u["confidential"]) == []
    [notification] = Notification.objects.filter(user=u["secret"])
    assert list(notification.recipients.all()) == [u["secret"]]
    assert _visible(u["secret"]) == [notification]


def test_an_outsider_and_a_member_without_mfa_are_not_notified(room):
    u = room["users"]
    post(room, "open", f"{at(u['outsider'])} {at(u['no_mfa'])}")
    assert _kinds(u["outsider"]) == [] and _kinds(u["no_mfa"]) == []


def test_editing_a_message_mentions_new_people_once(room):
    u = room["users"]
    message = post(room, "open", f"hi {at(u['restricted'])}")
    messaging.message_edit(message=message, body=f"hi {at(u['restricted'])} {at(u['secret'])}",
                           acting_user=u["open"])
    messaging.message_edit(message=message, body=f"hey {at(u['restricted'])} {at(u['secret'])}",
                           acting_user=u["open"])
    assert _kinds(u["restricted"]) == ["mention"]
    assert _kinds(u["secret"]) == ["mention"]


def test_the_author_is_never_notified_of_their_own_message(room):
    u = room["users"]
    post(room, "open", f"me {at(u['open'])}")
    assert _kinds(u["open"]) == []


# --- replies in followed topics ---------------------------------------------------------


def test_the_topic_author_and_posters_follow_and_are_told_of_replies(room):
    u = room["users"]
    post(room, "open", "first")  # the moderator created the topic and follows it
    assert _kinds(u["moderator"]) == ["reply"]
    assert TopicFollow.objects.filter(topic=room["topic"], user=u["open"], following=True).exists()
    post(room, "secret", "second")
    assert _kinds(u["open"]) == ["reply"]
    # One unread reply notification per followed topic: the moderator's first one is
    # still unread, so the second message adds nothing...
    assert _kinds(u["moderator"]) == ["reply"]
    assert _kinds(u["secret"]) == []  # not about their own message
    # ...until they read the topic.
    services.topic_read(topic=room["topic"], seq=10**6, acting_user=u["moderator"])
    post(room, "open", "third")
    assert _kinds(u["moderator"]) == ["reply", "reply"]


def test_coalescing_keeps_one_reply_the_follower_can_see(room):
    """The unread reply that stands for later ones must be one the follower can see
    whenever they can see the new message: a TLP:RED reply, or one below an unread
    reply's level, gets its own notification."""
    u = room["users"]
    post(room, "secret", "confidential first", level=2)
    post(room, "secret", "open later", level=0)  # the level-2 one would not stand for it
    post(room, "secret", "red", tlp="RED", recipients=(u["moderator"],))
    post(room, "secret", "restricted", level=1)  # the open one stands for this
    bodies = [n.message.body for n in Notification.objects.filter(
        user=u["moderator"], kind="reply").order_by("pk")]
    assert bodies == ["confidential first", "open later", "red"]


def test_a_follower_is_told_only_of_replies_they_may_see(room):
    u = room["users"]
    services.topic_follow_set(topic=room["topic"], following=True, acting_user=u["restricted"])
    post(room, "secret", "confidential reply", level=2)
    post(room, "secret", "amber but open", level=0, tlp="AMBER")
    post(room, "secret", "red reply", tlp="RED", recipients=(u["confidential"],))
    notifications = Notification.objects.filter(user=u["restricted"])
    assert [n.message.body for n in notifications] == ["amber but open"]


def test_a_mention_is_not_also_a_reply(room):
    u = room["users"]
    post(room, "open", f"ping {at(u['moderator'])}")
    assert _kinds(u["moderator"]) == ["mention"]


def test_unfollowing_stops_replies_and_posting_does_not_refollow(room):
    u = room["users"]
    post(room, "open", "first")
    services.topic_follow_set(topic=room["topic"], following=False, acting_user=u["open"])
    post(room, "open", "my own again")
    post(room, "secret", "reply")
    assert _kinds(u["open"]) == []
    assert not TopicFollow.objects.get(topic=room["topic"], user=u["open"]).following


def test_an_outsider_cannot_follow_a_topic(room):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.topic_follow_set(topic=room["topic"], following=True,
                                  acting_user=room["users"]["outsider"])


# --- documents ----------------------------------------------------------------------


def test_a_new_document_notifies_members_who_may_see_it(room):
    u = room["users"]
    document = upload(room, "secret", title="Precursor list", level=1)
    notified = set(
        Notification.objects.filter(kind=NotificationKind.DOCUMENT, document=document)
        .values_list("user_id", flat=True)
    )
    assert notified == {u[k].pk for k in ("restricted", "confidential", "observer", "moderator")}


def test_a_red_document_notifies_its_recipients_only(room):
    u = room["users"]
    upload(room, "secret", title="Eyes only", tlp="RED", recipients=(u["open"],))
    notified = set(Notification.objects.values_list("user_id", flat=True))
    assert notified == {u["open"].pk}


def test_a_new_version_notifies_nobody(room):
    import io

    from documents.crypto import encrypt
    from documents.keys import space_key_current
    from documents.services import document_upload

    document = upload(room, "secret", title="Versions")
    before = Notification.objects.count()
    space = room["space"]
    ciphertext = encrypt(b"v2", [space_key_current(space=space).recipient])
    document_upload(space=space, acting_user=room["users"]["secret"], stream=io.BytesIO(ciphertext),
                    content_length=len(ciphertext), filename="v2.txt", document=document)
    assert Notification.objects.count() == before


# --- invitations and join requests ------------------------------------------------------


def test_an_invitation_notifies_a_user_who_has_an_account(room):
    u = room["users"]
    invitee = UserFactory(mfa=True)
    invitation = membership_invite(space=room["space"], email=invitee.email.upper(),
                                   role=Role.MEMBER, clearance=0, acting_user=u["moderator"])
    [notification] = Notification.objects.filter(user=invitee)
    assert notification.kind == NotificationKind.INVITATION
    assert notification.invitation == invitation and notification.author == u["moderator"]
    assert _visible(invitee) == [notification]


def test_an_invitation_to_an_unknown_address_creates_no_notification(room):
    membership_invite(space=room["space"], email="nobody@agency.example", role=Role.MEMBER,
                      clearance=0, acting_user=room["users"]["moderator"])
    assert Notification.objects.count() == 0


def test_a_join_request_notifies_the_moderators_only(room):
    u = room["users"]
    space = room["space"]
    space.is_listed, space.join_policy = True, JoinPolicy.BY_REQUEST
    space.save()
    applicant = UserFactory(mfa=True)
    join_request_create(space=space, acting_user=applicant, message="let me in")
    notified = list(Notification.objects.values_list("user_id", "kind"))
    assert notified == [(u["moderator"].pk, NotificationKind.JOIN_REQUEST)]
    # A moderator demoted to member (after appointing another) no longer sees it.
    other = space.memberships.get(user=u["secret"])
    membership_change(membership=other, role=Role.MODERATOR, clearance=3,
                      clearance_expires_at=None, acting_user=room["admin"])
    membership = space.memberships.get(user=u["moderator"])
    membership_change(membership=membership, role=Role.MEMBER, clearance=3,
                      clearance_expires_at=None,
                      acting_user=room["admin"])
    assert _visible(u["moderator"]) == []


# --- access re-checked at display time ------------------------------------------------


def test_lowering_clearance_hides_older_notifications(room):
    u = room["users"]
    post(room, "secret", f"conf {at(u['confidential'])}", level=2)
    assert selectors.unread_count(user=u["confidential"]) == 1
    membership = room["space"].memberships.get(user=u["confidential"])
    membership_change(membership=membership, role=Role.MEMBER, clearance=1,
                      clearance_expires_at=None,
                      acting_user=room["admin"])
    assert _visible(u["confidential"]) == []
    assert selectors.unread_count(user=u["confidential"]) == 0


def test_a_removed_member_sees_none_of_their_old_notifications(room):
    u = room["users"]
    post(room, "open", f"open {at(u['restricted'])}")
    upload(room, "secret", title="Document for all")
    assert selectors.unread_count(user=u["restricted"]) == 2
    membership = room["space"].memberships.get(user=u["restricted"])
    membership_set_status(membership=membership, status=MembershipStatus.REMOVED,
                          acting_user=room["admin"])
    assert _visible(u["restricted"]) == []


def test_mark_read_and_mark_all_read(room):
    u = room["users"]
    post(room, "open", f"one {at(u['secret'])}")
    post(room, "open", f"two {at(u['secret'])}")
    first = Notification.objects.filter(user=u["secret"]).last()
    services.notification_mark_read(notification_id=first.pk, acting_user=u["secret"])
    assert selectors.unread_count(user=u["secret"]) == 1
    assert services.notification_mark_all_read(acting_user=u["secret"]) == 1
    assert selectors.unread_count(user=u["secret"]) == 0


def test_mark_read_of_another_users_notification_does_not_exist(room):
    u = room["users"]
    post(room, "open", f"one {at(u['secret'])}")
    notification = Notification.objects.get(user=u["secret"])
    with pytest.raises(Notification.DoesNotExist):
        services.notification_mark_read(notification_id=notification.pk, acting_user=u["open"])
    notification.refresh_from_db()
    assert notification.read_at is None


def test_a_note_discussion_is_hidden_from_whoever_may_not_see_the_note(room):
    import dataclasses

    from messaging.note_services import note_create
    from tests.messaging.test_notes import BASE

    u = room["users"]
    note = note_create(space=room["space"], data=dataclasses.replace(BASE, level=2),
                       acting_user=u["secret"])
    topic = note.topic
    for who in ("restricted", "confidential"):
        services.topic_follow_set(topic=topic, following=True, acting_user=u[who])
    post(room, "secret", f"open words {at(u['open'])}", topic=topic)
    assert _kinds(u["open"]) == []  # a mention inside a hidden note's discussion
    assert _kinds(u["restricted"]) == []  # a reply there
    assert _kinds(u["confidential"]) == ["reply"]
    # Lowering the clearance hides the old notification too.
    membership = room["space"].memberships.get(user=u["confidential"])
    membership_change(membership=membership, role=Role.MEMBER, clearance=1,
                      clearance_expires_at=None, acting_user=room["admin"])
    assert _visible(u["confidential"]) == []


def test_the_bell_count_agrees_with_the_list_for_everyone(room):
    """unread_count takes a shortcut for the header; it must count what the list shows."""
    import dataclasses

    from messaging.note_services import note_create
    from tests.messaging.test_notes import BASE

    u = room["users"]
    space = room["space"]
    space.is_listed, space.join_policy = True, JoinPolicy.BY_REQUEST
    space.save()
    note = note_create(space=space, data=dataclasses.replace(BASE, level=2),
                       acting_user=u["secret"])
    for who in u:
        if who not in ("outsider", "no_mfa"):
            services.topic_follow_set(topic=note.topic, following=True, acting_user=u[who])
    everyone = " ".join(at(user) for user in u.values())
    post(room, "open", f"open {everyone}")
    post(room, "secret", f"conf {everyone}", level=2)
    post(room, "secret", "in the note", topic=note.topic)
    post(room, "secret", f"red {everyone}", tlp="RED", recipients=(u["confidential"],))
    upload(room, "secret", title="Doc", level=1)
    join_request_create(space=space, acting_user=UserFactory(mfa=True))
    membership_invite(space=room["other_space"], email=u["restricted"].email,
                      role=Role.MEMBER, clearance=0, acting_user=room["admin"])

    def check():
        users = list(u.values())
        many = selectors.unread_counts(users)  # the batch form, for the sockets of a ring
        for (who, user), batch in zip(u.items(), many, strict=True):
            expected = selectors.visible_notifications(user=user).filter(read_at__isnull=True)
            assert selectors.unread_count(user=user) == expected.count(), who
            assert batch == expected.count(), who

    check()
    assert selectors.unread_count(user=u["confidential"]) >= 5
    membership = space.memberships.get(user=u["confidential"])
    membership_change(membership=membership, role=Role.MEMBER, clearance=1,
                      clearance_expires_at=None, acting_user=room["admin"])
    membership_set_status(membership=space.memberships.get(user=u["open"]),
                          status=MembershipStatus.REMOVED, acting_user=room["admin"])
    check()
    expired = space.memberships.get(user=u["secret"])  # back to the lowest level
    expired.clearance_expires_at = timezone.now() - timedelta(seconds=1)
    expired.save()
    Authenticator.objects.filter(user=u["restricted"]).delete()  # MFA removed
    check()


def test_the_batch_count_reads_three_queries_for_many_users(room, django_assert_num_queries):
    """A document rings the whole space; its sockets count in three queries together."""
    from django.contrib.auth.models import AnonymousUser

    u = room["users"]
    upload(room, "secret", title="For all", level=1)
    post(room, "open", f"hello {at(u['confidential'])} {at(u['secret'])}")
    users = [u["open"], u["restricted"], u["confidential"], u["secret"], u["outsider"]]
    with django_assert_num_queries(3):
        counts = selectors.unread_counts([*users, AnonymousUser()])
    assert counts == [selectors.unread_count(user=user) for user in users] + [0]
    assert counts[:4] == [0, 1, 2, 1]  # the uploader is not told of their own document
    u["secret"].is_active = False  # the object says the account is disabled
    assert selectors.unread_counts([u["secret"]]) == [0]


def test_reading_the_topic_reads_its_mentions_and_replies(room):
    u = room["users"]
    post(room, "open", f"one {at(u['secret'])}")
    post(room, "secret", "mine")  # the secret member now follows the topic
    last = post(room, "open", "a reply")
    post(room, "open", "later", topic=messaging.topic_create(
        space=room["space"], name="Other", acting_user=u["secret"]))
    assert selectors.unread_count(user=u["secret"]) == 3
    messaging.read_mark(topic=room["topic"], seq=last.seq, acting_user=u["secret"])
    assert selectors.unread_count(user=u["secret"]) == 1  # the other topic's reply


def test_a_fan_out_costs_the_same_queries_for_many_members(room):
    from documents.services import document_labels
    from networks.services import membership_set

    document = upload(room, "secret", title="Fan-out")
    labels = document_labels(document)

    def queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        Notification.objects.all().delete()
        with CaptureQueriesContext(connection) as captured:
            services.document_added(document=document, labels=labels)
        return len(captured.captured_queries)

    few = queries()
    notified = Notification.objects.count()
    for _ in range(20):
        membership_set(space=room["space"], user=UserFactory(mfa=True), clearance=3,
                       acting_user=room["admin"])
    assert queries() == few
    assert Notification.objects.count() == notified + 20
