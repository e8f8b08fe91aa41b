"""Scenario ``footprint``: memory per stored object.

100k objects of 100 bytes each (distinct ``bytes`` objects under distinct keys, both
made while tracing) are put into a fresh store; ``tracemalloc`` measures what stays
allocated once the caller's own lists are gone. Per object we report that total divided
by the count, minus the 100 bytes of payload: so the figure includes the key string,
the ``bytes`` object header and everything the store keeps per file.

Issue 2's target: memstore below the reference (about 510 B here). A plain dict entry
(about 130 B) is the floor. Issue 14's: at most 325 B per object, so that making
put faster never makes files bigger. fsspec is pure Python and shown for context; obstore and
opendal keep their data in Rust, out of ``tracemalloc``'s sight, so they are left out.
"""

from __future__ import annotations

import gc
import os
import tracemalloc

from benchmarks._model import Check, Config, ScenarioResult
from benchmarks._stores import DictStore, FsspecStore, MemstoreStore, ReferenceStore, Store

__all__ = ["run_footprint"]


async def _per_object(cls: type[Store], n: int, size: int, source: bytes) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        keys = [f"objects/{i:08d}.bin" for i in range(n)]
        payloads = [source[i * size : (i + 1) * size] for i in range(n)]
        store = cls()
        for key, payload in zip(keys, payloads, strict=True):
            await store.put_batch((key,), payload)
        del keys, payloads
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    await store.close()
    return (after - before) / n - size


async def run_footprint(config: Config) -> ScenarioResult:
    """Measure traced bytes per stored object, payload excluded."""
    n, size = config.footprint_objects, config.footprint_payload
    result = ScenarioResult("footprint", f"memory per stored object ({n:,} objects of {size} B)")
    source = os.urandom(n * size)
    case = "traced bytes per object, minus payload"
    per: dict[str, float] = {}
    for cls in (MemstoreStore, ReferenceStore, DictStore, FsspecStore):
        per[cls.name] = await _per_object(cls, n, size, source)
        result.add(case, cls.name, per[cls.name], "B")
    result.checks.append(
        Check(
            "memory per object: memstore / reference",
            per["memstore"] / per["reference"],
            1.0,
            op="<",
            detail=f"{per['memstore']:.0f} B vs {per['reference']:.0f} B (dict entry {per['dict']:.0f} B)",
        )
    )
    result.checks.append(  # issue 14: put got faster without memory per object growing
        Check(
            "memory per object: memstore (bytes, minus payload)",
            per["memstore"],
            325.0,
            unit="B",
            detail=f"dict entry {per['dict']:.0f} B; the reference {per['reference']:.0f} B",
            issue=14,
        )
    )
    return result
