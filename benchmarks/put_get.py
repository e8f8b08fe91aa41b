"""Scenarios ``put`` and ``get``: 1 KiB writes and reads, memstore against every store.

put (issue 2: memstore <= 1.0x the reference; issue 5: the peers beside it; issue 14:
    the sync face <= 1.5x obstore's sync put, the async core <= 2x, at both sizes)
    ``put(key, 1 KiB)`` with a fresh key each time, into a fresh store (at most a few
    thousand keys by the end of a repeat) and into a store already holding
    ``Config.prefill`` keys (100k). The keys are scattered over the key space, so a
    sorted index inserts in the middle, not at the end.

get (issue 2: memstore get_bytes <= 1.5x the reference)
    Read 1 KiB back as ``bytes`` from a store of ``Config.get_keys`` keys, in a shuffled
    order.
"""

from __future__ import annotations

import os
import random

from benchmarks._model import Check, Config, ScenarioResult
from benchmarks._stores import ALL_STORES, PUT_START, KeySource, MemstoreSyncStore, Store
from benchmarks._timing import Case, measure

__all__ = ["run_get", "run_put"]

FRESH = "put 1 KiB, fresh store"


def _present(n: int) -> str:
    return f"put 1 KiB, {n:,} keys present"


def _fresh_case(cls: type[Store], data: bytes, max_ops: int) -> Case:
    holder: list[Store] = []
    keys = KeySource()

    async def setup() -> None:
        if holder:
            await holder.pop().close()
        holder.append(cls())

    async def run(n: int) -> float:
        return await holder[0].put_batch(keys.take(n), data)

    async def teardown() -> None:
        await holder.pop().close()

    return Case(cls.name, run, setup, teardown, max_ops)


def present_case(store: Store, data: bytes, max_ops: int, label: str | None = None) -> Case:
    """Puts of fresh keys into ``store`` as it is (already filled); removed again afterwards."""
    keys = KeySource(start=PUT_START)
    added: list[str] = []

    async def run(n: int) -> float:
        batch = keys.take(n)
        added.extend(batch)
        return await store.put_batch(batch, data)

    async def teardown() -> None:
        await store.delete(added)
        added.clear()

    return Case(label or store.name, run, teardown=teardown, max_ops=max_ops)


def _per_op(result: ScenarioResult, case: str, timings: dict[str, float]) -> None:
    for store, ns in timings.items():
        result.add(case, store, ns / 1000, "us/op")


async def run_put(config: Config) -> ScenarioResult:
    """Measure ``put`` of 1 KiB with fresh keys, in a fresh store and in a full one."""
    result = ScenarioResult("put", "put 1 KiB (fresh keys)")
    data = os.urandom(config.payload)

    put_stores: tuple[type[Store], ...] = (*ALL_STORES, MemstoreSyncStore)
    fresh = await measure([_fresh_case(cls, data, config.put_max_ops) for cls in put_stores], config.plan)
    _per_op(result, FRESH, {k: t.ns_per_op for k, t in fresh.items()})
    result.note_noise(FRESH, fresh)

    stores = [cls() for cls in put_stores]
    try:
        for store in stores:
            await store.fill(KeySource().take(config.prefill), data)
        present = await measure([present_case(s, data, config.put_max_ops) for s in stores], config.plan)
    finally:
        for store in stores:
            await store.close()
    case = _present(config.prefill)
    _per_op(result, case, {k: t.ns_per_op for k, t in present.items()})
    result.note_noise(case, present)

    for label, timings in ((FRESH, fresh), (case, present)):
        ratio = timings["memstore"].ns_per_op / timings["reference"].ns_per_op
        result.checks.append(
            Check(
                f"{label}: memstore / reference",
                ratio,
                1.0,
                detail=(
                    f"{timings['memstore'].ns_per_op / 1000:.2f} us vs "
                    f"{timings['reference'].ns_per_op / 1000:.2f} us"
                ),
            )
        )
    for label, timings in ((FRESH, fresh), (case, present)):
        obstore_ns = timings["obstore"].ns_per_op
        for name, goal in (("memstore sync", 1.5), ("memstore", 2.0)):
            result.checks.append(
                Check(
                    f"{label}: {name} / obstore sync put",
                    timings[name].ns_per_op / obstore_ns,
                    goal,
                    detail=f"{timings[name].ns_per_op / 1000:.2f} us vs {obstore_ns / 1000:.2f} us",
                    issue=14,
                )
            )
    return result


async def run_get(config: Config) -> ScenarioResult:
    """Measure reading 1 KiB back as bytes."""
    result = ScenarioResult("get", f"get 1 KiB as bytes ({config.get_keys:,} keys stored)")
    data = os.urandom(config.payload)
    keys = KeySource().take(config.get_keys)
    order = keys[:]
    random.Random(2).shuffle(order)
    stores = [cls() for cls in ALL_STORES]
    try:
        for store in stores:
            await store.fill(keys, data)

        def case(store: Store) -> Case:
            position = [0]

            async def run(n: int) -> float:
                start = position[0]
                batch = [order[(start + i) % len(order)] for i in range(n)]
                position[0] = (start + n) % len(order)
                return await store.get_batch(batch)

            return Case(store.name, run)

        timings = await measure([case(s) for s in stores], config.plan)
    finally:
        for store in stores:
            await store.close()
    _per_op(result, "get_bytes 1 KiB", {k: t.ns_per_op for k, t in timings.items()})
    result.note_noise("get_bytes 1 KiB", timings)
    mem, ref = timings["memstore"].ns_per_op, timings["reference"].ns_per_op
    result.checks.append(
        Check(
            "get_bytes 1 KiB: memstore / reference",
            mem / ref,
            1.5,
            detail=f"{mem / 1000:.2f} us vs {ref / 1000:.2f} us",
        )
    )
    return result
