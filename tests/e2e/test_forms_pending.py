"""Every plain form post shows a pending state and cannot be sent twice while it waits."""

from __future__ import annotations

import re

import pytest

from messaging.models import Topic
from tests.e2e.helpers import new_context

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SUBMIT_TWICE = """() => {
  const form = document.querySelector("section[aria-labelledby=new-topic] form");
  const button = form.querySelector("button[type=submit], button:not([type])");
  const seen = [];
  window.addEventListener("submit", (e) => seen.push(e.defaultPrevented));
  form.requestSubmit(button);
  const state = {busy: form.getAttribute("aria-busy"), label: button.textContent,
                 disabled: button.getAttribute("aria-disabled")};
  form.requestSubmit(button);
  state.prevented = seen;
  return state;
}"""


def test_a_form_post_is_pending_and_never_sent_twice(world, daphne_server, browser,
                                                     browser_log):
    space = world["space"]
    context = new_context(browser, daphne_server, browser_log, world["users"]["member_open"])
    page = context.new_page()
    page.goto(f"/spaces/{space.pk}/topics/")
    page.get_by_label("Name").fill("Transshipment at anchorage")
    state = page.evaluate(SUBMIT_TWICE)
    assert state["busy"] == "true" and state["disabled"] == "true"
    assert state["label"] == "Working…"
    assert state["prevented"] == [False, True]  # the second submit never left the page
    page.wait_for_url(re.compile(rf"/spaces/{space.pk}/topics/\d+/$"))
    assert Topic.objects.filter(space=space, name="Transshipment at anchorage").count() == 1

    # Back to the list (possibly from the back/forward cache): the form is usable again.
    page.go_back()
    page.wait_for_url(re.compile(rf"/spaces/{space.pk}/topics/$"))
    form = page.locator("section[aria-labelledby=new-topic] form")
    assert form.get_attribute("aria-busy") is None
    assert form.get_by_role("button").inner_text() == "Create topic"
    context.close()
