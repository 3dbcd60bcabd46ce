"""The console guard used by every browser test does see what it must fail on."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import BrowserLog, new_context

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_guard_catches_csp_violations_and_script_errors(world, daphne_server, browser):
    log = BrowserLog()  # not the fixture: these problems are deliberate
    page = new_context(browser, daphne_server, log).new_page()
    page.goto("/accounts/login/")
    assert log.unexpected() == [], "the login page itself is clean"

    # An inline script and an off-site image: both refused by the page's CSP.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.x = 1';"
        " document.body.append(s);"
        " const i = document.createElement('img'); i.src = 'https://cdn.example.com/a.png';"
        " document.body.append(i); }"
    )
    page.evaluate("() => { setTimeout(() => { throw new Error('boom-3c9'); }, 0); }")
    expected = [
        "CSP violation: script-src-elem blocked inline",
        "CSP violation: img-src blocked https://cdn.example.com/a.png",
        "boom-3c9",
    ]
    for _ in range(100):  # events reach the test asynchronously: poll until all are in
        problems = "\n".join(log.unexpected())
        if all(e in problems for e in expected):
            break
        page.wait_for_timeout(20)
    for e in expected:
        assert e in problems, problems
    assert page.evaluate("window.x") is None, "the inline script did not run"

    log.allow("boom-3c9")
    assert not any("boom-3c9" in p for p in log.unexpected())
