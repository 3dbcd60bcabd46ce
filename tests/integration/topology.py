"""The production topology for integration tests: daphne processes behind deploy/nginx.conf.

`nginx_test_config` turns the shipped configuration into one that runs unprivileged on
free loopback ports (TLS swapped for plain listens, paths into a temporary directory);
everything else (upstream, headers, body limits, locations) is the file as shipped.
The daphne processes run the production settings (DEBUG off, behind a TLS proxy) with
only the static-files storage relaxed, against the test database.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
HOST = "workspace.example.org"  # the placeholder server_name in deploy/nginx.conf

# Production settings, except static files: the hashed manifest needs collectstatic.
SETTINGS_MODULE = """
from workspace.settings import *  # noqa: F403
from workspace.settings import STORAGES

STORAGES["staticfiles"] = {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
WHITENOISE_USE_FINDERS = True
"""


def nginx_binary() -> str | None:
    """Debian installs nginx in /usr/sbin, which a non-root PATH may lack."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port that this process has not handed out before.

    Binding port 0 and closing lets the kernel give the same port to the next bind: two
    calls in a row once gave nginx's two listens one port ("a duplicate listen")."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free loopback port left that was not handed out already")


def database_url() -> str:
    """The test database, as a DATABASE_URL for another process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


def owner_database_url() -> str:
    """The test database as its owner sees it (settings.DATABASE_OWNER, when the roles are
    split as in CI), for the benches: their floors create scratch tables, which the
    application's role may not."""
    owner = settings.DATABASE_OWNER
    if not owner or connection.vendor != "postgresql":
        return database_url()
    db = connection.settings_dict
    password = f":{owner['PASSWORD']}" if owner.get("PASSWORD") else ""
    return (
        f"postgres://{owner['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


# As in docs/deploy.md's systemd unit. daphne aborts a WebSocket whose opening handshake
# has not finished after 5 s (its default); under a burst of connects (the load test's
# ramp, every client of a dead process reconnecting) that reset reached nginx as an
# upstream failure, nginx took the process out, and every request got 502.
DAPHNE_OPTIONS = ("--websocket_connect_timeout", "30")


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclass
class Daphne:
    """One daphne process on a fixed loopback port; can be killed and started again."""

    port: int
    workdir: Path
    process: subprocess.Popen | None = None
    starts: int = 0
    # Additions for tests/integration/test_chaos.py: environment overrides (REDIS_URL,
    # DATABASE_URL through a proxy, ...) and Python appended to the settings module.
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_settings: str = ""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WORKSPACE_"))}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "topology_settings",
                "PYTHONPATH": f"{self.workdir}{os.pathsep}{ROOT}",
                "DJANGO_SECRET_KEY": settings.SECRET_KEY,  # session hashes must verify
                "DJANGO_ALLOWED_HOSTS": f"{HOST},127.0.0.1,localhost",
                "DATABASE_URL": database_url(),
                "WORKSPACE_DATA_DIR": str(self.workdir / f"data-{self.port}"),
                "WORKSPACE_MASTER_KEY_FILE": str(settings.WORKSPACE_MASTER_KEY_FILE),
                "WORKSPACE_MEDIA_ROOT": str(settings.MEDIA_ROOT),
                "WORKSPACE_BEHIND_TLS_PROXY": "1",
                "WORKSPACE_TRUSTED_PROXY_COUNT": "1",
                "WORKSPACE_SSL_REDIRECT": "0",  # nginx redirects plain HTTP itself
                "WORKSPACE_LOG_FORMAT": "json",
                "WORKSPACE_DB_POOL_SIZE": "24",  # docs/deploy.md: 16 requests, 4 threads, 4
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        (self.workdir / "topology_settings.py").write_text(SETTINGS_MODULE + self.extra_settings)
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                *DAPHNE_OPTIONS,
                "workspace.asgi:application",
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if not wait_for_port(self.port, self.process):
            self.stop()
            raise RuntimeError(f"daphne on {self.port} did not start:\n{self.log()}")

    @property
    def log_path(self) -> Path:
        return self.workdir / f"daphne-{self.port}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown."""
        self.stop(sig=signal.SIGKILL)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def nginx_test_config(
    *, upstream_ports: list[int], listen_port: int, redirect_port: int, workdir: Path
) -> str:
    """deploy/nginx.conf with plain loopback listens and every path inside `workdir`."""
    text = NGINX_CONF.read_text()

    def sub(pattern: str, replacement: str, *, count: int | None = None) -> None:
        nonlocal text
        text, n = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        if n == 0 or (count is not None and n != count):
            raise AssertionError(f"deploy/nginx.conf changed: {pattern!r} matched {n} times")

    sub(r"^user .*;\n", "", count=1)
    sub(r"^pid .*;", f"pid {workdir}/nginx.pid;", count=1)
    sub(r"^error_log \S+", f"error_log {workdir}/error.log", count=1)
    sub(r"^(\s*)access_log \S+", rf"\1access_log {workdir}/access.log", count=1)
    sub(
        r"^http \{\n",
        "http {\n"
        + "".join(
            f"    {kind}_temp_path {workdir}/{kind}_temp;\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        count=1,
    )
    # The upstream: one server line per daphne, with the shipped parameters.
    servers = re.findall(r"^(\s*)server 127\.0\.0\.1:\d+( [^;]*)?;\n", text, flags=re.MULTILINE)
    if not servers:
        raise AssertionError("deploy/nginx.conf changed: no upstream servers")
    indent, params = servers[0]
    lines = "".join(f"{indent}server 127.0.0.1:{port}{params};\n" for port in upstream_ports)
    text = re.sub(r"^\s*server 127\.0\.0\.1:\d+( [^;]*)?;\n", "", text, flags=re.MULTILINE)
    sub(r"^(\s*)upstream workspace \{\n", rf"\g<0>{lines}", count=1)
    # TLS and IPv6 out, plain loopback listens in.
    sub(r"^\s*listen \[::\]:.*;\n", "")
    sub(r"^\s*ssl_.*;\n", "")
    sub(
        r"listen 443 ssl default_server;",
        f"listen 127.0.0.1:{listen_port} default_server;",
        count=1,
    )
    sub(r"listen 443 ssl http2;", f"listen 127.0.0.1:{listen_port};", count=1)
    sub(r"listen 80 default_server;", f"listen 127.0.0.1:{redirect_port} default_server;", count=1)
    sub(r"listen 80;", f"listen 127.0.0.1:{redirect_port};", count=1)
    return text


@dataclass
class Nginx:
    port: int
    redirect_port: int
    workdir: Path
    conf: Path
    process: subprocess.Popen | None = None
    daphnes: list[Daphne] = field(default_factory=list)

    def command(self, *extra: str) -> list[str]:
        return [
            nginx_binary() or "nginx",
            "-p",
            str(self.workdir),
            "-e",
            str(self.workdir / "error.log"),
            "-c",
            str(self.conf),
            *extra,
        ]

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command("-g", "daemon off;"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        if not wait_for_port(self.port, self.process, timeout=10):
            self.stop()
            raise RuntimeError(f"nginx did not start:\n{self.error_log()}")

    def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def make_workdir(prefix: str) -> Path:
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    # nginx workers drop root privileges: they must be able to reach their temp paths.
    workdir.chmod(0o755)
    return workdir


def write_nginx(daphnes: list[Daphne], workdir: Path) -> Nginx:
    port, redirect_port = free_port(), free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(
        nginx_test_config(
            upstream_ports=[d.port for d in daphnes],
            listen_port=port,
            redirect_port=redirect_port,
            workdir=workdir,
        )
    )
    return Nginx(
        port=port, redirect_port=redirect_port, workdir=workdir, conf=conf, daphnes=daphnes
    )


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def request(
    port: int,
    method: str,
    path: str,
    *,
    host: str = HOST,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30,
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()
