"""Scenarios ``frames`` and ``zarr``: DataFrames through ``memstore://``, zarr chunks via ``MemstoreStore``.

Issue 10's targets, each a ratio against the store that pandas and zarr users already have,
measured in the same run:

* ``frames``: ``DataFrame.to_parquet`` and ``pd.read_parquet`` of a ~50 MB frame through
  ``memstore://`` against fsspec's own ``memory://`` filesystem: <= 1.1x each. Both go
  through fsspec's file objects and pyarrow, so the ratio is what memstore adds (streamed
  writes into one put with a quota, range reads) on top of a dict of buffers.
* ``zarr``: reading one chunk of an uncompressed array (``a[i:i+100, j:j+100]``, chunk by
  chunk) through :class:`memstore.zarr.MemstoreStore` against ``zarr.storage.MemoryStore``:
  <= 1.5x. No compression, so the store's share of the cost is as large as it gets.

Both are skipped, with the reason, when pandas/pyarrow or zarr is not installed.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from typing import Any

from benchmarks._model import Check, Config, ScenarioResult
from benchmarks._timing import Plan, SyncCase, Timing, measure_sync

__all__ = ["run_frames", "run_zarr"]

MEMSTORE = "memstore"
FSSPEC = "fsspec memory://"
ZARR_MEMORY = "zarr MemoryStore"
_perf = time.perf_counter_ns


def _one_at_a_time(plan: Plan) -> Plan:
    """``plan`` for operations of tens to hundreds of milliseconds: one per batch."""
    return Plan(repeats=plan.repeats, batches=plan.batches, batch_ns=1, probe_ops=1, min_ops=1, max_ops=1)


def _record(result: ScenarioResult, case: str, timings: dict[str, Timing], unit: str, scale: float) -> None:
    for label, timing in timings.items():
        store, _, this_case = label.partition(" | ")
        if this_case == case:
            result.add(case, store, timing.ns_per_op / scale, unit)
    result.note_noise(case, {k: v for k, v in timings.items() if k.endswith(case)})


def run_frames(config: Config) -> ScenarioResult:
    """pandas Parquet round trips of a ~50 MB frame: ``memstore://`` against ``memory://``."""
    result = ScenarioResult("frames", "pandas to_parquet / read_parquet through fsspec URLs", anchor=FSSPEC)
    try:
        import fsspec
        import numpy as np
        import pandas as pd

        if importlib.util.find_spec("pyarrow") is None:
            raise ImportError("No module named 'pyarrow'")
    except ImportError as error:
        result.skipped = f"needs pandas, pyarrow and fsspec ({error})"
        return result
    from memstore import SyncMemoryStorage

    rows = config.frame_bytes // 24  # three float64 columns
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.random(rows), "b": rng.random(rows), "c": rng.random(rows)})
    lab = SyncMemoryStorage.named("bench-frames")
    memory_fs = fsspec.filesystem("memory")
    urls = {MEMSTORE: "memstore://bench-frames/df.parquet", FSSPEC: "memory://bench-frames/df.parquet"}
    write_case = f"to_parquet, {frame.memory_usage(index=False).sum() / 1e6:.0f} MB frame"
    read_case = "read_parquet of it"

    def writer(url: str) -> Callable[[int], float]:
        def run(n: int) -> float:
            t0 = _perf()
            for _ in range(n):
                frame.to_parquet(url)
            return _perf() - t0

        return run

    def reader(url: str) -> Callable[[int], float]:
        def run(n: int) -> float:
            t0 = _perf()
            for _ in range(n):
                pd.read_parquet(url)
            return _perf() - t0

        return run

    try:
        for url in urls.values():  # the files the reads read, and a check that both work
            frame.to_parquet(url)
        size = lab.info("df.parquet").size
        cases = [SyncCase(f"{store} | {write_case}", writer(url)) for store, url in urls.items()]
        cases += [SyncCase(f"{store} | {read_case}", reader(url)) for store, url in urls.items()]
        timings = measure_sync(cases, _one_at_a_time(config.slow_plan))
    finally:
        lab.close()
        memory_fs.rm("memory://bench-frames", recursive=True)
    for case in (write_case, read_case):
        _record(result, case, timings, "ms/op", 1e6)
    for case, what in ((write_case, "to_parquet"), (read_case, "read_parquet")):
        ours = timings[f"{MEMSTORE} | {case}"].ns_per_op
        theirs = timings[f"{FSSPEC} | {case}"].ns_per_op
        result.checks.append(
            Check(
                f"pd.{what} memstore:// / fsspec memory://",
                ours / theirs,
                1.1,
                detail=f"{ours / 1e6:.1f} ms vs {theirs / 1e6:.1f} ms, a {size / 1e6:.0f} MB Parquet file",
                issue=10,
            )
        )
    return result


def run_zarr(config: Config) -> ScenarioResult:
    """Chunk reads of an uncompressed zarr array: ``MemstoreStore`` against zarr's ``MemoryStore``."""
    result = ScenarioResult("zarr", "zarr chunk reads through the array API", anchor=ZARR_MEMORY)
    try:
        import numpy as np
        import zarr
        from zarr.storage import MemoryStore

        from memstore.zarr import MemstoreStore
    except ImportError as error:
        result.skipped = f"needs zarr 3 (Python 3.11+) ({error})"
        return result
    from memstore import MemoryStorage, SyncMemoryStorage

    side, chunk = config.zarr_side, 100
    data = np.arange(side * side, dtype="f8").reshape(side, side)
    storage = MemoryStorage.named("bench-zarr")
    stores: dict[str, Any] = {MEMSTORE: MemstoreStore(storage), ZARR_MEMORY: MemoryStore()}
    arrays: dict[str, Any] = {}
    for name, store in stores.items():
        array = zarr.create_array(
            store, name="a", shape=data.shape, chunks=(chunk, chunk), dtype="f8", compressors=None
        )
        array[:] = data
        arrays[name] = zarr.open_array(store, path="a", mode="r")
    corners = [(i, j) for i in range(0, side, chunk) for j in range(0, side, chunk)]
    case = f"read one {chunk}x{chunk} f8 chunk (80 kB, uncompressed)"

    def reader(array: Any) -> Callable[[int], float]:
        position = 0

        def run(n: int) -> float:
            nonlocal position
            picks = [corners[(position + k) % len(corners)] for k in range(n)]
            position += n
            t0 = _perf()
            for i, j in picks:
                array[i : i + chunk, j : j + chunk]
            return _perf() - t0

        return run

    try:
        cases = [SyncCase(f"{name} | {case}", reader(array), max_ops=500) for name, array in arrays.items()]
        timings = measure_sync(cases, config.plan)
    finally:
        SyncMemoryStorage.named("bench-zarr").close()  # the storage, and its name
    _record(result, case, timings, "us/op", 1e3)
    ours = timings[f"{MEMSTORE} | {case}"].ns_per_op
    theirs = timings[f"{ZARR_MEMORY} | {case}"].ns_per_op
    result.checks.append(
        Check(
            "zarr chunk read MemstoreStore / MemoryStore",
            ours / theirs,
            1.5,
            detail=f"{ours / 1e3:.0f} us vs {theirs / 1e3:.0f} us per chunk",
            issue=10,
        )
    )
    return result
