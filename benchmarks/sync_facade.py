"""Scenario ``sync``: the sync facade against the async core it wraps (issue 3).

Measured in the same run, with fresh keys and 1 KiB payloads:

* ``async core``: ``await storage.put(...)`` / ``get_bytes`` in a loop inside one
  ``anyio.run`` (what the facade wraps);
* ``sync facade``: ``SyncMemoryStorage.put`` / ``get_bytes`` from plain code (no loop);
* ``sync facade in a loop``: the same calls made from inside a running event loop, as a
  Jupyter cell makes them (context, no target);
* ``naive portal``: ``portal.call(storage.put, ...)`` through
  ``anyio.from_thread.start_blocking_portal()``, the anchor a facade must beat;
* ``obstore``: ``obstore.put`` / ``obstore.get(store, key).bytes()`` on a Rust
  ``MemoryStore``.

Targets: sync put <= 1.5x async put; sync get_bytes <= 4x async get_bytes and below
obstore's get. Skipped, with the reason, while ``memstore.SyncMemoryStorage`` does not
import. The async and sync measurements alternate repeat by repeat.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import anyio
from anyio.from_thread import start_blocking_portal

from benchmarks._model import Check, Config, ScenarioResult
from benchmarks._stores import KeySource
from benchmarks._timing import Case, Plan, SyncCase, Timing, measure, measure_sync
from memstore import MemoryStorage

__all__ = ["run_sync"]

_perf = time.perf_counter_ns

ASYNC = "async core"
SYNC = "sync facade"
IN_LOOP = "sync facade in a loop"
PORTAL = "naive portal"
OBSTORE = "obstore"
PUT = "put 1 KiB, fresh store"
GET = "get_bytes 1 KiB"


def _fresh(make: Callable[[], Any], close: Callable[[Any], None]) -> tuple[list[Any], Callable[[], None]]:
    """A one-slot holder and a setup that replaces its store with a fresh one."""
    holder: list[Any] = []

    def setup() -> None:
        if holder:
            close(holder.pop())
        holder.append(make())

    return holder, setup


def _loop(call: Callable[..., Any], store_arg: Any | None = None) -> Callable[[Sequence[str], bytes], int]:
    def put_all(keys: Sequence[str], data: bytes) -> int:
        t0 = _perf()
        if store_arg is None:
            for key in keys:
                call(key, data)
        else:
            for key in keys:
                call(store_arg, key, data)
        return _perf() - t0

    return put_all


def _combine(runs: list[dict[str, Timing]]) -> dict[str, Timing]:
    out: dict[str, Timing] = {}
    for label in runs[0]:
        medians = tuple(m for run in runs for m in run[label].medians)
        out[label] = Timing(min(medians), runs[-1][label].ops_per_batch, medians)
    return out


def run_sync(config: Config) -> ScenarioResult:
    """Measure the facade (synchronously: this scenario must not run inside a loop)."""
    result = ScenarioResult("sync", "sync facade vs async core (1 KiB)", anchor=PORTAL)
    try:
        from memstore import SyncMemoryStorage
    except ImportError as exc:
        result.skipped = f"memstore.SyncMemoryStorage is not importable yet ({exc})"
        return result
    import obstore
    from obstore.store import MemoryStore

    data = os.urandom(config.payload)
    cap = config.put_max_ops
    one = Plan(
        repeats=1,
        batches=config.plan.batches,
        batch_ns=config.plan.batch_ns,
        probe_ops=config.plan.probe_ops,
        max_ops=config.plan.max_ops,
    )
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal())

        # ---- put into a fresh store, fresh keys
        core_holder, core_setup = _fresh(MemoryStorage, lambda s: None)
        sync_holder, sync_setup = _fresh(SyncMemoryStorage, lambda s: s.close())
        loop_holder, loop_setup = _fresh(SyncMemoryStorage, lambda s: s.close())
        portal_holder, portal_setup = _fresh(MemoryStorage, lambda s: None)
        ob_holder, ob_setup = _fresh(MemoryStore, lambda s: None)
        keys = {name: KeySource() for name in (ASYNC, SYNC, IN_LOOP, PORTAL, OBSTORE)}

        async def async_put(n: int) -> float:
            put = core_holder[0].put
            batch = keys[ASYNC].take(n)
            t0 = _perf()
            for key in batch:
                await put(key, data)
            return _perf() - t0

        async def in_loop_put(n: int) -> float:
            return _loop(loop_holder[0].put)(keys[IN_LOOP].take(n), data)

        async def async_setup(setup: Callable[[], None]) -> None:
            setup()

        async_cases = [
            Case(ASYNC, async_put, setup=lambda: async_setup(core_setup), max_ops=cap),
            Case(IN_LOOP, in_loop_put, setup=lambda: async_setup(loop_setup), max_ops=cap),
        ]
        sync_cases = [
            SyncCase(
                SYNC,
                lambda n: _loop(sync_holder[0].put)(keys[SYNC].take(n), data),
                sync_setup,
                max_ops=cap,
            ),
            SyncCase(
                PORTAL,
                lambda n: _loop(portal.call, portal_holder[0].put)(keys[PORTAL].take(n), data),
                portal_setup,
                max_ops=cap,
            ),
            SyncCase(
                OBSTORE,
                lambda n: _loop(obstore.put, ob_holder[0])(keys[OBSTORE].take(n), data),
                ob_setup,
                max_ops=cap,
            ),
        ]
        put_runs: list[dict[str, Timing]] = []
        for _ in range(config.plan.repeats):
            put_runs.append(anyio.run(measure, async_cases, one) | measure_sync(sync_cases, one))
        puts = _combine(put_runs)
        for holder in (sync_holder, loop_holder):
            holder.pop().close()

        # ---- get_bytes from a store of get_keys keys, shuffled order
        stored = KeySource().take(config.get_keys)
        order = stored[:]
        random.Random(3).shuffle(order)
        core = MemoryStorage()
        facade = stack.enter_context(SyncMemoryStorage.wrap(core))
        ob_store = MemoryStore()
        for key in stored:
            facade.put(key, data)
            obstore.put(ob_store, key, data)
        cursor = dict.fromkeys((ASYNC, SYNC, IN_LOOP, PORTAL, OBSTORE), 0)

        def take(name: str, n: int) -> list[str]:
            start = cursor[name]
            cursor[name] = (start + n) % len(order)
            return [order[(start + i) % len(order)] for i in range(n)]

        async def async_get(n: int) -> float:
            get_bytes = core.get_bytes
            batch = take(ASYNC, n)
            t0 = _perf()
            for key in batch:
                await get_bytes(key)
            return _perf() - t0

        def sync_get(n: int) -> float:
            get_bytes = facade.get_bytes
            batch = take(SYNC, n)
            t0 = _perf()
            for key in batch:
                get_bytes(key)
            return _perf() - t0

        async def in_loop_get(n: int) -> float:
            get_bytes = facade.get_bytes
            batch = take(IN_LOOP, n)
            t0 = _perf()
            for key in batch:
                get_bytes(key)
            return _perf() - t0

        def portal_get(n: int) -> float:
            call, get_bytes = portal.call, core.get_bytes
            batch = take(PORTAL, n)
            t0 = _perf()
            for key in batch:
                call(get_bytes, key)
            return _perf() - t0

        def obstore_get(n: int) -> float:
            get = obstore.get
            batch = take(OBSTORE, n)
            t0 = _perf()
            for key in batch:
                get(ob_store, key).bytes()
            return _perf() - t0

        get_async = [Case(ASYNC, async_get), Case(IN_LOOP, in_loop_get)]
        get_sync = [SyncCase(SYNC, sync_get), SyncCase(PORTAL, portal_get), SyncCase(OBSTORE, obstore_get)]
        get_runs: list[dict[str, Timing]] = []
        for _ in range(config.plan.repeats):
            get_runs.append(anyio.run(measure, get_async, one) | measure_sync(get_sync, one))
        gets = _combine(get_runs)

    for case, timings in ((PUT, puts), (GET, gets)):
        for name in (ASYNC, SYNC, IN_LOOP, PORTAL, OBSTORE):
            result.add(case, name, timings[name].ns_per_op / 1000, "us/op")
        result.note_noise(case, timings)

    def us(t: Timing) -> str:
        return f"{t.ns_per_op / 1000:.2f} us"

    result.checks += [
        Check(
            "sync put / async put",
            puts[SYNC].ns_per_op / puts[ASYNC].ns_per_op,
            1.5,
            detail=f"{us(puts[SYNC])} vs {us(puts[ASYNC])}; naive portal {us(puts[PORTAL])}",
            issue=3,
        ),
        Check(
            "sync get_bytes / async get_bytes",
            gets[SYNC].ns_per_op / gets[ASYNC].ns_per_op,
            4.0,
            detail=f"{us(gets[SYNC])} vs {us(gets[ASYNC])}; naive portal {us(gets[PORTAL])}",
            issue=3,
        ),
        Check(
            "sync get_bytes / obstore get().bytes()",
            gets[SYNC].ns_per_op / gets[OBSTORE].ns_per_op,
            1.0,
            op="<",
            detail=f"{us(gets[SYNC])} vs {us(gets[OBSTORE])}",
            issue=3,
        ),
    ]
    return result
