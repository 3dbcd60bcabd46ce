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


# --- Living demo: conversations ------------------------------------------------------
# Fictional discussions in the four languages of the network, each marked as such in its
# topic name and first message. Every write goes through the services (events, mentions
# and notifications stay consistent); only the creation times are spread afterwards, as
# a fixture does, so the chat reads like a conversation of the last days.
MODERATOR = "moderator@demo.example"
M, S, C, R, O = (  # noqa: E741 - the demo users by initial
    MODERATOR,
    "secret@demo.example",
    "confidential@demo.example",
    "restricted@demo.example",
    "open@demo.example",
)


@dataclass(frozen=True)
class DemoPost:
    author: str
    level: int  # within the author's clearance
    tlp: str
    body: str
    reactions: tuple[tuple[str, str], ...] = ()  # (who, emoji code of messaging Emoji)


@dataclass(frozen=True)
class DemoConversation:
    space: str  # slug
    topic: str
    posts: tuple[DemoPost, ...]
    read_upto: int  # every member has read the posts before this index...
    moderator_read_upto: int  # ...the moderator (the demo's main login), these
    started_days_ago: float


DEMO_CONVERSATIONS = (
    DemoConversation(
        space="intelligence-cooperation",
        topic="[DEMO — fictional] Reefer containers: Guayaquil → Antwerp",
        started_days_ago=3,
        read_upto=4,
        moderator_read_upto=3,
        posts=(
            DemoPost(
                M,
                0,
                "GREEN",
                "**Fictional demo scenario: no real case, person or company.**\n\n"
                "Opening this topic for the reefer route we discussed at the webinar: bananas"
                " loaded in Guayaquil, transhipped in Cartagena, discharged in Antwerp. The"
                " three seizures of the scenario share one pattern: the cocaine sits in the"
                " refrigeration unit, not in the cargo. What do your services see on this route?",
                ((S, "+1"), (C, "+1"), (O, "eyes")),
            ),
            DemoPost(
                S,
                1,
                "AMBER",
                "> the cocaine sits in the refrigeration unit, not in the cargo\n\n"
                "Same in our (fictional) files: the evaporator housing is opened *after* the"
                " inspection at origin, so the seal numbers still match. Check the gap between"
                " the seal log and the gate-in time at the transhipment port: in two cases it"
                " was over nine hours.",
                ((M, "check"), (C, "eyes")),
            ),
            DemoPost(
                C,
                2,
                "AMBER",
                "Do lado brasileiro (cenário fictício): vimos a mesma técnica em Santos, com a"
                " mesma empresa de manutenção de contentores refrigerados nos dois portos."
                " @**Sam Secret**, os vossos registos mostram quem fez a manutenção do"
                " equipamento antes do embarque?",
                ((S, "+1"),),
            ),
            DemoPost(
                R,
                1,
                "GREEN",
                "Côté douane (fictif) : nous ciblons les conteneurs frigorifiques dont le"
                " transbordement dure plus de 6 heures. Je peux partager les indicateurs dans"
                " une note si le groupe est d'accord.",
                ((M, "+1"), (C, "+1")),
            ),
            DemoPost(
                O,
                0,
                "GREEN",
                "From the FIU side: the consignee in Antwerp changed banks twice in the"
                " scenario, each time a month before a shipment. Do customs see that in the"
                " manifests too?",
                ((R, "eyes"),),
            ),
            DemoPost(
                M,
                0,
                "GREEN",
                "> Je peux partager les indicateurs dans une note\n\n"
                "Yes please, @**Rémi Restreint**: a note at RESTRICTED, TLP:GREEN, so the whole"
                " group can use it. @**Olga Open**, could you add the bank-change pattern to"
                " the same note?",
                ((R, "check"),),
            ),
            DemoPost(
                S,
                3,
                "AMBER+STRICT",
                "For SECRET-cleared members only: the (fictional) source on the Cartagena leg"
                " is graded B2. Not to be used in proceedings without the provider's consent.",
                ((M, "check"),),
            ),
        ),
    ),
    DemoConversation(
        space="intelligence-cooperation",
        topic="[DEMO — ficticio] Equipo conjunto de investigación: lecciones aprendidas",
        started_days_ago=6,
        read_upto=2,
        moderator_read_upto=4,
        posts=(
            DemoPost(
                M,
                0,
                "GREEN",
                "**Escenario ficticio de demostración.**\n\n"
                "Cerramos el ECI ficticio entre Colombia, España y los Países Bajos. Recojamos"
                " aquí las lecciones antes del taller de marzo:\n\n"
                "1. El acuerdo tardó cuatro meses en firmarse.\n"
                "2. Las pruebas electrónicas llegaron por tres vías distintas.\n"
                "3. Nadie sabía en qué idioma redactar las actas.",
                ((S, "+1"), (C, "+1"), (R, "+1")),
            ),
            DemoPost(
                S,
                0,
                "GREEN",
                "> Las pruebas electrónicas llegaron por tres vías distintas.\n\n"
                "Our biggest problem too. Next time: one evidence-exchange channel agreed on"
                " day one, and one chain-of-custody form that every prosecutor accepts.",
                ((M, "check"), (O, "+1")),
            ),
            DemoPost(
                C,
                1,
                "GREEN",
                "Concordo. No nosso caso fictício, a tradução juramentada dos autos levou mais"
                " tempo do que a própria investigação. Sugiro orçamentar a tradução no plano"
                " de ação do ECI.",
                ((M, "+1"), (R, "+1")),
            ),
            DemoPost(
                O,
                0,
                "CLEAR",
                "¿Alguien tiene un modelo de acuerdo ECI que podamos adaptar? Puedo ayudar con"
                " la versión inglesa.",
                ((C, "eyes"),),
            ),
            DemoPost(
                M,
                0,
                "GREEN",
                "@**Olga Open** sí: el modelo anotado (ficticio) está en Documentos."
                " @**Camila Confidencial**, ¿puedes añadir una línea sobre la traducción?",
                ((O, "+1"),),
            ),
            DemoPost(
                R,
                0,
                "GREEN",
                "Pour les procès-verbaux : nous avions choisi l'anglais, avec un résumé dans la"
                " langue de chaque juridiction. Ça a bien marché (dans le scénario).",
            ),
        ),
    ),
    DemoConversation(
        space="precursor-control",
        topic="[DEMO — fictício] Desvio de precursores do P-2-P",
        started_days_ago=4,
        read_upto=1,
        moderator_read_upto=2,
        posts=(
            DemoPost(
                C,
                0,
                "GREEN",
                "**Cenário fictício de demonstração.**\n\n"
                "Três importações fictícias de ácido fenilacético, declaradas como «aditivo"
                " para perfumaria», chegaram pelo mesmo despachante. O destinatário é uma"
                " empresa registada há seis meses, sem histórico no setor. Alguém viu este"
                " padrão de desvio para o P-2-P?",
                ((M, "eyes"), (R, "+1"), (S, "eyes")),
            ),
            DemoPost(
                R,
                1,
                "AMBER",
                "> declaradas como «aditivo para perfumaria»\n\n"
                "Nous avons vu (scénario fictif) des précurseurs de remplacement, des esters"
                " non contrôlés, déclarés sous des codes SH voisins. Le contrôle documentaire"
                " ne suffit pas : il faut un test de terrain à l'arrivée.",
                ((C, "check"),),
            ),
            DemoPost(
                S,
                2,
                "AMBER",
                "The (fictional) pre-export notification was never answered, so it went ahead"
                " by default. @**Camila Confidencial**, worth asking the competent authority"
                " whether the objection window was used at all.",
                ((C, "+1"), (M, "+1")),
            ),
            DemoPost(
                M,
                0,
                "GREEN",
                "Propongo una nota de modus operandi (desvío de precursores) con los"
                " indicadores: empresa nueva, despachante único, descripción genérica,"
                " notificación previa sin respuesta. @**Rémi Restreint**, ¿la redactas tú?",
                ((R, "check"),),
            ),
            DemoPost(
                O,
                0,
                "GREEN",
                "The importer paid each consignment from a different account at the same"
                " bank. I can check with the FIU if someone sends me the (fictional) company"
                " number.",
                ((C, "+1"),),
            ),
        ),
    ),
    DemoConversation(
        space="money-laundering",
        topic="[DÉMO — fictif] Blanchiment commercial : des fruits surfacturés",
        started_days_ago=2,
        read_upto=2,
        moderator_read_upto=1,
        posts=(
            DemoPost(
                R,
                0,
                "GREEN",
                "**Scénario fictif de démonstration.**\n\n"
                "Un importateur (fictif) paie des conteneurs de fruits trois fois le prix du"
                " marché à un exportateur. La marchandise est réelle ; c'est le prix qui"
                " transporte l'argent. La douane voit la valeur déclarée, la CRF voit les"
                " virements : personne ne voit les deux.",
                ((O, "+1"), (M, "+1"), (C, "eyes")),
            ),
            DemoPost(
                O,
                0,
                "GREEN",
                "> personne ne voit les deux\n\n"
                "Exactly. In the (fictional) FIU file the payments go through a third country"
                " and the invoices are split below the reporting threshold. We flag it when"
                " the unit price is more than twice the customs reference price.",
                ((R, "check"), (S, "+1")),
            ),
            DemoPost(
                S,
                0,
                "GREEN",
                "Red flags we use (fictional list): price far from the reference, the same"
                " goods shipped in circles, a payer who is no party to the contract, freight"
                " paid by a third party. @**Olga Open**, can you share the reference prices?",
                ((O, "+1"), (R, "+1")),
            ),
            DemoPost(
                C,
                2,
                "AMBER",
                "Para membros com credenciação CONFIDENCIAL (fictício): a mesma exportadora"
                " aparece num inquérito brasileiro sobre compra de gado com pagamento"
                " antecipado. Podemos cruzar as datas.",
                ((S, "eyes"), (M, "check")),
            ),
            DemoPost(
                M,
                0,
                "GREEN",
                "Buen hilo. Lo llevo al seminario web de abril como caso práctico (ficticio)."
                " @**Rémi Restreint**, ¿puedes subir el cuadro de precios a Documentos?",
                ((R, "+1"),),
            ),
        ),
    ),
)

# (space slug, uploader, title, filename, level, text): small fictional documents.
DEMO_DOCUMENTS = (
    (
        "intelligence-cooperation",
        M,
        "[DEMO] Modelo de acuerdo ECI, anotado (ficticio)",
        "modelo-acuerdo-eci-ficticio.txt",
        0,
        "DEMO: fictional annotated model agreement for a joint investigation team.\n",
    ),
    (
        "money-laundering",
        R,
        "[DÉMO] Prix de référence des fruits (fictif)",
        "prix-reference-fictif.csv",
        1,
        "produit;prix_reference_usd_kg\nbanane;0.92\nananas;1.10\n# DEMO: fictional figures\n",
    ),
    (
        "precursor-control",
        C,
        "[DEMO] Indicadores de desvio de precursores (fictício)",
        "indicadores-desvio-ficticio.txt",
        0,
        "DEMO: fictional indicators of precursor diversion.\n",
    ),
)
