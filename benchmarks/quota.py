"""Scenario ``quota``: a put with ``max_size`` set, at 1k keys and at 100k keys.

A quota must be checked in O(1) (docs/guides/design.md, invariant 2): issue 2's target is that
memstore's put with ``max_size`` costs at most 1.2x more at 100k keys than at 1k. The
reference sums the sizes of every stored file on every put, so its cost grows linearly;
the dict keeps a running total (the O(1) floor). memstore without ``max_size`` is measured
beside it: the difference between the two growths is what the quota itself costs; the rest
is the key index and the dict getting bigger (the dict floor grows too, from cache misses).
"""

from __future__ import annotations

import os

from benchmarks._model import Check, Config, ScenarioResult
from benchmarks._stores import DictStore, KeySource, MemstoreStore, ReferenceStore, Store
from benchmarks._timing import measure
from benchmarks.put_get import present_case

__all__ = ["run_quota"]

LIMIT = 1 << 60  # never reached: the point is the cost of checking it
UNLIMITED = "memstore, no max_size"


async def run_quota(config: Config) -> ScenarioResult:
    """Time put with a quota at two key counts; report each store's growth."""
    small, large = config.quota_sizes
    result = ScenarioResult("quota", f"put 1 KiB with max_size set, {small:,} vs {large:,} keys")
    data = os.urandom(config.payload)
    per_op: dict[tuple[str, int], float] = {}
    for size in (small, large):
        stores: dict[str, Store] = {
            "memstore": MemstoreStore(LIMIT),
            "reference": ReferenceStore(LIMIT),
            "dict": DictStore(LIMIT),
            UNLIMITED: MemstoreStore(),
        }
        try:
            for store in stores.values():
                await store.fill(KeySource().take(size), data)
            cases = [present_case(s, data, config.put_max_ops, label) for label, s in stores.items()]
            # The reference sums every size per put: milliseconds at 100k keys.
            timings = await measure(cases, config.plan)
        finally:
            for store in stores.values():
                await store.close()
        result.note_noise(f"{size:,} keys", timings)
        for name, timing in timings.items():
            per_op[name, size] = timing.ns_per_op
            result.add(f"put 1 KiB, {size:,} keys", name, timing.ns_per_op / 1000, "us/op")
    for name in ("memstore", "reference", "dict", UNLIMITED):
        growth = per_op[name, large] / per_op[name, small]
        result.add(f"growth {small:,} -> {large:,} keys", name, growth, "x")
    mem_small, mem_large = per_op["memstore", small], per_op["memstore", large]
    result.checks.append(
        Check(
            f"put with max_size: memstore growth {small:,} -> {large:,} keys",
            mem_large / mem_small,
            1.2,
            detail=(
                f"{mem_small / 1000:.2f} us -> {mem_large / 1000:.2f} us; without max_size "
                f"{per_op[UNLIMITED, large] / per_op[UNLIMITED, small]:.2f}x; reference "
                f"{per_op['reference', large] / per_op['reference', small]:.0f}x"
            ),
        )
    )
    return result
