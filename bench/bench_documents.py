"""Documents: upload verification through daphne vs a plain view, download, rotation.

Each line is measured in one run against its baseline:
  * upload of N MiB of age ciphertext through daphne into the real upload view (which
    decrypts every chunk to verify it) vs the same bytes into a plain Django view that
    only reads them; peak RSS of the daphne process at 1 MiB and at N MiB;
  * download of the same document (decrypting, streamed) and its peak RSS;
  * rotating a space of D documents of 1 KiB vs D documents of L KiB: the time must not
    depend on the sizes, because only headers are re-wrapped.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _django

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def free_port() -> int:
    from tests.integration.topology import free_port as topology_free_port

    return topology_free_port()  # never the same port twice in a process


def start_daphne(app: str, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"daphne ({app}) did not start")


def peak_rss_mib(proc: subprocess.Popen) -> float:
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def post_file(port: int, path: str, body: Path, headers: dict[str, str]) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    size = body.stat().st_size
    start = time.perf_counter()
    with body.open("rb") as f:
        conn.request("POST", path, body=f, headers={**headers, "Content-Length": str(size)})
        response = conn.getresponse()
        response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    return response.status, elapsed


def post_in_parts(
    port: int, space_id: int, body: Path, headers: dict[str, str]
) -> tuple[int, float]:
    """The browser's protocol: start, parts of `part_size`, finish; one keep-alive connection."""
    import json

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    size = body.stat().st_size
    start = time.perf_counter()
    conn.request(
        "POST",
        f"/spaces/{space_id}/documents/uploads/",
        body=json.dumps({"title": "bench", "filename": "bench.txt", "size": size}),
        headers={**headers, "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    session = json.loads(response.read())
    with body.open("rb") as f:
        index = 0
        while part := f.read(session["part_size"]):
            conn.request(
                "POST",
                f"{session['parts_url']}{index}/",
                body=part,
                headers={**headers, "Content-Type": "application/octet-stream"},
            )
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
            index += 1
    parts_done = time.perf_counter()
    conn.request("POST", session["finish_url"], headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    parts_s = parts_done - start
    print(f"      (parts, each verified: {parts_s:.2f} s; finish: {elapsed - parts_s:.2f} s)")
    return response.status, elapsed


def get_stream(port: int, path: str, headers: dict[str, str]) -> tuple[int, int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    total = 0
    while chunk := response.read(MIB):
        total += len(chunk)
    elapsed = time.perf_counter() - start
    conn.close()
    return response.status, total, elapsed


def make_ciphertext(path: Path, size: int, recipient: str) -> None:
    from documents.crypto import Encryptor

    encryptor = Encryptor([recipient])
    block = (b"seizure statistics, port of transit, kilograms\n" * 22000)[:MIB]
    with path.open("wb") as out:
        out.write(encryptor.header())
        remaining = size
        while remaining > 0:
            piece = block[: min(MIB, remaining)]
            out.write(encryptor.update(piece))
            remaining -= len(piece)
        out.write(encryptor.finalize())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--large-kib", type=int, default=512)
    args = parser.parse_args()
    os.environ["DJANGO_DEBUG"] = "1"
    os.environ["WORKSPACE_MAX_UPLOAD_BYTES"] = str((args.size_mib + 1) * MIB)
    _django.setup()

    import base64
    import io
    import json

    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from documents.crypto import encrypt
    from documents.keys import space_key_current
    from documents.models import DocumentVersion
    from documents.services import DocumentMeta, document_upload, space_key_rotate
    from networks.models import Network, Role
    from networks.services import membership_set, space_create
    from workspace.accounts.models import User
    from workspace.accounts.totp import totp_activate

    user = User.objects.create_user("bench@agency.example", "bench-password-123")
    totp_activate(user=user)
    network = Network.objects.create(name="Bench", slug="bench")

    def new_space(slug: str):  # type: ignore[no-untyped-def]
        space = space_create(network=network, name=slug, slug=slug, acting_user=user)
        membership_set(space=space, user=user, role=Role.MODERATOR, clearance=3, acting_user=user)
        return space

    # --- rotation ---------------------------------------------------------------
    timings = {}
    for label, size in (("1 KiB", 1024), (f"{args.large_kib} KiB", args.large_kib * 1024)):
        space = new_space(f"rot-{size}")
        recipient = space_key_current(space=space).recipient
        body = encrypt(b"r" * size, [recipient])
        for i in range(args.docs):
            document_upload(
                space=space,
                acting_user=user,
                stream=io.BytesIO(body),
                content_length=len(body),
                filename=f"d{i}.txt",
                meta=DocumentMeta(title=f"d{i}"),
            )
        start = time.perf_counter()
        space_key_rotate(space=space, acting_user=user)
        timings[label] = time.perf_counter() - start
    (small_label, small), (large_label, large) = timings.items()
    print(f"rotation of {args.docs} documents [{connection.vendor}]")
    print(f"  {small_label:>8} each: {small:6.2f} s ({small / args.docs * 1000:.2f} ms/doc)")
    print(f"  {large_label:>8} each: {large:6.2f} s ({large / args.docs * 1000:.2f} ms/doc)")
    print(f"  ratio large/small = {large / small:.2f}x  (goal ~1x: size-independent)")

    # --- upload and download through daphne ----------------------------------------
    space = new_space("upload")
    recipient = space_key_current(space=space).recipient
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = "b" * 32
    cookies = f"{settings.SESSION_COOKIE_NAME}={session}; csrftoken={csrf}"
    meta = (
        base64.urlsafe_b64encode(json.dumps({"title": "bench", "filename": "bench.txt"}).encode())
        .decode()
        .rstrip("=")
    )
    headers = {
        "Cookie": cookies,
        "X-CSRFToken": csrf,
        "X-Document-Meta": meta,
        "Content-Type": "application/octet-stream",
    }
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}"}
    connection.close()
    workdir = Path(tempfile.mkdtemp(prefix="workspace-bench-upload-"))
    print(f"\nupload through daphne [{connection.vendor}], ciphertext of plaintext size:")
    results = {}
    for size_mib in (1, args.size_mib):
        blob = workdir / f"c{size_mib}.age"
        make_ciphertext(blob, size_mib * MIB, recipient)
        for label, app, url in (
            ("plain view", "bench.plain_asgi:application", "/bench/plain/"),
            (
                "verifying, in parts",
                "workspace.asgi:application",
                f"/spaces/{space.pk}/documents/upload/",
            ),
        ):
            settings_module = "bench.plain_settings" if "plain" in app else "workspace.settings"
            proc, port = start_daphne(
                app, {**env, "TMPDIR": str(workdir), "DJANGO_SETTINGS_MODULE": settings_module}
            )
            try:
                if "plain" in app:
                    status, seconds = post_file(port, url, blob, headers)
                else:
                    status, seconds = post_in_parts(port, space.pk, blob, headers)
                rss = peak_rss_mib(proc)
            finally:
                stop(proc)
            assert status == 201, (label, status)
            results[(label, size_mib)] = (seconds, rss)
            print(
                f"  {size_mib:5d} MiB {label:>17}: {size_mib / seconds:8.1f} MiB/s, "
                f"daphne peak RSS {rss:6.1f} MiB"
            )
        blob.unlink()
    plain_s = results[("plain view", args.size_mib)][0]
    ours_s = results[("verifying, in parts", args.size_mib)][0]
    rss_small = results[("verifying, in parts", 1)][1]
    rss_big = results[("verifying, in parts", args.size_mib)][1]
    print(f"  speed ratio verifying/plain = {plain_s / ours_s:.2f}x  (goal >= 0.8x)")
    print(f"  peak RSS {args.size_mib} MiB - 1 MiB = {rss_big - rss_small:.1f} MiB (goal < 50)")

    version = DocumentVersion.objects.filter(document__space=space).order_by("-size").first()
    print("\ndownload through daphne:")
    for size_label, v in (("largest", version),):
        proc, port = start_daphne("workspace.asgi:application", {**env, "TMPDIR": str(workdir)})
        try:
            status, total, seconds = get_stream(
                port,
                f"/documents/{v.document_id}/versions/{v.number}/download/",
                {"Cookie": cookies},
            )
            rss = peak_rss_mib(proc)
        finally:
            stop(proc)
        assert status == 200 and total == v.size, (status, total, v.size)
        print(
            f"  {size_label} ({total / MIB:.0f} MiB): {total / MIB / seconds:8.1f} MiB/s, "
            f"daphne peak RSS {rss:6.1f} MiB"
        )


if __name__ == "__main__":
    main()
