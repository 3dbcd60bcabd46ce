"""In a real browser: a note is written with grading, handling code and TLP, then found
through the header search, accent-insensitively, by a member who may see it, and not by
one below its level (no result, no count, no hint)."""

from __future__ import annotations

import re

import pytest

from messaging.models import Note
from messaging.taxonomy import load_taxonomy
from tests.e2e.helpers import assert_accessible, new_context

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TITLE = "Semisumergible con cocaína frente a la costa"


def _search(page, words: str) -> None:
    box = page.get_by_role("searchbox", name=re.compile("Search for"))
    box.fill(words)
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search/\?"))


def test_a_note_is_written_then_found_through_search(world, daphne_server, browser,
                                                     browser_log):
    space = world["space"]
    category = load_taxonomy().groups[0].categories[1]
    author = new_context(browser, daphne_server, browser_log, world["users"]["member_secret"])
    page = author.new_page()
    page.goto(f"/spaces/{space.pk}/notes/new/")
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Summary").fill(
        "Fictional: a **semi-submersible** left the coast with bales of cocaine.")
    page.get_by_label("Category").select_option(category.code)
    page.get_by_role("checkbox", name=re.compile("Cocaine")).check()
    page.get_by_label("Source reliability").select_option("B")
    page.get_by_label("Information credibility").select_option("2")
    page.get_by_role("radio", name=re.compile(r"^H1")).check()
    page.get_by_label("Level").select_option("1")
    page.get_by_label("TLP").select_option("AMBER")
    page.get_by_role("button", name="Create note").click()
    page.wait_for_url(re.compile(rf"/spaces/{space.pk}/notes/\d+/$"))

    note = Note.objects.get(title=TITLE)
    assert (note.source_reliability, note.information_credibility) == ("B", "2")
    assert (note.handling_code, note.tlp, note.level) == ("H1", "AMBER", 1)
    body = page.locator("main").inner_text()
    for badge in ("B2", "H1", "TLP:AMBER"):
        assert badge in body, badge

    # Found without the accent, highlighted, linking to the note; the page passes axe.
    _search(page, "cocaina semisumergible")
    hit = page.locator(".search-hit", has_text="Semisumergible")
    assert hit.count() >= 1
    assert hit.first.locator("mark").count() >= 1
    hit.first.get_by_role("link").first.click()
    page.wait_for_url(re.compile(rf"/notes/{note.pk}/$"))
    _search(page, "cocaina")
    assert_accessible(page)

    # A member below the note's level: nothing about it, not even a count.
    below = new_context(browser, daphne_server, browser_log, world["users"]["member_open"])
    other = below.new_page()
    other.goto("/")
    _search(other, "cocaina semisumergible")
    text = other.locator("main").inner_text()
    assert "Semisumergible" not in text and note.reference not in text
    assert other.locator(".search-hit").count() == 0
    assert "Nothing you can see matches" in text
    author.close()
    below.close()
