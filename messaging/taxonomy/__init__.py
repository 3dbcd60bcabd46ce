"""The note taxonomy shipped as JSON data files: categories, substances, grading, handling.

Labels live in the data files in every UI language (en, es, pt, fr), not in gettext
catalogues: the taxonomy is reference data that analysts maintain, not UI text. The files
are validated once when first loaded (`load_taxonomy`), and a broken file fails loudly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.utils import translation

LANGUAGES = ("en", "es", "pt", "fr")
DATA_DIR = Path(__file__).resolve().parent


class TaxonomyError(ValueError):
    """A data file is malformed: a missing label, a duplicate code, an unknown key."""


@dataclass(frozen=True)
class Term:
    code: str
    labels: dict[str, str]

    def label(self, language: str | None = None) -> str:
        return localized(self.labels, language)


@dataclass(frozen=True)
class Group(Term):
    categories: tuple[Term, ...] = ()


@dataclass(frozen=True)
class HandlingCode(Term):
    requires_text: bool = False
    exportable: bool = True


@dataclass(frozen=True)
class GradingScheme(Term):
    source_reliability: tuple[Term, ...] = ()
    information_credibility: tuple[Term, ...] = ()

    def source(self, code: str) -> Term | None:
        return next((t for t in self.source_reliability if t.code == code), None)

    def information(self, code: str) -> Term | None:
        return next((t for t in self.information_credibility if t.code == code), None)


@dataclass(frozen=True)
class Taxonomy:
    groups: tuple[Group, ...]
    substances: tuple[Term, ...]
    handling_codes: tuple[HandlingCode, ...]
    schemes: tuple[GradingScheme, ...]
    default_scheme: str

    @property
    def categories(self) -> dict[str, Term]:
        return {c.code: c for g in self.groups for c in g.categories}

    def category_group(self, code: str) -> Group | None:
        return next((g for g in self.groups if any(c.code == code for c in g.categories)), None)

    @property
    def substances_by_code(self) -> dict[str, Term]:
        return {s.code: s for s in self.substances}

    @property
    def handling_by_code(self) -> dict[str, HandlingCode]:
        return {h.code: h for h in self.handling_codes}

    @property
    def schemes_by_code(self) -> dict[str, GradingScheme]:
        return {s.code: s for s in self.schemes}


def localized(labels: dict[str, str], language: str | None = None) -> str:
    """The label in `language` (default: the active UI language), else English."""
    lang = (language or translation.get_language() or "en").split("-")[0].lower()
    return labels.get(lang) or labels["en"]


def _read(name: str) -> dict[str, Any]:
    with (DATA_DIR / name).open(encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise TaxonomyError(f"{name}: the top level must be an object")
    return data


def _labels(where: str, entry: Any) -> dict[str, str]:
    labels = entry.get("labels") if isinstance(entry, dict) else None
    if not isinstance(labels, dict):
        raise TaxonomyError(f"{where}: missing labels")
    missing = [lang for lang in LANGUAGES if not str(labels.get(lang) or "").strip()]
    if missing:
        raise TaxonomyError(f"{where}: missing labels for {', '.join(missing)}")
    extra = set(labels) - set(LANGUAGES)
    if extra:
        raise TaxonomyError(f"{where}: unknown languages {sorted(extra)}")
    return {lang: str(labels[lang]).strip() for lang in LANGUAGES}


def _terms(where: str, entries: Any, seen: set[str] | None = None) -> tuple[Term, ...]:
    if not isinstance(entries, list) or not entries:
        raise TaxonomyError(f"{where}: expected a non-empty list")
    seen = set() if seen is None else seen
    terms = []
    for entry in entries:
        code = entry.get("code") if isinstance(entry, dict) else None
        if not isinstance(code, str) or not code or len(code) > 64:
            raise TaxonomyError(f"{where}: an entry has no valid code")
        if code in seen:
            raise TaxonomyError(f"{where}: duplicate code {code!r}")
        seen.add(code)
        terms.append(Term(code=code, labels=_labels(f"{where}/{code}", entry)))
    return tuple(terms)


def _build() -> Taxonomy:
    categories = _read("categories.json")
    seen: set[str] = set()
    groups = []
    for raw in categories.get("groups") or []:
        (head,) = _terms("categories.json", [raw], seen)
        children = _terms(f"categories.json/{head.code}", raw.get("categories"), seen)
        for child in children:
            if not child.code.startswith(head.code + "."):
                raise TaxonomyError(f"category {child.code!r} must start with {head.code!r}.")
        groups.append(Group(code=head.code, labels=head.labels, categories=children))
    if not groups:
        raise TaxonomyError("categories.json: no groups")

    substances = _terms("substances.json", _read("substances.json").get("substances"))

    handling_raw = _read("handling.json").get("handling_codes")
    handling_terms = _terms("handling.json", handling_raw)
    handling = tuple(
        HandlingCode(
            code=term.code,
            labels=term.labels,
            requires_text=bool(raw.get("requires_text", False)),
            exportable=bool(raw.get("exportable", True)),
        )
        for term, raw in zip(handling_terms, handling_raw, strict=True)
    )

    grading = _read("grading.json")
    scheme_raw = grading.get("schemes")
    scheme_terms = _terms("grading.json", scheme_raw)
    schemes = tuple(
        GradingScheme(
            code=term.code,
            labels=term.labels,
            source_reliability=_terms(
                f"grading.json/{term.code}/source", raw.get("source_reliability")
            ),
            information_credibility=_terms(
                f"grading.json/{term.code}/information", raw.get("information_credibility")
            ),
        )
        for term, raw in zip(scheme_terms, scheme_raw, strict=True)
    )
    default_scheme = grading.get("default_scheme")
    if default_scheme not in {s.code for s in schemes}:
        raise TaxonomyError("grading.json: default_scheme is not a scheme")
    return Taxonomy(
        groups=tuple(groups),
        substances=substances,
        handling_codes=handling,
        schemes=schemes,
        default_scheme=default_scheme,
    )


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """The validated taxonomy, read from disk once per process."""
    return _build()
