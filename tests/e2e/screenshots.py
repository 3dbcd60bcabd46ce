"""Screenshots of the main pages for the README: `make screenshots`.

`python -m tests.e2e.screenshots [--out docs/screenshots]` seeds the demo network
(`seed_demo`) into a throw-away SQLite database, adds twelve weeks of fictional activity
so the insight charts have something to draw, starts a real daphne on a free port, signs
in through the login and TOTP pages in Debian's Chromium and saves 1280×800 PNGs.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1280, "height": 800}
SPACE_SLUG = "intelligence-cooperation"  # the demo working group the pages show
MODERATOR = "moderator@demo.example"
ADMIN = "admin@demo.example"


@dataclass(frozen=True)
class Demo:
    """What the page paths need to know about the seeded data."""

    space_id: int
    note_id: int
    network_slug: str
    topic_id: int = 0  # the space's busiest discussion


@dataclass(frozen=True)
class Shot:
    name: str  # the PNG file name, without .png
    user: str  # who is signed in
    path: Callable[[Demo], str]


SHOTS = [
    Shot("dashboard", MODERATOR, lambda d: "/"),
    Shot("space", MODERATOR, lambda d: f"/spaces/{d.space_id}/"),
    Shot("topic", MODERATOR, lambda d: f"/spaces/{d.space_id}/topics/{d.topic_id}/"),
    Shot("documents", MODERATOR, lambda d: f"/spaces/{d.space_id}/documents/"),
    Shot("note", MODERATOR, lambda d: f"/spaces/{d.space_id}/notes/{d.note_id}/"),
    Shot("moderation", MODERATOR, lambda d: f"/spaces/{d.space_id}/members/"),
    Shot("insight", MODERATOR, lambda d: f"/spaces/{d.space_id}/insight/"),
    Shot("insight-network", ADMIN, lambda d: f"/networks/{d.network_slug}/insight/"),
]


def _environment(data_dir: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WORKSPACE_"))}
    keep.pop("DATABASE_URL", None)
    keep.pop("REDIS_URL", None)
    return {
        **keep,
        "DJANGO_SETTINGS_MODULE": "workspace.settings",
        "DJANGO_DEBUG": "1",  # demo mode: plain HTTP on loopback, seed_demo allowed
        "WORKSPACE_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir / 'screenshots.sqlite3'}",
        "WORKSPACE_LOG_FORMAT": "text",
    }


def seed(*, rng: random.Random) -> Demo:
    """The demo network plus twelve weeks of fictional messages and documents."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("seed_demo", stdout=io.StringIO())
    return _seed_activity(rng=rng)


def _seed_activity(*, rng: random.Random) -> Demo:
    from django.db.models import Count
    from django.utils import timezone

    from documents.crypto import encrypt
    from documents.keys import space_key_current
    from documents.models import Document
    from documents.services import DocumentMeta, document_upload
    from messaging import services
    from messaging.models import Message, Note
    from networks.models import Space
    from workspace.accounts.models import User

    space = Space.objects.select_related("network").get(slug=SPACE_SLUG)
    posters = [
        (User.objects.get(email=email), level)
        for email, level in [
            (MODERATOR, 2),
            ("secret@demo.example", 3),
            ("confidential@demo.example", 2),
            ("restricted@demo.example", 1),
            ("open@demo.example", 0),
        ]
    ]
    topics = [
        services.topic_create(space=space, name=name, acting_user=posters[0][0])
        for name in ("Port of Valencia: container routes", "Cash couriers, Q4 patterns")
    ]
    recipient = space_key_current(space=space).recipient
    now = timezone.now()
    for week in range(12):
        for _ in range(rng.randint(2, 4 + week)):
            author, level = rng.choice(posters)
            message = services.message_post(
                space=space,
                topic=rng.choice(topics),
                body="Fictional demo message: schedule cross-checked with the liaison office.",
                level=rng.randint(0, level),
                tlp="GREEN",
                acting_user=author,
            )
            # Creation dates are no input of any service; spread them like a fixture does.
            at = now - timedelta(weeks=11 - week, hours=rng.randint(0, 120))
            Message.objects.filter(pk=message.pk).update(created_at=min(at, now))
        if week % 3 != 1:
            author, level = rng.choice(posters)
            version = document_upload(
                space=space,
                acting_user=author,
                stream=io.BytesIO(encrypt(b"Fictional demo document.\n", [recipient])),
                content_length=None,
                filename=f"weekly-brief-{week + 1:02d}.txt",
                meta=DocumentMeta(title=f"Weekly brief {week + 1}", level=min(level, 1)),
            )
            at = now - timedelta(weeks=11 - week, hours=rng.randint(0, 96))
            Document.objects.filter(pk=version.document_id).update(
                created_at=min(at, now), updated_at=min(at, now)
            )
    note = Note.objects.filter(space=space, level=0).order_by("pk").first()
    note = note or Note.objects.filter(space=space).order_by("pk").first()
    # A conversation of the living demo (networks/demo.py), else the busiest topic.
    busiest = (
        Message.objects.filter(topic__space=space, topic__name__contains="DEMO")
        .values("topic_id")
        .annotate(count=Count("pk"))
        .order_by("-count")
        .first()
    ) or (
        Message.objects.filter(topic__space=space)
        .values("topic_id")
        .annotate(count=Count("pk"))
        .order_by("-count")
        .first()
    )
    return Demo(
        space_id=space.pk,
        note_id=note.pk,
        network_slug=space.network.slug,
        topic_id=busiest["topic_id"] if busiest else 0,
    )


def _start_daphne(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    from tests.e2e.conftest import _free_port, start_daphne

    port = _free_port()
    process = start_daphne(env, port=port, log=open(log_path, "wb"))  # noqa: SIM115
    if process is None:
        raise SystemExit("daphne did not start:\n" + log_path.read_text(errors="replace"))
    return process, f"http://127.0.0.1:{port}"


def _sign_in(browser, base_url: str, email: str):  # type: ignore[no-untyped-def]
    """A browser context signed in through the real login and TOTP pages."""
    from networks.demo import DEMO_PASSWORD
    from workspace.accounts.models import User
    from workspace.accounts.totp import totp_current_code

    context = browser.new_context(base_url=base_url, viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_login", email)
    page.fill("#id_password", DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/2fa/authenticate/" in url)
    page.fill("#id_code", totp_current_code(user=User.objects.get(email=email)))
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/accounts/" not in url)
    return context, page


def capture(*, out: Path, chromium: str = "/usr/bin/chromium", seed_value: int = 7) -> list[Path]:
    from tests.e2e.conftest import CHROMIUM_ARGS

    data_dir = Path(tempfile.mkdtemp(prefix="workspace-screenshots-"))
    env = _environment(data_dir)
    os.environ.update(env)
    for key in ("DATABASE_URL", "REDIS_URL"):
        if key not in env:
            os.environ.pop(key, None)
    import django

    django.setup()
    demo = seed(rng=random.Random(seed_value))

    # Playwright's sync API runs an event loop on this thread; the ORM calls left (the
    # TOTP codes) are synchronous and short, as in tests/e2e/conftest.py.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    process, base_url = _start_daphne(env, data_dir / "daphne.log")
    saved: list[Path] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            pages = {}
            for shot in SHOTS:
                if shot.user not in pages:
                    pages[shot.user] = _sign_in(browser, base_url, shot.user)[1]
                page = pages[shot.user]
                page.goto(shot.path(demo))
                page.wait_for_load_state("networkidle")
                target = out / f"{shot.name}.png"
                page.screenshot(path=str(target))
                saved.append(target)
            browser.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    return saved


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    for path in capture(out=args.out, chromium=args.chromium):
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
            f" ({path.stat().st_size // 1024} KiB)"
        )


if __name__ == "__main__":
    main()
