"""Demo modus-operandi notes: a few realistic, clearly fictional notes per working group."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction

from messaging.note_services import NoteInput, note_create

FICTIONAL = "*Fictional demo note: every place, case, company and person here is invented.*"

# space slug -> notes (author email, fields). Authors are demo users with clearance.
DEMO_NOTES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "special-investigation-techniques": [
        (
            "moderator@demo.example",
            {
                "title": "Controlled delivery of a reefer container with banana cartons",
                "summary": "Customs detected anomalies in the seal log of a reefer container. "
                "A controlled delivery was agreed between three countries, with the load "
                "replaced by a dummy before departure from the transit port.",
                "category": "techniques.controlled_delivery",
                "substances": ["cocaine"],
                "route": [
                    {"country": "EC", "role": "origin"},
                    {"country": "PA", "role": "transit"},
                    {"country": "BE", "role": "destination"},
                ],
                "indicators": [
                    "Seal number differs between bill of lading and terminal log",
                    "Consignee registered less than three months before the shipment",
                ],
                "source_reliability": "B",
                "information_credibility": "2",
                "handling_code": "H1",
                "level": 1,
                "tlp": "AMBER",
            },
        ),
        (
            "secret@demo.example",
            {
                "title": "Joint investigation team: lessons on evidence sharing",
                "summary": "Summary of a fictional JIT agreement and the practical hurdles of "
                "exchanging intercepted communications between civil-law and common-law "
                "jurisdictions.",
                "category": "techniques.joint_investigation_teams",
                "countries": ["ES", "CO", "GB"],
                "source_reliability": "A",
                "information_credibility": "1",
                "handling_code": "H0",
                "level": 0,
                "tlp": "GREEN",
            },
        ),
    ],
    "intelligence-cooperation": [
        (
            "moderator@demo.example",
            {
                "title": "Semi-submersible departures from mangrove estuaries",
                "summary": "Pattern of low-profile vessels assembled in estuaries and launched "
                "at new moon, refuelled at sea before reaching a transit archipelago.",
                "category": "concealment.semi_submersible",
                "substances": ["cocaine"],
                "route": [
                    {"country": "CO", "role": "origin"},
                    {"country": "CV", "role": "transit"},
                    {"country": "ES", "role": "destination"},
                ],
                "indicators": ["Fibreglass and diesel engine purchases in remote villages"],
                "period_start": datetime.date(2025, 1, 1),
                "period_end": datetime.date(2025, 6, 30),
                "grading_scheme": "nato_6x6",
                "source_reliability": "C",
                "information_credibility": "3",
                "handling_code": "H2",
                "level": 2,
                "tlp": "AMBER+STRICT",
            },
        ),
        (
            "confidential@demo.example",
            {
                "title": "Rip-on rip-off using cloned seals at a transhipment hub",
                "summary": "Bags placed behind the doors of legitimate containers and "
                "retrieved by terminal insiders; the original seal is replaced by a clone.",
                "category": "concealment.rip_on_rip_off",
                "substances": ["cocaine"],
                "route": [
                    {"country": "BR", "role": "origin"},
                    {"country": "NL", "role": "destination"},
                ],
                "source_reliability": "B",
                "information_credibility": "3",
                "handling_code": "H0",
                "level": 1,
                "tlp": "GREEN",
            },
        ),
    ],
    "money-laundering": [
        (
            "moderator@demo.example",
            {
                "title": "Over-invoiced fruit exports settled through crypto-asset brokers",
                "summary": "Fictional typology: a fruit exporter invoices above market price; "
                "the difference returns as stablecoins bought through an unregistered broker.",
                "category": "laundering.trade_based",
                "countries": ["PE", "ES"],
                "indicators": [
                    "Unit prices 40% above customs reference values",
                    "Payments split across several crypto-asset service providers",
                ],
                "source_reliability": "B",
                "information_credibility": "2",
                "handling_code": "H3",
                "handling_text": "Only for financial intelligence units until the case is charged.",
                "level": 2,
                "tlp": "AMBER",
            },
        ),
        (
            "open@demo.example",
            {
                "title": "Hawala-style settlement between money service businesses",
                "summary": "Open-source summary of how informal value transfer offsets debts "
                "between brokers without cross-border movement of funds.",
                "category": "laundering.informal_value_transfer",
                "countries": ["AE", "NL"],
                "source_reliability": "X",
                "information_credibility": "4",
                "handling_code": "H0",
                "level": 0,
                "tlp": "CLEAR",
            },
        ),
    ],
    "asset-recovery": [
        (
            "moderator@demo.example",
            {
                "title": "Real estate purchased through layered front companies",
                "summary": "Apartments bought by newly incorporated companies whose directors "
                "are relatives of a convicted trafficker; used to plan a confiscation request.",
                "category": "laundering.real_estate",
                "countries": ["PT", "BR"],
                "source_reliability": "A",
                "information_credibility": "2",
                "handling_code": "H1",
                "level": 1,
                "tlp": "GREEN",
            },
        ),
    ],
    "precursor-control": [
        (
            "moderator@demo.example",
            {
                "title": "Designer pre-precursors declared as industrial solvents",
                "summary": "Consignments of a non-scheduled chemical declared under a generic "
                "tariff heading, routed through a third country to hide the origin.",
                "category": "precursors.designer",
                "substances": ["precursors", "synthetic_drugs"],
                "route": [
                    {"country": "IN", "role": "origin"},
                    {"country": "TR", "role": "transit"},
                    {"country": "NL", "role": "destination"},
                ],
                "indicators": ["Generic tariff heading for a named chemical"],
                "source_reliability": "B",
                "information_credibility": "1",
                "handling_code": "H0",
                "level": 1,
                "tlp": "AMBER",
            },
        ),
        (
            "restricted@demo.example",
            {
                "title": "Mislabelled drums in mixed air cargo",
                "summary": "Drums labelled as cleaning products found in mixed air cargo.",
                "category": "precursors.mislabelling",
                "substances": ["precursors"],
                "countries": ["MX", "FR"],
                "source_reliability": "C",
                "information_credibility": "2",
                "handling_code": "H0",
                "level": 0,
                "tlp": "GREEN",
            },
        ),
    ],
    "drug-market-analysis": [
        (
            "secret@demo.example",
            {
                "title": "NPS sold through postal parcels ordered online",
                "summary": "Small parcels declared as samples; purity differs strongly between "
                "batches sold under the same brand name.",
                "category": "concealment.postal_parcels",
                "substances": ["nps"],
                "countries": ["CN", "DE", "CL"],
                "source_reliability": "B",
                "information_credibility": "3",
                "handling_code": "H0",
                "level": 0,
                "tlp": "GREEN",
            },
        ),
    ],
}


@transaction.atomic
def seed_demo_notes() -> int:
    """Create the demo notes in the demo network's working groups; returns how many."""
    from networks.models import Space
    from workspace.accounts.models import User

    created = 0
    for slug, notes in DEMO_NOTES.items():
        space = Space.objects.filter(slug=slug).first()
        if space is None:
            continue
        for email, fields in notes:
            author = User.objects.get(email=email)
            summary = f"{fields['summary']}\n\n{FICTIONAL}"
            note_create(
                space=space,
                data=NoteInput(**{**fields, "summary": summary}),
                acting_user=author,
            )
            created += 1
    return created
