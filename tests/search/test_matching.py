"""What matches: accents, prefixes, scripts, hostile input; the index follows edits and deletes."""

from __future__ import annotations

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.search.conftest import make_document, make_note
from workspace.search import selectors
from workspace.search.selectors import (
    MAX_QUERY_CHARS,
    MAX_TERMS,
    Kind,
    page_items,
    parse_query,
    search,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def author(world):
    return world["users"]["member_secret"]


@pytest.fixture
def topic(world, author):
    from messaging.services import topic_create

    return topic_create(space=world["space"], name="Hallazgos", acting_user=author)


@pytest.fixture
def post(world, topic, author):
    from messaging.services import message_post

    def post(body, **kwargs):
        return message_post(
            space=world["space"],
            topic=topic,
            body=body,
            level=0,
            tlp="GREEN",
            acting_user=kwargs.pop("acting_user", author),
            **kwargs,
        )

    return post


def ids(user, q, kind=Kind.MESSAGE):
    return {h.item_id for h in search(user=user, query=parse_query(q)).hits if h.kind == kind}


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("Incautación de cocaína en Cartagena", "cocaina"),
        ("Incautacion de cocaina en Cartagena", "cocaína"),
        ("Lavado de activos mediante empresas fachada", "lavado"),
        ("Lavado de activos mediante empresas fachada", "lavad"),  # a prefix
        ("Lavado de activos mediante empresas fachada", "LAVADO ACTIVOS"),  # every word
        ("Branqueamento de capitais em São Paulo", "sao paulo"),
        ("Blanchiment via des sociétés écrans", "societes ecrans"),
        ("Contrôle des précurseurs chimiques", "precurseurs"),
        ("Контрабанда кокаина через порт", "кокаина"),
        ("تهريب الكوكايين عبر الميناء", "الكوكايين"),
        ("コカイン 密輸", "コカイン"),
        ("Straße nach Köln", "koln"),
    ],
)
def test_accent_and_case_insensitive_in_every_script(world, author, post, text, query):
    message = post(text)
    assert message.pk in ids(author, query)


def test_all_words_must_match_and_short_words_are_whole_words(world, author, post):
    both = post("lavado de activos")
    one = post("lavado de dinero")
    assert ids(author, "lavado activos") == {both.pk}
    assert ids(author, "lavado") == {both.pk, one.pk}
    assert ids(author, "de") == {both.pk, one.pk}
    assert ids(author, "d") == set()  # one letter is not a prefix of everything


def test_edit_and_delete_keep_the_index_in_step(world, author, post):
    from messaging.services import message_delete, message_edit

    message = post("primer borrador zanahoria")
    assert ids(author, "zanahoria") == {message.pk}
    message_edit(message=message, body="texto corregido pepino", acting_user=author)
    assert ids(author, "zanahoria") == set()
    assert ids(author, "pepino") == {message.pk}
    message_delete(message=message, acting_user=author)
    assert ids(author, "pepino") == set()


def test_note_fields_and_edits_are_indexed(world, author):
    from messaging.note_services import NoteInput, note_edit

    note = make_note(
        space=world["space"],
        author=author,
        title="Ruta del Pacífico",
        summary="Semisumergibles desde la costa",
        indicators=["casco de fibra"],
    )
    for word in ["pacifico", "semisumergibles", "fibra"]:
        assert ids(author, word, Kind.NOTE) == {note.pk}, word
    note_edit(
        note=note,
        data=NoteInput(
            title="Ruta del Caribe",
            summary="Lanchas rápidas",
            category="concealment.air_cargo",
            source_reliability="B",
            information_credibility="2",
            handling_code="H0",
            level=0,
            tlp="GREEN",
        ),
        acting_user=author,
    )
    assert ids(author, "pacifico", Kind.NOTE) == set()
    assert ids(author, "lanchas rapidas", Kind.NOTE) == {note.pk}


def test_document_metadata_is_indexed_and_follows_updates(world, author):
    from documents.models import Document

    document = make_document(
        space=world["space"],
        author=author,
        title="Informe anual",
        description="Estadísticas de incautaciones",
    )
    assert ids(author, "estadisticas", Kind.DOCUMENT) == {document.pk}
    Document.objects.filter(pk=document.pk).update(title="Balance trimestral")
    assert ids(author, "informe", Kind.DOCUMENT) == set()
    assert ids(author, "trimestral", Kind.DOCUMENT) == {document.pk}
    document.delete()
    assert ids(author, "trimestral", Kind.DOCUMENT) == set()


def test_topic_names_are_indexed(world, author, topic):
    assert ids(author, "hallazgos", Kind.TOPIC) == {topic.pk}


def test_snippets_escape_html_and_mark_matches(world, author, post):
    message = post('<script>alert("x")</script> <img src=x onerror=alert(1)> cocaína & co')
    hits = search(user=author, query=parse_query("cocaina")).hits
    (item,) = page_items(user=author, query=parse_query("cocaina"), hits=hits)
    assert item.item_id == message.pk
    assert "<script" not in item.snippet and "<img" not in item.snippet
    assert "&lt;" in item.snippet or "&gt;" in item.snippet  # the text's own brackets, escaped
    assert "<mark>cocaína</mark>" in item.snippet


def test_a_planted_sentinel_is_just_text(world, author, post):
    post("HLS0000000000000000 cocaína HLE0000000000000000 <b>")
    hits = search(user=author, query=parse_query("cocaina")).hits
    (item,) = page_items(user=author, query=parse_query("cocaina"), hits=hits)
    assert "<b>" not in item.snippet and item.snippet.count("<mark>") == 1


HOSTILE = [
    "",
    " ",
    "&",
    "|",
    "!",
    "()",
    ":*",
    "'",
    '"',
    "\\",
    "&|!():*'\"\\",
    "a & b | !c",
    "cocaína:*",
    "'; DROP TABLE messaging_message; --",
    "\x00",
    "co\x00ca",
    "NEAR(a b)",
    "a OR b",
    "a AND NOT b",
    "col:value",
    "^start",
    "*",
    '"unbalanced',
    "(((((",
    "🙂 😈",
    "\u202etxt",
    "ä" * MAX_QUERY_CHARS,
    "%",
    "_",
    "%_%",
    "\ufeff",
    "中文 検索 한국어",
    "Ёжик",
    "عربى",
    "\u0301\u0301",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_never_fail(client, world, author, post, q):
    post("cocaína en contenedores")
    client.force_login(author)
    response = client.get(reverse("search"), {"q": q})
    assert response.status_code == 200


def test_too_long_or_too_many_words_is_a_clear_message(client, world, author):
    client.force_login(author)
    body = client.get(reverse("search"), {"q": "a" * (MAX_QUERY_CHARS + 1)}).content.decode()
    assert f"at most {MAX_QUERY_CHARS} characters" in body
    many = " ".join(f"w{i}" for i in range(MAX_TERMS + 1))
    body = client.get(reverse("search"), {"q": many}).content.decode()
    assert f"at most {MAX_TERMS} words" in body


def test_an_empty_query_says_what_to_do(client, world, author):
    client.force_login(author)
    body = client.get(reverse("search")).content.decode()
    assert "Type one or more words" in body
    body = client.get(reverse("search"), {"q": "&|!"}).content.decode()
    assert "Type one or more words" in body


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(q=st.text(max_size=80))
def test_any_text_is_a_safe_query(world, author, q):
    query = parse_query(q)
    result = search(user=author, query=query)
    page_items(user=author, query=query, hits=result.hits)
    assert all(t and "'" not in t and '"' not in t and "\\" not in t for t in query.terms)


def test_pagination_and_the_result_cap(client, world, author, post, monkeypatch):
    for i in range(45):
        post(f"decomiso número {i}")
    client.force_login(author)
    first = client.get(reverse("search"), {"q": "decomiso"}).content.decode()
    assert "45 results" in first and "Page 1 of 3" in first
    assert first.count('class="search-hit"') == 20
    last = client.get(reverse("search"), {"q": "decomiso", "page": "3"}).content.decode()
    assert last.count('class="search-hit"') == 5
    junk = client.get(reverse("search"), {"q": "decomiso", "page": "x'--"})
    assert junk.status_code == 200
    monkeypatch.setattr(selectors, "RESULT_CAP", 30)
    capped = search(user=author, query=parse_query("decomiso"))
    assert capped.capped and len(capped.hits) == 30
    newest = {m for m in ids(author, "decomiso")}
    assert len(newest) == 30


def test_date_filters(world, author, post):
    from datetime import timedelta

    from django.utils import timezone

    from messaging.models import Message
    from workspace.search.selectors import SearchFilters

    old = post("precursor antiguo")
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    new = post("precursor reciente")
    today = timezone.localdate()
    q = parse_query("precursor")
    recent = search(user=author, query=q, filters=SearchFilters(date_from=today - timedelta(1)))
    assert {h.item_id for h in recent.hits} == {new.pk}
    before = search(user=author, query=q, filters=SearchFilters(date_to=today - timedelta(10)))
    assert {h.item_id for h in before.hits} == {old.pk}


def test_the_page_query_count_does_not_grow_with_results(client, world, author, post):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(author)

    def queries():
        with CaptureQueriesContext(connection) as context:
            assert client.get(reverse("search"), {"q": "cargamento"}).status_code == 200
        return len(context)

    post("cargamento 0")
    queries()  # the first request of a session writes the session records
    few = queries()
    for i in range(30):
        post(f"cargamento {i}")
    assert queries() == few <= 40


def test_the_page_reuses_the_searchs_spaces(world, author, post):
    """The result page names each hit's space from the spaces the search already read;
    the items are the same as when the page reads them itself."""
    post("incautación en el puerto")
    query = parse_query("incautacion")
    result = search(user=author, query=query)
    mine = page_items(user=author, query=query, hits=result.hits)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        reused = page_items(
            user=author, query=query, hits=result.hits, visible=result.visible,
            spaces=result.spaces,
        )
    assert [(i.item_id, i.space.pk, i.space.name, i.snippet) for i in reused] == [
        (i.item_id, i.space.pk, i.space.name, i.snippet) for i in mine
    ]
    assert reused and not any("networks_space" in q["sql"] for q in context.captured_queries)
