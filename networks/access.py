"""The one place that decides who may see or do what in a space.

A user may see an item in a space when all of these hold:
  * the user's membership in the space is active;
  * the user has completed MFA (has an authenticator, and the viewer's own session
    passed its MFA step);
  * the clearance in effect (expired clearance falls back to the lowest level) is at
    least the item's level;
  * for TLP:RED items, the user is the author or a named recipient.

The rule is encoded twice below, once for one object (`access_space`, `access_item`)
and once as a queryset filter (`filter_visible`), and nowhere else. The batch forms
(`granted_memberships`: one user's spaces; `delivery_memberships` + `can_see_item`: many
users of one space) run the same checks on rows read together; tests hold each to the
one-object form. Role grants are django-guardian object permissions, kept in step with
the role by networks.permissions.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import (
    Exists,
    F,
    Lookup,
    OuterRef,
    Q,
    QuerySet,
)
from django.utils import timezone

from networks.clearance import LOWEST_LEVEL, TLP
from networks.models import Membership, MembershipStatus, Network, Space, SpaceUserObjectPermission
from networks.permissions import permission_id
from workspace.prepared import Prepared

MAX_ROW_ID = 2**63 - 1  # ids are BigAutoField


def row_id(value: Any) -> int | None:
    """`value` as a row id, as the ORM would take it; None for anything no row can have
    (not a number, not positive, beyond a bigint: no driver overflow for a hostile id)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ROW_ID else None


class Action(StrEnum):
    VIEW = "view_space"
    POST = "post_in_space"
    MODERATE = "moderate_space"
    UPLOAD = "upload_document"
    MANAGE_MEMBERS = "manage_members"


def clearance_in_effect(membership: Membership, *, now: datetime | None = None) -> int:
    """The membership's clearance, or the lowest level once it has expired."""
    expires = membership.clearance_expires_at
    if expires is not None and expires <= (now or timezone.now()):
        return LOWEST_LEVEL
    return membership.clearance


def user_has_completed_mfa(user: Any) -> bool:
    """The user has an authenticator and, for the user object of a request or a socket,
    its session passed its MFA step (workspace.accounts.mfa_session): a session that came
    in by password alone sees nothing, whatever route it came through."""
    from workspace.accounts.adapter import user_has_mfa
    from workspace.accounts.mfa_session import user_session_passed_mfa

    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user_session_passed_mfa(user)
        and user_has_mfa(user)
    )


def access_space(user: Any, space_id: int, *, action: Action = Action.VIEW) -> Membership:
    """The user's active membership in the space, if it grants `action`; else PermissionDenied.

    Called from views, from the consumer on every inbound frame, and again in services.
    Within one socket frame or one page (see `frame_user`) the answer is read once and a
    repeat of the check costs nothing; anywhere else it is read every time.
    """
    cache = getattr(user, REQUEST_CACHE_ATTR, None)
    answers = cache.get(FRAME_ACCESS_KEY) if isinstance(cache, dict) else None
    if answers is not None and (space_id, str(action)) in answers:
        membership = answers[(space_id, str(action))]
        if membership is None:  # refused when `access_space_for` read it
            raise PermissionDenied
        return membership
    membership = _read_access(user, space_id, action)
    if answers is not None:
        answers[(space_id, str(action))] = membership
    return membership


def access_space_for(
    user: Any, space_id: int, *, action: Action, also: Iterable[Action] = ()
) -> Membership:
    """`access_space(user, space_id, action=action)` for a `frame_user` object, which also
    reads, in the same query, whether the membership grants each action of `also`: the
    later `access_space` checks of that user object for them cost no query (a refusal is
    remembered too). One query where a topic page made four."""
    cache = getattr(user, REQUEST_CACHE_ATTR, None)
    answers = cache.get(FRAME_ACCESS_KEY) if isinstance(cache, dict) else None
    if answers is None:
        raise TypeError("access_space_for needs a frame_user object")
    if not user_has_completed_mfa(user):
        raise PermissionDenied
    space = row_id(space_id)
    wanted = [action, *(a for a in also if a != action)]
    permissions = {a: permission_id(str(a)) for a in wanted}
    if space is None or permissions[action] is None:
        raise PermissionDenied
    known = [a for a in wanted if permissions[a] is not None]
    membership = _MEMBERSHIP_WITH_GRANTS.first(user.pk, space, *(permissions[a] for a in known))
    for a in wanted:
        i = known.index(a) if a in known else -1
        grants = membership is not None and bool(getattr(membership, f"grants_{i}", False))
        answers[(space_id, str(a))] = membership if grants else None
    return access_space(user, space_id, action=action)


def _membership_with_grants(user_id: int, space_id: int, *permissions: int) -> QuerySet[Membership]:
    """The active membership, with whether it grants each permission (`grants_0`, ...)."""
    return _active_membership(user_id, space_id).annotate(
        **{f"grants_{i}": _grant(user_id, space_id, p) for i, p in enumerate(permissions)}
    )[:1]


# Read for every topic page (access_space_for): its SQL is built once per number of
# permissions asked.
_MEMBERSHIP_WITH_GRANTS = Prepared(_membership_with_grants)


def _read_access(user: Any, space_id: int, action: Action) -> Membership:
    """The active membership, with its space and network, if it grants `action`: one
    query (the grant is an EXISTS beside the membership row)."""
    if not user_has_completed_mfa(user):
        raise PermissionDenied
    space = row_id(space_id)
    permission = permission_id(str(action))
    if space is None or permission is None:  # no such space, or no such permission yet
        raise PermissionDenied
    membership = _GRANTED_MEMBERSHIP.first(user.pk, space, permission)
    if membership is None:
        raise PermissionDenied
    return membership


def _grant(user_id: int, space_id: int, permission: int) -> Exists:
    return Exists(
        SpaceUserObjectPermission.objects.filter(
            user_id=user_id, content_object_id=space_id, permission_id=permission
        )
    )


def _active_membership(user_id: int, space_id: int) -> QuerySet[Membership]:
    return Membership.objects.select_related("space", "space__network").filter(
        user_id=user_id, space_id=space_id, status=MembershipStatus.ACTIVE
    )


def _granted_membership(user_id: int, space_id: int, permission: int) -> QuerySet[Membership]:
    return _active_membership(user_id, space_id).filter(_grant(user_id, space_id, permission))[:1]


# Read on every socket frame and every page of a space: its SQL is built once.
_GRANTED_MEMBERSHIP = Prepared(_granted_membership)


def granted_memberships(user: Any, *, action: Action = Action.VIEW) -> dict[int, Membership]:
    """`access_space` for all the user's spaces at once: {space id: membership} for each
    active membership that grants `action`, in two queries (MFA, then the memberships
    with the grant) instead of three per space. The same checks as `_read_access`."""
    if not user_has_completed_mfa(user):
        return {}
    granted = SpaceUserObjectPermission.objects.filter(
        user_id=user.pk,
        content_object_id=OuterRef("space_id"),
        permission_id=permission_id(str(action)),
    )
    memberships = Membership.objects.filter(
        user_id=user.pk, status=MembershipStatus.ACTIVE
    ).filter(Exists(granted))
    return {m.space_id: m for m in memberships}


# Users per statement of `granted_memberships_many` (SQLite allows 999 parameters).
_MANY_USERS_CHUNK = 500


def granted_memberships_many(
    users: Iterable[Any], *, action: Action = Action.VIEW
) -> dict[int, dict[int, Membership]]:
    """`granted_memberships` for many users: {user id: {space id: membership}}, in one
    query per 500 users instead of two per user. The same checks, on each user's rows:
    the user object is authenticated and active, the account is still active, it has
    completed MFA (an EXISTS beside each row; for a socket's user object, its session
    passed its MFA step), and the membership is active and grants
    `action`. A user who fails a check has no entry (as `{}` from the one-user form)."""
    from workspace.accounts.mfa_session import user_session_passed_mfa

    ids = sorted(
        {
            u.pk
            for u in users
            if u is not None
            and u.is_authenticated
            and u.is_active
            and user_session_passed_mfa(u)
        }
    )
    found: dict[int, dict[int, Membership]] = {}
    permission = permission_id(str(action))
    if permission is None:
        return found
    from workspace.accounts.adapter import mfa_exists

    granted = SpaceUserObjectPermission.objects.filter(
        user_id=OuterRef("user_id"),
        content_object_id=OuterRef("space_id"),
        permission_id=permission,
    )
    for start in range(0, len(ids), _MANY_USERS_CHUNK):
        rows = (
            Membership.objects.filter(
                user_id__in=ids[start : start + _MANY_USERS_CHUNK],
                status=MembershipStatus.ACTIVE,
                user__is_active=True,
            )
            .filter(mfa_exists(OuterRef("user_id")))
            .filter(Exists(granted))
        )
        for membership in rows:
            found.setdefault(membership.user_id, {})[membership.space_id] = membership
    return found


@dataclass(frozen=True)
class ItemLabels:
    """What the rule needs to know about one item."""

    space_id: int
    level: int
    tlp: str
    author_id: int | None
    recipient_ids: frozenset[int] = frozenset()


def can_see_item(membership: Membership, item: ItemLabels, *, now: datetime | None = None) -> bool:
    if membership.status != MembershipStatus.ACTIVE or membership.space_id != item.space_id:
        return False
    if clearance_in_effect(membership, now=now) < item.level:
        return False
    if item.tlp == TLP.RED:
        uid = membership.user_id
        return uid == item.author_id or uid in item.recipient_ids
    return True


def delivery_memberships(*, space_id: int, user_ids: Iterable[int]) -> dict[int, Membership]:
    """For fanning items out to many users at once: each user's active membership in the
    space, for active users with completed MFA, in one query. Each item is then judged
    per user by `can_see_item` — the same rule as `filter_visible`, evaluated in memory.
    """
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return {m.user_id: m for m in _DELIVERY_MEMBERSHIPS.list(space_id, *ids)}


def _delivery_memberships(space_id: int, *user_ids: int) -> QuerySet[Membership]:
    return _deliverable(Membership.objects.filter(space_id=space_id, user_id__in=user_ids))


def _deliverable(memberships: QuerySet[Membership]) -> QuerySet[Membership]:
    """Active memberships of active users with completed MFA."""
    from workspace.accounts.adapter import mfa_exists

    return memberships.filter(status=MembershipStatus.ACTIVE, user__is_active=True).filter(
        mfa_exists(OuterRef("user_id"))
    )


def delivery_memberships_many(
    pairs: Iterable[tuple[int, int]],
) -> dict[tuple[int, int], Membership]:
    """`delivery_memberships` for (space id, user id) pairs of many spaces at once:
    {(space id, user id): membership}, in one query per 500 users. A pair without an
    entry has no membership that may see anything.

    For the sockets' access refresh, every second for every socket of a process: each
    membership carries only what `can_see_item` judges by (`DELIVERY_FIELDS`; reading any
    other field is a query), and is made once per distinct row (`_delivery_membership`),
    so an unchanged membership costs a tuple, not a model instance, per refresh.
    """
    wanted = set(pairs)
    user_ids = sorted({user_id for _, user_id in wanted})
    space_ids = sorted({space_id for space_id, _ in wanted})
    found: dict[tuple[int, int], Membership] = {}
    for start in range(0, len(user_ids), _MANY_USERS_CHUNK):
        # Hundreds of ids: each list one array parameter on PostgreSQL (workspace/lookups.py).
        rows = _deliverable(
            Membership.objects.filter(
                space_id__any_of=space_ids,
                user_id__any_of=user_ids[start : start + _MANY_USERS_CHUNK],
            )
        ).values_list(*_DELIVERY_ATTNAMES)
        for row in rows:
            membership = _delivery_membership(row)
            key = (membership.space_id, membership.user_id)
            if key in wanted:
                found[key] = membership
    return found


def delivery_memberships_of_users(user_ids: list[int]) -> dict[tuple[int, int], Membership]:
    """Every space's `delivery_memberships` of these users, {(space id, user id):
    membership}, in one query (the caller keeps the list under 500). Each carries only
    `DELIVERY_FIELDS`, made once per distinct row, as in `delivery_memberships_many`."""
    if not user_ids:
        return {}
    found = {}
    for row in _DELIVERY_ROWS_OF_USERS.list(*user_ids):
        membership = _delivery_membership(row)
        found[membership.space_id, membership.user_id] = membership
    return found


def _delivery_rows_of_users(*user_ids: int) -> QuerySet[Any]:
    return _deliverable(Membership.objects.filter(user_id__in=user_ids)).values_list(
        *_DELIVERY_ATTNAMES
    )


# What delivery judges a membership by (`can_see_item`, `clearance_in_effect`), in the
# model's field order (`Model.from_db` expects it).
DELIVERY_FIELDS = frozenset(
    {"id", "user_id", "space_id", "role", "status", "clearance", "clearance_expires_at"}
)
_DELIVERY_ATTNAMES = tuple(
    f.attname for f in Membership._meta.concrete_fields if f.attname in DELIVERY_FIELDS
)


@functools.lru_cache(maxsize=16_384)
def _delivery_membership(row: tuple[Any, ...]) -> Membership:
    """The membership of one row of `_DELIVERY_ATTNAMES`, its other fields deferred. The
    same row gives the same object: callers only read it."""
    return Membership.from_db(DEFAULT_DB_ALIAS, _DELIVERY_ATTNAMES, row)


# Read for every doorbell batch: one statement per number of users (up to 64 of them).
_DELIVERY_MEMBERSHIPS = Prepared(_delivery_memberships, shapes=64)
# Read for every notification count ring's batch (workspace/notifications/selectors.py).
_DELIVERY_ROWS_OF_USERS = Prepared(_delivery_rows_of_users, shapes=64)


def access_item(user: Any, item: ItemLabels, *, action: Action = Action.VIEW) -> Membership:
    """Membership if the user may see (and act on) the item; otherwise PermissionDenied."""
    membership = access_space(user, item.space_id, action=action)
    if not can_see_item(membership, item):
        raise PermissionDenied
    return membership


REQUEST_CACHE_ATTR = "_workspace_request_cache"
FRAME_ACCESS_KEY = "frame_access"  # in the cache of a socket frame's user only


def frame_user(user: Any, *, mfa: bool | None = None) -> Any:
    """The user object for one inbound socket frame, as RequireMFAMiddleware makes one per
    request: a copy of the socket's user that remembers, for this frame only, the MFA
    check, the memberships and each access that `access_space` granted (a refusal ends
    the frame). A frame runs one handler and its service, and neither
    changes the acting user's own membership; the next frame reads everything afresh, so
    a removal or a lowered clearance applies from the next frame on.

    `mfa`: the MFA check when the caller read it with the user row, in this same database
    call (`messaging.handlers.checked_write`); None reads it now.
    """
    from workspace.accounts.adapter import MFA_CHECKED_ATTR, user_has_mfa

    fresh = copy.copy(user)
    fresh.__dict__.pop(MFA_CHECKED_ATTR, None)
    setattr(fresh, MFA_CHECKED_ATTR, user_has_mfa(fresh) if mfa is None else bool(mfa))
    setattr(fresh, REQUEST_CACHE_ATTR, {FRAME_ACCESS_KEY: {}})
    return fresh


def _clearances_in_effect(user: Any) -> list[tuple[int, int]]:
    """(space id, clearance in effect) for each of the user's active memberships.

    Read once per request: RequireMFAMiddleware gives the request's own user object (a
    fresh one per request) a cache for it. Any other user object (a socket's, refreshed
    at every frame and access change, or one in a service) reads the database each time.
    """
    cache = getattr(user, REQUEST_CACHE_ATTR, None)
    if isinstance(cache, dict) and "clearances" in cache:
        return cache["clearances"]
    now = timezone.now()
    rows = Membership.objects.filter(
        user_id=user.pk, status=MembershipStatus.ACTIVE
    ).values_list("space_id", "clearance", "clearance_expires_at")
    found = [
        (space_id, LOWEST_LEVEL if expires is not None and expires <= now else clearance)
        for space_id, clearance, expires in rows
    ]
    if isinstance(cache, dict):
        cache["clearances"] = found
    return found


class _AnyOf(Lookup):
    """PostgreSQL: `column = ANY(%s)` with the ids as one array parameter. The planner
    treats it exactly as `IN (...)`, but the statement keeps one parameter instead of one
    per space, so psycopg can cache its parsing (it re-parses statements of more than 50
    parameters on every execution: about 2 ms each for the search's, measured with
    cProfile on bench/bench_search.py)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value: Any, connection: Any) -> tuple[str, list[Any]]:
        return "%s", [[int(v) for v in value]]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs}::bigint[])", [*lhs_params, *rhs_params]


def _in_spaces(queryset: QuerySet, field: str, space_ids: list[int]) -> Q:
    if connections[queryset.db].vendor == "postgresql":
        return Q(_AnyOf(F(field), space_ids))
    return Q(**{f"{field}__in": space_ids})


def clearance_groups(user: Any) -> list[tuple[int, list[int]]]:
    """[(clearance in effect, [space ids])], lowest clearance first: the user's active
    spaces grouped by clearance, as `filter_visible` applies them. Empty without MFA.

    The SQL of `filter_visible` depends only on how many groups there are: each group's
    clearance and space ids, and the user's id, are bound parameters (on PostgreSQL the
    ids are one array per group). workspace.search relies on this to reuse statements.
    """
    if not user_has_completed_mfa(user):
        return []
    by_clearance: dict[int, list[int]] = {}
    for space_id, clearance in _clearances_in_effect(user):
        by_clearance.setdefault(clearance, []).append(space_id)
    return sorted(by_clearance.items())


def filter_visible(
    queryset: QuerySet,
    user: Any,
    *,
    space_field: str = "space",
    level_field: str = "level",
    tlp_field: str = "tlp",
    author_field: str = "author",
    recipients_field: str | None = "recipients",
) -> QuerySet:
    """The same rule as `can_see_item`, applied inside the SQL query."""
    groups = clearance_groups(user)
    if not groups:
        return queryset.none()
    # Rows of spaces where the user's clearance is c may be at level c or below: plain
    # conditions, no per-row subquery, so the planner can use the indexes.
    allowed = Q()
    for clearance, space_ids in groups:
        allowed |= _in_spaces(queryset, f"{space_field}_id", space_ids) & Q(
            **{f"{level_field}__lte": clearance}
        )
    red_ok = Q(**{f"{author_field}_id": user.pk})
    if recipients_field:
        through = queryset.model._meta.get_field(recipients_field).remote_field.through
        source = [
            f.name
            for f in through._meta.fields
            if f.is_relation and f.related_model is queryset.model
        ][0]
        target = [
            f.name
            for f in through._meta.fields
            if f.is_relation and f.related_model is not queryset.model
        ][0]
        red_ok |= Exists(through.objects.filter(**{source: OuterRef("pk"), target: user.pk}))
    # One filter() call: each call clones the query, and this runs for every list.
    return queryset.filter(allowed, ~Q(**{tlp_field: TLP.RED}) | red_ok)


def filter_member_spaces(queryset: QuerySet, user: Any, *, space_ref: str = "space_id") -> QuerySet:
    """Rows of spaces where the user may see items at all (active membership, MFA).

    For space-wide rows that carry no level or TLP label of their own, such as topic
    names, and for listing the spaces a search may cover. The same membership part of the
    rule as `filter_visible` (the same memberships, read once per request), without the
    item labels.
    """
    if not user_has_completed_mfa(user):
        return queryset.none()
    space_ids = [space_id for space_id, _clearance in _clearances_in_effect(user)]
    if not space_ids:
        return queryset.none()
    return queryset.filter(_in_spaces(queryset, space_ref, space_ids))


def spaces_visible_in_directory(user: Any, network: Network) -> QuerySet[Space]:
    """Listed spaces, plus unlisted ones where the user is an active member.

    Network admins see every space of their network.
    """
    if is_network_admin(user, network.pk):
        return network.spaces.all()
    member_of = Membership.objects.filter(
        user_id=user.pk, space_id=OuterRef("pk"), status=MembershipStatus.ACTIVE
    )
    return network.spaces.filter(Q(is_listed=True) | Exists(member_of))


def is_network_admin(user: Any, network_id: int) -> bool:
    if not user_has_completed_mfa(user):
        return False
    return Network.admins.through.objects.filter(network_id=network_id, user_id=user.pk).exists()


def access_network_admin(user: Any, network_id: int) -> Network:
    if not is_network_admin(user, network_id):
        raise PermissionDenied
    return Network.objects.get(pk=network_id)


def can_grant_clearance(granter: Membership | None, clearance: int) -> bool:
    """A moderator may not grant above their own clearance in effect; admins may grant any."""
    return granter is None or clearance <= clearance_in_effect(granter)
