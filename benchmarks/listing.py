"""Scenario ``list``: how listing a prefix (and a put) grows with the number of keys.

Keys come in groups of 1,000 under scattered prefixes (``p1a2b3c4d/0000`` ...); every
store is filled to each size of ``Config.list_sizes`` in turn (1k, 10k, 100k, 1M), in a
shuffled order, through its public API. At each size we time

* listing one prefix that matches exactly 1,000 keys, with each file's metadata
  (memstore and the reference yield ``StoredFile`` objects, fsspec ``ls(detail=True)``,
  obstore ``list().collect()``, opendal ``list()``; the dict scans its keys), and
* a put of 1 KiB at a fresh key (removed again afterwards), for the second panel of the plot.

Issue 2's target: memstore's listing grows at most 1.5x from 100k to 1M keys (the
reference scans every key). The curves feed ``scaling.png`` (issue 5).
"""

from __future__ import annotations

import gc
import os
import random
import time

from benchmarks._model import Check, Config, ScenarioResult
from benchmarks._stores import ALL_STORES, CORE_STORES, PUT_START, KeySource, Store, group_prefix
from benchmarks._timing import Case, Plan, gc_paused, measure

__all__ = ["LIST_METRIC", "PUT_METRIC", "run_list"]

LIST_METRIC = "list a prefix of 1,000 keys (ms)"
PUT_METRIC = "put 1 KiB at a fresh key (us)"
GROUP = 1_000


def _list_case(n: int) -> str:
    return f"list 1,000 of {n:,} keys"


def _group_keys(first: int, last: int) -> list[str]:
    return [f"{group_prefix(g)}{j:04d}" for g in range(first, last) for j in range(GROUP)]


async def _grow(store: Store, have: int, want: int, payload: bytes) -> None:
    keys = _group_keys(have // GROUP, want // GROUP)
    random.Random(want).shuffle(keys)
    with gc_paused():
        await store.fill(keys, payload)
    gc.freeze()  # millions of long-lived objects: keep the collector from rescanning them


async def _measure_at(store: Store, size: int, config: Config, put_plan: Plan) -> tuple[float, float]:
    prefix = group_prefix(size // GROUP // 2)
    expected = min(size, GROUP)

    async def list_run(n: int) -> float:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            count = await store.list_prefix(prefix)
        elapsed = time.perf_counter_ns() - t0
        if count != expected:
            raise AssertionError(f"{store.name} listed {count} keys under {prefix!r}, not {expected}")
        return elapsed

    keys = KeySource("p", PUT_START)  # "p<hex>-<i>": among the groups, in none of them
    added: list[str] = []
    data = os.urandom(config.payload)

    async def put_run(n: int) -> float:
        batch = keys.take(n)
        added.extend(batch)
        return await store.put_batch(batch, data)

    async def put_teardown() -> None:
        await store.delete(added)
        added.clear()

    listed = await measure([Case(store.name, list_run)], config.slow_plan)
    put = await measure([Case(store.name, put_run, teardown=put_teardown)], put_plan)
    return listed[store.name].ns_per_op / 1e6, put[store.name].ns_per_op / 1e3


async def run_list(config: Config) -> ScenarioResult:
    """Fill every store to each size in turn and time a prefix listing and a put there."""
    result = ScenarioResult("list", "list a prefix of 1,000 keys as the store grows")
    lists: dict[str, list[tuple[int, float]]] = {}
    puts: dict[str, list[tuple[int, float]]] = {}
    result.series = {LIST_METRIC: lists, PUT_METRIC: puts}
    payload = b"x" * 64  # one shared small object: the listing does not read contents
    put_plan = Plan(
        repeats=3, batches=3, batch_ns=config.plan.batch_ns, probe_ops=20, max_ops=config.put_max_ops
    )
    for cls in ALL_STORES:
        limit = max(config.list_sizes) if cls in CORE_STORES else config.peer_max_keys
        store = cls()
        have = 0
        t0 = time.perf_counter()
        try:
            for size in config.list_sizes:
                if size > limit:
                    break
                await _grow(store, have, size, payload)
                have = size
                list_ms, put_us = await _measure_at(store, size, config, put_plan)
                lists.setdefault(cls.name, []).append((size, list_ms))
                puts.setdefault(cls.name, []).append((size, put_us))
                result.add(_list_case(size), cls.name, list_ms, "ms")
        finally:
            await store.close()
            del store
            gc.unfreeze()
            gc.collect()
        if limit < max(config.list_sizes):
            result.notes.append(
                f"{cls.name} was filled to {limit:,} keys only "
                f"(filling it took {time.perf_counter() - t0:.1f} s)."
            )

    small, large = config.list_growth
    growth_case = f"growth {small:,} -> {large:,} keys"
    for name, points in lists.items():
        by_size = dict(points)
        if small in by_size and large in by_size:
            result.add(growth_case, name, by_size[large] / by_size[small], "x")
    mem = dict(lists["memstore"])
    ref = dict(lists["reference"])
    result.checks.append(
        Check(
            f"list prefix of 1,000: memstore growth {small:,} -> {large:,} keys",
            mem[large] / mem[small],
            1.5,
            detail=(
                f"{mem[small]:.3f} ms -> {mem[large]:.3f} ms "
                f"(reference {ref[small]:.2f} ms -> {ref[large]:.2f} ms, "
                f"{ref[large] / ref[small]:.1f}x)"
            ),
        )
    )
    return result
