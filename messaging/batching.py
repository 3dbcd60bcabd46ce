"""Run many sockets' small database reads in one thread hop.

A doorbell reaches every socket of a space at once; each then needs its own visibility
query (the access rule is per user). Done one `database_sync_to_async` call per socket,
the thread hop and (with CONN_MAX_AGE=0) a new connection dominate. The batcher gathers
the calls that arrive within a short window (`batch_window_seconds`, messaging/
app_settings.py: 2 ms on Redis, one turn of the event loop in process) and runs them
together, on one connection,
each still exactly the per-user function it was: nothing about access is shared or cached.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

from messaging.app_settings import messaging_settings
from messaging.dbthreads import in_db_thread

_Call = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


class Grouped:
    """Marks a call that may share work with others of the same `fn` and `key`:
    `fn(key, [item, ...])` returns one result per item, in order."""

    def __init__(self, key: Any, item: Any) -> None:
        self.key, self.item = key, item


def _run_all(calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[tuple[bool, Any]]:
    """Every call of the batch on this thread's connection (managed by the caller's
    wrapper, messaging/dbthreads.py); one failure is handed back to its caller only."""
    results: list[tuple[bool, Any] | None] = [None] * len(calls)
    groups: dict[tuple[Any, Any], list[int]] = {}
    for i, (fn, args) in enumerate(calls):
        if args and isinstance(args[0], Grouped):
            groups.setdefault((fn, args[0].key), []).append(i)
            continue
        try:
            results[i] = (True, fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed back to that caller only
            results[i] = (False, exc)
    for (fn, key), indexes in groups.items():
        items = [calls[i][1][0].item for i in indexes]
        try:
            values = fn(key, items)
            for i, value in zip(indexes, values, strict=True):
                results[i] = (True, value)
        except Exception as exc:  # noqa: BLE001 - handed back to that group only
            for i in indexes:
                results[i] = (False, exc)
    return [r if r is not None else (False, RuntimeError("not run")) for r in results]


class Batcher:
    def __init__(self) -> None:
        self.pending: list[_Call] = []
        self.flusher: asyncio.Task[None] | None = None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.pending.append((fn, args, future))
        if self.flusher is None:
            self.flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(messaging_settings().batch_window_seconds)
        batch, self.pending, self.flusher = self.pending, [], None
        try:
            results = await in_db_thread(_run_all)([(f, a) for f, a, _ in batch])
        except BaseException as exc:
            for _fn, _args, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
            raise
        for (_fn, _args, future), (ok, value) in zip(batch, results, strict=True):
            if future.done():
                continue  # its socket went away meanwhile
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Batcher] = (
    weakref.WeakKeyDictionary()
)


async def batched_group(fn: Callable[[Any, list[Any]], list[Any]], key: Any, item: Any) -> Any:
    """Like `batched`, but calls with the same `fn` and `key` in one window run as one
    `fn(key, items)`: work that does not depend on the item is done once."""
    return await batched(fn, Grouped(key, item))


async def batched(fn: Callable[..., Any], *args: Any) -> Any:
    """`await batched(fn, *args)`: like database_sync_to_async(fn)(*args), shared hop."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = Batcher()
    return await batcher.run(fn, *args)
