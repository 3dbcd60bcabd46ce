"""Helpers for the browser tests: console/CSP watching, axe-core, mail, common steps."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import skip_or_fail

# `make install` copies it into the venv's tree (the venv running the tests, normally .venv).
AXE_PATH = Path(sys.prefix) / "share" / "axe-core" / "axe.min.js"
AXE_URL = "/__e2e__/axe.min.js"  # same origin (CSP 'self'), served from the venv by a route

# Reported from inside the page too: Chromium also logs its own "Refused to ..." line,
# but the event carries the directive and the blocked URI.
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')
    + ' at ' + (e.sourceFile || location.href) + ':' + e.lineNumber);
});
"""


class BrowserLog:
    """Every console error, uncaught exception and CSP violation of the watched contexts."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self._allowed: list[re.Pattern[str]] = []

    def watch(self, context: Any) -> Any:
        context.add_init_script(CSP_LISTENER)
        context.on("page", self._attach)
        for page in context.pages:
            self._attach(page)
        return context

    def allow(self, pattern: str) -> None:
        """Expected noise, e.g. the console line for a deliberate 403 page."""
        self._allowed.append(re.compile(pattern))

    def _attach(self, page: Any) -> None:
        def on_console(message: Any) -> None:
            text = message.text
            if message.type == "error" or "Content Security Policy" in text:
                where = message.location.get("url") or page.url
                page_note = "" if where == page.url else f" (page {page.url})"
                self.problems.append(f"console.{message.type} on {where}{page_note}: {text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught on {page.url}: {exc}"))

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(a.search(p) for a in self._allowed)]


def new_context(browser: Any, server: Any, log: BrowserLog, user: Any = None) -> Any:
    """A fresh context (logged in as `user` if given), watched by `log`."""
    from tests.e2e.conftest import login_context

    if user is None:
        context = browser.new_context(base_url=server.url)
    else:
        context = login_context(browser, server, user)
    context.set_default_timeout(10_000)
    return log.watch(context)


# --- axe-core ----------------------------------------------------------------------


def axe_source() -> Path:
    if not AXE_PATH.exists():
        skip_or_fail(f"axe-core is missing at {AXE_PATH}; run make install")
    return AXE_PATH


def run_axe(page: Any) -> list[dict[str, Any]]:
    """Inject axe-core (from the venv, as a same-origin script) and return its violations."""
    path = axe_source()
    page.route(
        f"**{AXE_URL}", lambda route: route.fulfill(path=str(path), content_type="text/javascript")
    )
    page.add_script_tag(url=AXE_URL)
    page.wait_for_function("() => typeof window.axe !== 'undefined'")
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    page.unroute(f"**{AXE_URL}")
    return result


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v.get("impact") in ("serious", "critical")]


def describe_violations(url: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"axe on {url}:"]
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"      {' '.join(node['target'])}: {node['html'][:160]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"        {summary[:300]}")
    return "\n".join(lines)


# --- mail (the daphne subprocess prints mail with the console backend) ---------------


def wait_for_mail_link(server: Any, pattern: str, timeout: float = 10.0) -> str:
    """The first URL matching `pattern` in mail printed by daphne (its stdout log)."""
    log = server.tmpdir / "daphne.log"
    regex = re.compile(r"https?://[^\s\"'<>]*" + pattern + r"[^\s\"'<>]*")
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text(errors="replace")
        found = regex.search(text)
        if found:
            return found.group(0)
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail link matching {pattern!r} in:\n{text[-4000:]}")
        time.sleep(0.05)  # polling a file for a condition, not a blind wait


# --- discussion --------------------------------------------------------------------


def open_topic(page: Any, space_id: int, topic_id: int) -> None:
    """Open a topic page and wait until its socket is live."""
    page.goto(f"/spaces/{space_id}/topics/{topic_id}/")
    wait_live(page)


def wait_live(page: Any) -> None:
    page.wait_for_function(
        "() => { const s = document.querySelector('#realtime');"
        " const st = document.querySelector('.realtime-status');"
        " return s && st && st.textContent === s.dataset.labelOnline; }"
    )


def post_message(
    page: Any, body: str, *, level: int = 0, tlp: str = "GREEN", shown: str | None = None
) -> None:
    """Post through the page's form (a WebSocket frame when live); wait until it is stored.

    `shown` is the text to wait for when the rendered Markdown differs from `body`.
    """
    page.fill("#id_body", body)
    page.select_option("#id_level", str(level))
    page.select_option("#id_tlp", tlp)
    page.click("#post-form button[type=submit]")
    page.locator(".message-list article[data-message-id]", has_text=shown or body).wait_for()


def assert_accessible(page: Any) -> None:
    """Fail on serious or critical axe-core violations on the current page."""
    found = serious(run_axe(page))
    assert not found, describe_violations(page.url, found)
