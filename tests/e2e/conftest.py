"""End-to-end fixtures: a real daphne serving the test database, and Debian's Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _free_port() -> int:
    from tests.integration.topology import free_port

    return free_port()  # never the same port twice in a process


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def start_daphne(env: dict[str, str], *, port: int, log: IO[bytes]) -> subprocess.Popen | None:
    """daphne on 127.0.0.1:`port` with `env`, once it accepts connections (None if it died
    or did not listen within 30 s). Also used by tests/e2e/screenshots.py."""
    # The browser's pages come from this very origin: the one its sockets may use.
    env = {**env, "DJANGO_ALLOWED_ORIGINS": f"http://127.0.0.1:{port}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "workspace.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    return None


@dataclass
class LiveServer:
    url: str
    tmpdir: Path
    process: subprocess.Popen


@pytest.fixture
def daphne_server(transactional_db) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """daphne in demo mode (plain HTTP on loopback) against this test's database."""
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.fail("e2e tests need a file-based SQLite test database (see tests/settings.py)")
    port = _free_port()
    tmpdir = Path(tempfile.mkdtemp(prefix="workspace-daphne-tmp-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WORKSPACE_"))},
        "DJANGO_SETTINGS_MODULE": "workspace.settings",
        "DJANGO_DEBUG": "1",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,  # the session auth hash must verify
        "DATABASE_URL": _database_url(),
        "WORKSPACE_DATA_DIR": str(tmpdir / "data"),
        "WORKSPACE_MASTER_KEY_FILE": str(settings.WORKSPACE_MASTER_KEY_FILE),
        "WORKSPACE_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "WORKSPACE_UPLOAD_PART_BYTES": str(1024 * 1024),  # so a 3 MB file travels in parts
        "TMPDIR": str(tmpdir),  # so the scan for plaintext knows where daphne spools
    }
    env.pop("REDIS_URL", None)
    log = open(tmpdir / "daphne.log", "wb")  # noqa: SIM115 - closed below
    process = start_daphne(env, port=port, log=log)
    if process is None:
        log.close()
        pytest.fail("daphne did not start:\n" + (tmpdir / "daphne.log").read_text())
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", tmpdir=tmpdir, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def browser() -> Iterator[object]:
    chromium = require_tool("chromium", "install it with: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls
    # are still synchronous (Django documents this switch for exactly this case).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def login_context(browser, server: LiveServer, user) -> object:  # type: ignore[no-untyped-def]
    """A fresh browser context carrying a real, fully authenticated session of `user`."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=server.url, accept_downloads=True)
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["__Host-sessionid"].value
                if "__Host-sessionid" in client.cookies
                else client.cookies["sessionid"].value,
                "url": server.url,
            }
        ]
    )
    return context


@pytest.fixture
def browser_log() -> Iterator[object]:
    """Collects console errors, uncaught exceptions and CSP violations; fails at teardown.

    Contexts are watched with `browser_log.watch(context)` (or helpers.new_context).
    """
    from tests.e2e.helpers import BrowserLog

    log = BrowserLog()
    yield log
    problems = log.unexpected()
    assert not problems, "JavaScript errors or CSP violations:\n" + "\n".join(problems)
