"""UI translations: es, pt and fr catalogues are complete, compiled, and cover django-allauth.

Our catalogues in locale/ take precedence over the apps' own, so they carry every msgid of
django-allauth too: a language whose allauth catalogue is missing or incomplete (allauth has
no plain `pt`) still gets fully translated sign-in, sign-up and MFA pages.
"""

from __future__ import annotations

import ast
import html
import io
import os
import re
import tokenize
from collections import Counter
from pathlib import Path

import allauth
import polib
import pytest
from django.utils import translation
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locale"
TEMPLATES_DIR = ROOT / "templates"
LANGUAGES = ("es", "pt", "fr")
ALLAUTH_EN_PO = Path(allauth.__file__).resolve().parent / "locale/en/LC_MESSAGES/django.po"

EXPECTED_PLURAL_FORMS = {
    "es": "nplurals=3; plural=n == 1 ? 0 : n != 0 && n % 1000000 == 0 ? 1 : 2;",
    "pt": "nplurals=2; plural=(n != 1);",
    "fr": "nplurals=2; plural=(n > 1);",
}

# printf-style (`%(name)s`, `%s`, `%d`, `%%`) and str.format-style (`{name}`, `{}`, `{0}`).
PLACEHOLDER_RE = re.compile(
    r"%%|%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]|\{\w*\}",
)


def _po(lang: str) -> polib.POFile:
    return polib.pofile(str(LOCALE_DIR / lang / "LC_MESSAGES" / "django.po"))


def _key(entry: polib.POEntry | polib.MOEntry) -> tuple[str | None, str]:
    return (entry.msgctxt or None, entry.msgid)


def _placeholders(text: str) -> Counter[str]:
    return Counter(m for m in PLACEHOLDER_RE.findall(text) if m != "%%")


def _label(entry: polib.POEntry) -> str:
    return f"[{entry.msgctxt}] {entry.msgid!r}" if entry.msgctxt else repr(entry.msgid)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_header(lang: str) -> None:
    po = _po(lang)
    assert po.metadata.get("Language") == lang
    assert po.metadata.get("Content-Type") == "text/plain; charset=UTF-8"
    assert po.metadata.get("Plural-Forms", "").replace("\n", "") == EXPECTED_PLURAL_FORMS[lang]
    assert not po.metadata_is_fuzzy, "the header is marked fuzzy"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_entry_translated_and_not_fuzzy(lang: str) -> None:
    po = _po(lang)
    nplurals = int(re.search(r"nplurals=(\d+)", po.metadata["Plural-Forms"]).group(1))
    assert len(po) > 0
    problems = []
    for entry in po:
        if entry.obsolete:
            problems.append(f"obsolete: {_label(entry)}")
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {_label(entry)}")
        if entry.msgid_plural:
            forms = entry.msgstr_plural
            if sorted(forms) != list(range(nplurals)) or not all(forms.values()):
                problems.append(f"plural forms missing: {_label(entry)}")
        elif not entry.msgstr:
            problems.append(f"untranslated: {_label(entry)}")
    assert not po.obsolete_entries()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_match(lang: str) -> None:
    problems = []
    for entry in _po(lang):
        if entry.msgid_plural:
            expected = _placeholders(entry.msgid_plural)
            translations = list(entry.msgstr_plural.values())
        else:
            expected = _placeholders(entry.msgid)
            translations = [entry.msgstr]
        for text in translations:
            if _placeholders(text) != expected:
                problems.append(f"{_label(entry)}: {text!r}")
    assert not problems, "placeholders differ from the msgid:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_mo_is_compiled_from_po(lang: str) -> None:
    mo_path = LOCALE_DIR / lang / "LC_MESSAGES" / "django.mo"
    assert mo_path.exists(), f"run: msgfmt --check -o {mo_path} {mo_path.with_suffix('.po')}"
    mo = {_key(e): e for e in polib.mofile(str(mo_path)) if e.msgid}
    po = {_key(e): e for e in _po(lang) if not e.obsolete}
    stale = sorted(repr(k) for k in po.keys() ^ mo.keys())
    for key, entry in po.items():
        if key not in mo:
            continue
        compiled = mo[key]
        if entry.msgid_plural:
            same = {int(i): s for i, s in entry.msgstr_plural.items()} == {
                int(i): s for i, s in compiled.msgstr_plural.items()
            }
        else:
            same = entry.msgstr == compiled.msgstr
        if not same:
            stale.append(repr(key))
    assert not stale, "django.mo is out of date; recompile with msgfmt:\n" + "\n".join(stale)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_all_allauth_msgids_present(lang: str) -> None:
    allauth_en = polib.pofile(str(ALLAUTH_EN_PO))
    expected = {_key(e): e.msgid_plural for e in allauth_en if not e.obsolete and e.msgid}
    ours = {_key(e): e.msgid_plural for e in _po(lang)}
    missing = sorted(repr(k) for k in expected if k not in ours)
    assert len(expected) > 300
    assert not missing, "allauth msgids missing from our catalogue:\n" + "\n".join(missing)
    assert all(ours[k] == plural for k, plural in expected.items())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_runtime_translation(lang: str) -> None:
    with translation.override(lang):
        assert translation.get_language() == lang
        assert translation.gettext("Sign In") != "Sign In"  # django-allauth
        assert translation.gettext("Dashboard") != "Dashboard"  # ours
        assert translation.gettext("Two-Factor Authentication") != "Two-Factor Authentication"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_our_catalogue_wins_at_runtime(lang: str) -> None:
    """Every singular entry is served from locale/, ahead of allauth's and Django's own."""
    wrong = []
    with translation.override(lang):
        for entry in _po(lang):
            if entry.msgid_plural or not entry.msgid:
                continue
            if entry.msgctxt:
                got = translation.pgettext(entry.msgctxt, entry.msgid)
            else:
                got = translation.gettext(entry.msgid)
            if got != entry.msgstr:
                wrong.append(f"{_label(entry)}: {got!r} != {entry.msgstr!r}")
    assert not wrong, "\n".join(wrong)


# --- the catalogues are current: every msgid in our code and templates is in them ----------

# Folders `makemessages` is told to ignore (plus hidden ones and the catalogues themselves).
IGNORED_DIRS = {".venv", "node_modules", "tests", "bench", "locale", "staticfiles"}
# xgettext keywords used by `makemessages`: name -> (context arg index or None, msgid index).
GETTEXT_FUNCS = {
    "_": (None, 0),
    "gettext": (None, 0),
    "gettext_lazy": (None, 0),
    "gettext_noop": (None, 0),
    "ngettext": (None, 0),
    "ngettext_lazy": (None, 0),
    "pgettext": (0, 1),
    "pgettext_lazy": (0, 1),
    "npgettext": (0, 1),
    "npgettext_lazy": (0, 1),
}


def _source_files(*suffixes: str) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in IGNORED_DIRS and not d.startswith(".")]
        found += [Path(dirpath, f) for f in filenames if f.endswith(suffixes)]
    return sorted(found)


def _msgids_from_python(source: str) -> set[tuple[str | None, str]]:
    msgids = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in GETTEXT_FUNCS:
            continue
        ctx_index, msgid_index = GETTEXT_FUNCS[name]
        args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
        if len(args) <= msgid_index or not isinstance(args[msgid_index], str):
            continue
        ctx = args[ctx_index] if ctx_index is not None else None
        msgids.add((ctx if isinstance(ctx, str) else None, args[msgid_index]))
    return msgids


def _msgids_from_template(source: str) -> set[tuple[str | None, str]]:
    """Django's own templatize() (as used by makemessages), then read the gettext calls."""
    msgids = set()
    tokens = [
        t
        # Indentation means nothing here; dropping it keeps tokenize from tripping on
        # templatize()'s placeholder lines.
        for t in tokenize.generate_tokens(
            io.StringIO("\n".join(ln.lstrip() for ln in templatize(source).splitlines())).readline
        )
        if t.type in (tokenize.NAME, tokenize.STRING, tokenize.OP)
    ]
    for i, tok in enumerate(tokens[:-2]):
        if tok.type != tokenize.NAME or tok.string not in GETTEXT_FUNCS:
            continue
        if tokens[i + 1].string != "(":
            continue
        args = []
        for arg in tokens[i + 2 :]:
            if arg.string == ")":
                break
            if arg.type == tokenize.STRING:
                args.append(ast.literal_eval(arg.string))
        ctx_index, msgid_index = GETTEXT_FUNCS[tok.string]
        if len(args) > msgid_index:
            msgids.add((args[ctx_index] if ctx_index is not None else None, args[msgid_index]))
    return msgids


def test_source_extraction_helpers() -> None:
    assert _msgids_from_python('x = _("A"); y = pgettext_lazy("c", "B"); z = _(v)') == {
        (None, "A"),
        ("c", "B"),
    }
    template = (
        '{% load i18n %}{% translate "A" %}{% translate "B" context "c" %}'
        "{% blocktranslate with n=x.y %}Hi {{ n }}{% endblocktranslate %}"
        "{% blocktranslate count counter=k %}{{ counter }} item{% plural %}"
        "{{ counter }} items{% endblocktranslate %}"
    )
    assert _msgids_from_template(template) == {
        (None, "A"),
        ("c", "B"),
        (None, "Hi %(n)s"),
        (None, "%(counter)s item"),
    }


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_covers_our_sources(lang: str) -> None:
    """A string added to code or templates without refreshing the catalogues fails here."""
    expected = set()
    for path in _source_files(".py"):
        expected |= _msgids_from_python(path.read_text(encoding="utf-8"))
    for path in _source_files(".html", ".txt"):
        expected |= _msgids_from_template(path.read_text(encoding="utf-8"))
    assert (None, "Dashboard") in expected
    ours = {_key(e) for e in _po(lang)}
    missing = sorted(repr(k) for k in expected - ours)
    assert not missing, (
        f"strings missing from locale/{lang} (refresh the catalogues):\n" + "\n".join(missing)
    )


# --- templates: visible text must go through {% translate %} / {% blocktranslate %} ---------

_COMMENT_RE = re.compile(r"{#.*?#}|{%\s*comment\b.*?%}.*?{%\s*endcomment\s*%}", re.S)
_BLOCKTRANS_RE = re.compile(
    r"{%\s*blocktrans(?:late)?\b.*?%}.*?{%\s*endblocktrans(?:late)?\s*%}", re.S
)
_TEMPLATE_TAG_RE = re.compile(r"{%.*?%}|{{.*?}}", re.S)
_RAW_BLOCK_RE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.S | re.I)
_HTML_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_HTML_TAG_RE = re.compile(r"<[^>]*>", re.S)
_VISIBLE_ATTR_RE = re.compile(
    r"""\s(?:alt|title|placeholder|aria-label|aria-description)\s*=\s*(["'])(.*?)\1""",
    re.S | re.I,
)
# An <input type="submit|button|reset"> shows its value; other values are form data.
_BUTTON_INPUT_RE = re.compile(
    r"<input\b[^>]*\btype\s*=\s*[\"']?(?:submit|button|reset)\b[^>]*>", re.I
)
_VALUE_ATTR_RE = re.compile(r"""\svalue\s*=\s*(["'])(.*?)\1""", re.S | re.I)
_WORD_RE = re.compile(r"[^\W\d_]{3,}")


def _untranslated_text(source: str) -> list[str]:
    text = _COMMENT_RE.sub(" ", source)
    text = _BLOCKTRANS_RE.sub(" ", text)
    text = _HTML_COMMENT_RE.sub(" ", text)
    text = _RAW_BLOCK_RE.sub(" ", text)
    found = []
    attributes = list(_VISIBLE_ATTR_RE.finditer(text))
    for button in _BUTTON_INPUT_RE.finditer(text):
        attributes += _VALUE_ATTR_RE.finditer(button.group(0))
    for match in attributes:
        value = _TEMPLATE_TAG_RE.sub(" ", match.group(2))
        found += _WORD_RE.findall(html.unescape(value))
    text = _TEMPLATE_TAG_RE.sub(" ", text)
    text = _HTML_TAG_RE.sub(" ", text)
    found += _WORD_RE.findall(html.unescape(text))
    return found


def test_untranslated_text_detector() -> None:
    assert _untranslated_text('<p>{% translate "Hello" %} {{ user.name }}</p>') == []
    assert _untranslated_text("{% blocktranslate %}Hi {{ x }}{% endblocktranslate %}") == []
    assert _untranslated_text("<p>Hello</p>") == ["Hello"]
    assert _untranslated_text('<img alt="Logo" src="{% static "x.png" %}">') == ["Logo"]
    assert _untranslated_text('<!DOCTYPE html><html lang="{{ LANGUAGE_CODE }}"></html>') == []
    assert (
        _untranslated_text('<button name="status" value="active">{% translate "A" %}</button>')
        == []
    )
    assert _untranslated_text('<input type="submit" value="Send">') == ["Send"]


def test_templates_have_no_untranslated_text() -> None:
    templates = sorted(TEMPLATES_DIR.rglob("*.html"))
    assert templates
    problems = {
        str(path.relative_to(ROOT)): words
        for path in templates
        if (words := _untranslated_text(path.read_text(encoding="utf-8")))
    }
    assert not problems, f"text outside {{% translate %}}: {problems}"
