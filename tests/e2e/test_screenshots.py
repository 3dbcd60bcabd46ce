"""The screenshot script (`make screenshots`) imports and its page list resolves.

The full run (seed, daphne, Chromium) is `make screenshots`; this is the cheap check that
keeps the script from rotting between runs.
"""

from __future__ import annotations

from django.urls import resolve

from tests.e2e import screenshots


def test_every_page_resolves_and_names_are_unique():
    demo = screenshots.Demo(space_id=1, note_id=2, network_slug="eu-lac", topic_id=3)
    names = [shot.name for shot in screenshots.SHOTS]
    assert len(names) == len(set(names))
    assert {"dashboard", "space", "topic", "documents", "note", "moderation", "insight"} <= set(
        names
    )
    for shot in screenshots.SHOTS:
        resolve(shot.path(demo))  # raises Resolver404 for a stale path
        assert shot.user.endswith("@demo.example")


def test_readme_shows_every_screenshot():
    readme = (screenshots.ROOT / "README.md").read_text()
    for shot in screenshots.SHOTS:
        assert f"docs/screenshots/{shot.name}.png" in readme
