"""Operational endpoints: `/healthz` (public, details only locally) and `/metrics` (local).

`/healthz` checks the database, the channel layer, the cache and the key provider.
Anyone gets `{"status": "ok"}` (200) or `{"status": "error"}` (503); which check failed
and the timings are shown only to a local caller (loopback, not forwarded by a proxy)
or to a network admin. Answers to other callers are reused for a second, so hammering
the public route cannot turn into a flood of database, Redis or KMS calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from workspace import metrics
from workspace.keys import get_key_provider
from workspace.logging import scrub

logger = logging.getLogger(__name__)

CHANNEL_LAYER_TIMEOUT = 2.0
PUBLIC_ANSWER_SECONDS = 1.0
# A request carrying any of these came through a proxy: the peer address is the proxy's.
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")
KEY_PROVIDER_CONTEXT = b"workspace/healthz/v1"


def is_local_request(request: HttpRequest) -> bool:
    """From a loopback address and not relayed by a reverse proxy."""
    if any(request.META.get(header) is not None for header in FORWARDING_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(str(request.META.get("REMOTE_ADDR", "")))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def _is_network_admin(user: Any) -> bool:
    from networks.access import user_has_completed_mfa
    from networks.models import Network

    return user_has_completed_mfa(user) and (
        Network.admins.through.objects.filter(user_id=user.pk).exists()
    )


# --- The checks: each raises on failure --------------------------------------------


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        row = cursor.fetchone()
    if row is None or row[0] != 1:
        raise RuntimeError("unexpected answer to SELECT 1")


async def _channel_round_trip() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel()
    try:
        nonce = secrets.token_hex(8)
        await layer.send(channel, {"type": "healthz.ping", "nonce": nonce})
        message = await layer.receive(channel)
        if message.get("nonce") != nonce:
            raise RuntimeError("the channel layer returned another message")
    finally:
        await _forget_channel(layer, channel)


async def _forget_channel(layer: Any, channel: str) -> None:
    """Undo `new_channel` on the pub/sub layer, which subscribes each new channel in Redis
    until a receive on it is cancelled (its clean-up for a consumer that went away).
    Without this, every check run in the server's event loop left one subscription
    behind. The list layer keeps nothing per channel."""
    if not isinstance(layer, RedisPubSubChannelLayer):
        return
    receive = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)  # let it start waiting, so that the cancel runs its clean-up
    receive.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await receive


async def _channel_round_trip_with_timeout() -> None:
    await asyncio.wait_for(_channel_round_trip(), CHANNEL_LAYER_TIMEOUT)


def check_channel_layer() -> None:
    async_to_sync(_channel_round_trip_with_timeout)()


def check_cache() -> None:
    key = f"healthz:{secrets.token_hex(8)}"
    value = secrets.token_hex(8)
    cache.set(key, value, timeout=30)
    try:
        if cache.get(key) != value:
            raise RuntimeError("the cache did not return the value just set")
    finally:
        cache.delete(key)


def check_key_provider() -> None:
    provider = get_key_provider()
    probe = secrets.token_bytes(32)
    wrapped = provider.wrap(probe, context=KEY_PROVIDER_CONTEXT)
    if provider.unwrap(wrapped, context=KEY_PROVIDER_CONTEXT) != probe:
        raise RuntimeError("unwrap did not return what was wrapped")


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "cache": check_cache,
    "key_provider": check_key_provider,
}


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    ms: float
    error: str = ""


def run_checks() -> dict[str, CheckResult]:
    results: dict[str, CheckResult] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none escapes
            error = scrub(f"{type(exc).__name__}: {exc}")[:300]
            logger.warning("health check %s failed: %s", name, error)
            metrics.inc("healthz_failures_total", check=name)
            results[name] = CheckResult(False, _ms(started), error)
        else:
            results[name] = CheckResult(True, _ms(started))
    return results


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


_public_lock = threading.Lock()
_public_answer: tuple[float, bool] | None = None


def _public_status() -> bool:
    """All checks ok, reusing an answer younger than PUBLIC_ANSWER_SECONDS."""
    global _public_answer
    with _public_lock:
        if _public_answer and time.monotonic() - _public_answer[0] < PUBLIC_ANSWER_SECONDS:
            return _public_answer[1]
        healthy = all(result.ok for result in run_checks().values())
        _public_answer = (time.monotonic(), healthy)
        return healthy


def forget_public_answer() -> None:
    """Tests only: the next public call runs the checks again."""
    global _public_answer
    with _public_lock:
        _public_answer = None


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    if is_local_request(request) or _is_network_admin(request.user):
        results = run_checks()
        healthy = all(result.ok for result in results.values())
        body: dict[str, Any] = {
            "status": "ok" if healthy else "error",
            "checks": {
                name: {"ok": r.ok, "ms": r.ms, **({"error": r.error} if r.error else {})}
                for name, r in results.items()
            },
        }
    else:
        healthy = _public_status()
        body = {"status": "ok" if healthy else "error"}
    return JsonResponse(body, status=200 if healthy else 503)


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape of this process; refused unless local (a proxied request is not)."""
    if not is_local_request(request):
        raise PermissionDenied
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")
