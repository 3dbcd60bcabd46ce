"""deploy/nginx.conf in front of two real daphne processes sharing the test database.

The config is the shipped file with TLS swapped for plain loopback listens
(tests/integration/topology.py). Checked: it parses, both upstreams get traffic, one
process can die without a failed request, the proxy headers arrive, `/metrics` stays
internal, WebSocket upgrades pass, and ciphertext uploads of several MiB stream through.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.conftest import require_tool
from tests.integration.topology import (
    DAPHNE_OPTIONS,
    HOST,
    ROOT,
    Daphne,
    Nginx,
    free_port,
    make_workdir,
    nginx_binary,
    nginx_test_config,
    request,
    write_nginx,
)

pytestmark = pytest.mark.django_db(transaction=True)

DEPLOY_MD = ROOT / "docs" / "deploy.md"


def _require_nginx() -> None:
    if nginx_binary() is None:
        require_tool("nginx", "install it with: apt-get install -y nginx")


def test_the_shipped_config_passes_nginx_t():
    _require_nginx()
    workdir = make_workdir("workspace-nginx-t-")
    conf = workdir / "nginx.conf"
    conf.write_text(
        nginx_test_config(
            upstream_ports=[free_port(), free_port()],
            listen_port=free_port(),
            redirect_port=free_port(),
            workdir=workdir,
        )
    )
    nginx = Nginx(port=0, redirect_port=0, workdir=workdir, conf=conf)
    result = subprocess.run(nginx.command("-t"), capture_output=True, text=True, check=False)
    shutil.rmtree(workdir, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@pytest.fixture
def topology(transactional_db) -> Iterator[Nginx]:  # type: ignore[no-untyped-def]
    _require_nginx()
    workdir = make_workdir("workspace-topology-")
    daphnes = [Daphne(port=free_port(), workdir=workdir) for _ in range(2)]
    nginx = write_nginx(daphnes, workdir)
    try:
        for daphne in daphnes:
            daphne.start()
        nginx.start()
        yield nginx
    finally:
        nginx.stop()
        for daphne in daphnes:
            daphne.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _served_2xx(daphne: Daphne) -> int:
    """This daphne's own count of 2xx responses, read on its loopback port."""
    text = request(daphne.port, "GET", "/metrics").body.decode()
    match = re.search(r'^http_requests_total\{status="2xx"\} (\d+)$', text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _healthz_via_proxy(nginx: Nginx, times: int) -> list[int]:
    statuses = []
    for _ in range(times):
        reply = request(nginx.port, "GET", "/healthz")
        assert reply.status != 200 or json.loads(reply.body) == {"status": "ok"}
        statuses.append(reply.status)
    return statuses


def test_both_upstreams_serve_and_one_may_die(topology):
    a, b = topology.daphnes
    before = [_served_2xx(a), _served_2xx(b)]
    assert _healthz_via_proxy(topology, 20) == [200] * 20
    after = [_served_2xx(a), _served_2xx(b)]
    # Each scrape above counts one 2xx on its own process, so more than one means traffic.
    assert after[0] - before[0] > 1 and after[1] - before[1] > 1, (before, after)

    a.kill()
    assert _healthz_via_proxy(topology, 10) == [200] * 10, topology.error_log()
    login = request(topology.port, "GET", "/accounts/login/")
    assert login.status == 200 and b'name="password"' in login.body

    # Back up: nginx returns to it once its fail_timeout has passed; then lose the other.
    a.start()
    previous, deadline = _served_2xx(a), time.monotonic() + 20
    while True:
        assert request(topology.port, "GET", "/healthz").status == 200
        current = _served_2xx(a)
        if current - previous > 1:  # more than the previous scrape: a proxied request
            break
        assert time.monotonic() < deadline, "nginx never sent traffic to the restarted daphne"
        previous = current
        time.sleep(0.2)
    b.kill()
    assert _healthz_via_proxy(topology, 10) == [200] * 10, topology.error_log()


def test_proxied_health_and_metrics_reveal_nothing(topology):
    a, _ = topology.daphnes
    # Directly on its loopback port a daphne shows details and metrics...
    direct = json.loads(request(a.port, "GET", "/healthz").body)
    assert set(direct["checks"]) == {"database", "channel_layer", "cache", "key_provider"}
    assert request(a.port, "GET", "/metrics").status == 200
    # ...through the proxy, a status only, and no metrics (nginx denies; daphne would too).
    assert json.loads(request(topology.port, "GET", "/healthz").body) == {"status": "ok"}
    for path in ("/metrics", "/metrics?x=1", "/%6detrics"):
        reply = request(topology.port, "GET", path)
        assert reply.status == 403 and b"http_requests_total" not in reply.body, path
    # A forwarded request that reaches daphne anyway is refused by the application.
    spoofed = request(a.port, "GET", "/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert spoofed.status == 403


def test_proxy_headers_request_id_and_host_filtering(topology):
    reply = request(topology.port, "GET", "/healthz", headers={"X-Request-ID": "client-chosen-id"})
    # nginx replaces the client's id with its own $request_id, which daphne echoes.
    assert re.fullmatch(r"[0-9a-f]{32}", reply.headers["X-Request-ID"])
    access_log = topology.workdir / "access.log"
    deadline = time.monotonic() + 5  # nginx logs after the response has gone out
    while "rid=" + reply.headers["X-Request-ID"] not in access_log.read_text():
        assert time.monotonic() < deadline, access_log.read_text()
        time.sleep(0.05)
    # Behind the proxy the session cookie is the secure __Host- one (X-Forwarded-Proto).
    page = request(topology.port, "GET", "/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert page.status == 200
    # Plain HTTP is redirected to HTTPS by nginx.
    redirect = request(topology.redirect_port, "GET", "/accounts/login/?next=/")
    assert redirect.status == 301
    assert redirect.headers["Location"] == f"https://{HOST}/accounts/login/?next=/"
    # Any other host name is dropped without an answer.
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        request(topology.port, "GET", "/healthz", host="attacker.example")


def test_the_access_log_keeps_no_secret_from_a_path(topology):
    """Keys in allauth's password-reset and confirmation links are logged redacted; the
    rest of a path is logged as it came (#35 item 10)."""
    access_log = topology.workdir / "access.log"
    secrets_in_paths = {
        "/accounts/password/reset/key/3k-SECRETRESETKEY/": "SECRETRESETKEY",
        "/accounts/confirm-email/SECRETCONFIRMKEY/": "SECRETCONFIRMKEY",
    }
    for path in secrets_in_paths:
        request(topology.port, "GET", path, headers={"X-Forwarded-Proto": "https"})
    marker = request(topology.port, "GET", "/healthz?marker=after-secrets")
    assert marker.status == 200
    deadline = time.monotonic() + 5  # nginx logs after the response has gone out
    while "marker=after-secrets" not in access_log.read_text():
        assert time.monotonic() < deadline, access_log.read_text()
        time.sleep(0.05)
    text = access_log.read_text()
    for secret in secrets_in_paths.values():
        assert secret not in text
    assert "/accounts/password/reset/key/[redacted]/" in text


def _ws_handshake(port: int) -> bytes:
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    handshake = (
        "GET /ws/ HTTP/1.1\r\n"
        f"Host: {HOST}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        f"Origin: https://{HOST}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(handshake.encode())
        return sock.recv(4096).split(b"\r\n", 1)[0]


def test_websocket_upgrades_pass_through(topology):
    direct = _ws_handshake(topology.daphnes[0].port)
    proxied = _ws_handshake(topology.port)
    # Without the Upgrade/Connection headers daphne would see a plain GET (404 or 400).
    status = proxied.split(b" ")[1]
    assert status in (b"101", b"403"), proxied
    assert status == direct.split(b" ")[1], (direct, proxied)


def _session_headers(user) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = secrets.token_hex(16)  # 32 characters: a valid unmasked CSRF secret
    return {
        "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}",
        "X-CSRFToken": csrf,
    }


def test_a_multi_mebibyte_upload_streams_through_and_downloads_back(topology, world):
    from documents.crypto import encrypt
    from documents.keys import space_key_current

    space = world["space"]
    plaintext = b"report\n" + base64.b64encode(os.urandom(2_400_000)) + b"\n"  # ~3.2 MB
    ciphertext = encrypt(plaintext, [space_key_current(space=space).recipient])
    headers = _session_headers(world["users"]["member_secret"])
    meta = base64.urlsafe_b64encode(
        json.dumps({"title": "Proxy upload", "filename": "proxy.txt"}).encode()
    ).decode()
    reply = request(
        topology.port,
        "POST",
        f"/spaces/{space.pk}/documents/upload/",
        headers={
            **headers,
            "Content-Type": "application/octet-stream",
            "X-Document-Meta": meta.rstrip("="),
        },
        body=ciphertext,
    )
    assert reply.status == 201, (reply.status, reply.body[:500], topology.error_log())
    url = json.loads(reply.body)["url"]
    for _ in range(2):  # round robin: each daphne decrypts from the shared storage
        download = request(topology.port, "GET", f"{url}versions/1/download/", headers=headers)
        assert download.status == 200 and download.body == plaintext

    # Bodies over the limits are refused by nginx before daphne sees them.
    too_big_form = request(
        topology.port, "POST", "/accounts/login/", headers=headers, body=b"x" * (5 << 20)
    )
    assert too_big_form.status == 413
    too_big_upload = request(
        topology.port,
        "POST",
        f"/spaces/{space.pk}/documents/upload/",
        headers={**headers, "Content-Type": "application/octet-stream"},
        body=b"x" * (10 << 20),
    )
    assert too_big_upload.status == 413


def test_the_documented_unit_runs_daphne_as_the_tests_do():
    """docs/deploy.md's systemd unit passes the options the topology tests run with."""
    unit = re.search(r"^ExecStart=\S+/daphne (.*)$", DEPLOY_MD.read_text(), flags=re.MULTILINE)
    assert unit is not None, "docs/deploy.md has no daphne ExecStart line"
    args = unit.group(1).split()
    for option, value in zip(DAPHNE_OPTIONS[::2], DAPHNE_OPTIONS[1::2], strict=True):
        assert option in args and args[args.index(option) + 1] == value, (option, args)
