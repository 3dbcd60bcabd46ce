"""The demo network: six working groups and users at every role and clearance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.db import transaction
from django.utils import timezone

from networks.clearance import level_rank
from networks.models import JoinPolicy, MembershipStatus, Network, Role, Theme
from networks.services import membership_set, network_create, space_create
from workspace.accounts.models import User
from workspace.accounts.totp import totp_activate

DEMO_PASSWORD = "demo-workspace-2026"  # noqa: S105 - printed to the newcomer on purpose

WORKING_GROUPS = [
    (
        "Special Investigation Techniques",
        "special-investigation-techniques",
        Theme.SPECIAL_INVESTIGATION,
        True,
    ),
    (
        "Intelligence Cooperation & Drug Trafficking Investigations",
        "intelligence-cooperation",
        Theme.INTELLIGENCE,
        True,
    ),
    ("Money Laundering & Asset Investigation", "money-laundering", Theme.MONEY_LAUNDERING, True),
    ("Confiscated Asset Recovery & Social Re-use", "asset-recovery", Theme.ASSET_RECOVERY, True),
    ("Chemical Precursor Control", "precursor-control", Theme.PRECURSORS, True),
    ("Drug Market Analysis Network", "drug-market-analysis", Theme.MARKET_ANALYSIS, False),
]


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    organisation: str
    country: str
    role: str | None  # None: no membership (the network admin)
    clearance: str = "OPEN"
    status: str = MembershipStatus.ACTIVE
    clearance_expired: bool = False


DEMO_USERS = [
    DemoUser("admin@demo.example", "Ana Admin", "Programme secretariat", "BE", None),
    DemoUser(
        "moderator@demo.example",
        "Marta Moderadora",
        "Fiscalía General",
        "CO",
        Role.MODERATOR,
        "SECRET",
    ),
    DemoUser(
        "secret@demo.example", "Sam Secret", "National Crime Agency", "GB", Role.MEMBER, "SECRET"
    ),
    DemoUser(
        "confidential@demo.example",
        "Camila Confidencial",
        "Polícia Federal",
        "BR",
        Role.MEMBER,
        "CONFIDENTIAL",
    ),
    DemoUser(
        "restricted@demo.example",
        "Rémi Restreint",
        "Douane française",
        "FR",
        Role.MEMBER,
        "RESTRICTED",
    ),
    DemoUser(
        "open@demo.example", "Olga Open", "Financial Intelligence Unit", "NL", Role.MEMBER, "OPEN"
    ),
    DemoUser(
        "observer@demo.example",
        "Oscar Observador",
        "Ministerio de Justicia",
        "AR",
        Role.OBSERVER,
        "OPEN",
    ),
    DemoUser(
        "expired@demo.example",
        "Eva Expirada",
        "Guardia Civil",
        "ES",
        Role.MEMBER,
        "CONFIDENTIAL",
        clearance_expired=True,
    ),
    DemoUser(
        "suspended@demo.example",
        "Simón Suspendido",
        "Customs Administration",
        "JM",
        Role.MEMBER,
        "RESTRICTED",
        status=MembershipStatus.SUSPENDED,
    ),
]


def demo_is_needed() -> bool:
    return not Network.objects.exists()


@transaction.atomic
def seed_demo() -> list[DemoUser]:
    users: dict[str, User] = {}
    for spec in DEMO_USERS:
        user = User.objects.create_user(
            spec.email,
            DEMO_PASSWORD,
            display_name=spec.name,
            organisation=spec.organisation,
            country=spec.country,
        )
        EmailAddress.objects.create(user=user, email=spec.email, verified=True, primary=True)
        totp_activate(user=user)
        users[spec.email] = user
    admin = users["admin@demo.example"]
    network = network_create(
        name="EU–LAC Drug Supply Expert Network",
        slug="eu-lac",
        acting_user=admin,
        description="Demo network. Every person, case and organisation in it is fictional.",
    )
    network.admins.add(admin)
    for name, slug, theme, listed in WORKING_GROUPS:
        space = space_create(
            network=network,
            name=name,
            slug=slug,
            theme=theme,
            is_listed=listed,
            join_policy=JoinPolicy.BY_REQUEST if listed else JoinPolicy.INVITE_ONLY,
            description=f"Demo working group: {name}.",
            acting_user=admin,
        )
        for spec in DEMO_USERS:
            if spec.role is None:
                continue
            expires = timezone.now() - timedelta(days=1) if spec.clearance_expired else None
            membership_set(
                space=space,
                user=users[spec.email],
                role=spec.role,
                clearance=level_rank(spec.clearance),
                status=spec.status,
                clearance_expires_at=expires,
                acting_user=admin,
            )
    return DEMO_USERS
