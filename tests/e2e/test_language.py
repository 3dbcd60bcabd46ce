"""The header's language form switches the whole UI (our pages and allauth's) to es, pt, fr.

Each page is read in English first, then in each language through the header form. Every
visible text that is still the same must be data (names, emails, space names) or a word
the catalogue deliberately keeps (French "Discussions"): a string missing from the
catalogue fails, because Django would show it in English.
"""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.translation import gettext, trans_real

from messaging import services
from networks.clearance import TLP, level_names
from networks.models import Network, Space
from tests.e2e.helpers import new_context
from workspace.accounts.models import User

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LANGUAGES = ["es", "pt", "fr"]

# Visible text nodes, and the text of attributes a screen reader announces.
VISIBLE_TEXTS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    if (text && node.parentElement && node.parentElement.offsetParent !== null) out.push(text);
  }
  for (const e of document.querySelectorAll('[aria-label], [placeholder], [title], [alt]')) {
    for (const a of ['aria-label', 'placeholder', 'title', 'alt']) {
      if (e.getAttribute(a)) out.push(e.getAttribute(a).trim());
    }
  }
  return out;
}"""


def _switch_language(page, language: str) -> None:  # type: ignore[no-untyped-def]
    path = page.url
    page.select_option("#language-select", language)
    with page.expect_navigation():
        page.locator(".language-form button[type=submit]").click()
    assert page.url == path, "the form returns to the page it was sent from"
    assert page.locator("html").get_attribute("lang") == language


# Reported, not yet fixed (translations are another change's files): Django's own pt
# catalogue leaves these language names empty and locale/pt does not supply them, so the
# profile's "Languages" list shows them in English. Remove once locale/pt has them.
KNOWN_GAPS: dict[tuple[str, str], set[str]] = {}


def _data_strings() -> set[str]:
    """What the pages show that is data, not UI text."""
    found = {"—", "·", "›", "Port routes", "Convoy-2b7"}
    # Security markings are shown verbatim in every language: clearance level names (from
    # settings, like a classification) and the Traffic Light Protocol labels.
    found |= set(level_names())
    found |= {"TLP", "TLP:"} | {f"TLP:{value}" for value in TLP.values} | set(TLP.values)
    for user in User.objects.all():
        found |= {user.email, user.display_name, user.get_short_name()}
    for space in Space.objects.all():
        found |= {space.name, space.description}
    found |= set(Network.objects.values_list("name", flat=True))
    return found


def _untranslated(language: str, english: list[str], shown: list[str], data: set[str]) -> set[str]:
    catalog = trans_real.translation(language)._catalog
    # Entries with a context ("in-app notifications\x04Notifications") count as translated
    # when their msgid is shown: French keeps "Notifications" on purpose.
    msgids = {key.split("\x04")[-1] for key in catalog.keys() if isinstance(key, str)}
    same = set(english) & set(shown)
    return {text for text in same if text not in data and text not in msgids}


@pytest.fixture
def topic(world):  # type: ignore[no-untyped-def]
    """Created before the browser starts (its event loop would stop the doorbell)."""
    moderator = world["users"]["moderator"]
    topic = services.topic_create(space=world["space"], name="Port routes", acting_user=moderator)
    services.message_post(
        space=world["space"],
        topic=topic,
        body="Convoy-2b7",
        level=1,
        tlp="AMBER",
        acting_user=moderator,
    )
    return topic


def test_language_switch_translates_pages(world, topic, daphne_server, browser, browser_log):
    space = world["space"]
    data = _data_strings()
    signed_in = new_context(browser, daphne_server, browser_log, world["users"]["moderator"])
    anonymous = new_context(browser, daphne_server, browser_log)  # the login page, logged out
    pages = [
        (signed_in.new_page(), "/"),
        (signed_in.new_page(), f"/spaces/{space.pk}/"),
        (signed_in.new_page(), f"/spaces/{space.pk}/topics/"),
        (signed_in.new_page(), f"/spaces/{space.pk}/topics/{topic.pk}/"),
        (signed_in.new_page(), f"/spaces/{space.pk}/documents/"),
        (signed_in.new_page(), f"/spaces/{space.pk}/members/"),
        (signed_in.new_page(), "/accounts/profile/"),
        (signed_in.new_page(), "/accounts/2fa/"),
        (signed_in.new_page(), "/accounts/sessions/"),
        (anonymous.new_page(), "/accounts/password/reset/"),
        (anonymous.new_page(), "/accounts/login/"),
    ]
    # The sessions page shows this browser's address and user agent.
    data |= {"127.0.0.1", pages[0][0].evaluate("navigator.userAgent")}
    english = {}
    for page, path in pages:
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == "en"
        english[path] = page.evaluate(VISIBLE_TEXTS)

    problems = []
    for language in LANGUAGES:
        switched = []  # contexts (browsers) already switched to `language`
        for page, path in pages:
            # The choice is per browser: the first page of each switches with the header
            # form; the others are reloaded, so the choice is seen to stick across pages.
            if page.context in switched:
                page.reload()
                assert page.locator("html").get_attribute("lang") == language, path
            else:
                _switch_language(page, language)
                switched.append(page.context)
            left = _untranslated(language, english[path], page.evaluate(VISIBLE_TEXTS), data)
            left -= KNOWN_GAPS.get((language, path), set())
            if left:
                problems.append(f"{language} {path}: still in English: {sorted(left)}")
        # Spot checks against the catalogue, so the comparison above cannot pass vacuously.
        with translation.override(language):
            dashboard, sign_in = gettext("Dashboard"), gettext("Sign In")
        assert dashboard != "Dashboard" and sign_in != "Sign In"
        pages[0][0].get_by_role("heading", level=1, name=dashboard).wait_for()
        pages[-1][0].get_by_role("heading", level=1, name=sign_in).wait_for()
    assert not problems, "\n".join(problems)
