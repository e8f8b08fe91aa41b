"""Scenario ``stream``: one large streamed put (256 MiB in 64 KiB chunks).

The input is an async generator yielding fresh ``bytes`` chunks (each copied out of one
random buffer at yield time, so each is a distinct object the store may keep). Issue 2's
targets for memstore:

* peak memory traced by ``tracemalloc`` during the put below 1.1x the payload (the
  store must not hold two copies: the received chunks *and* a joined buffer);
* the event loop never stalls 20 ms or more: a heartbeat task sleeping 1 ms in a loop
  records the longest gap between its beats while the put runs.

Each store is run once traced (memory; tracing slows every allocation, so its stall is
context only) and three times untraced: the stall target is checked on the median of the
three runs' longest gaps (one run can catch this shared VM descheduling the process for
10 ms or more), and the worst of the three is reported beside it.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import anyio

from benchmarks._model import Check, Config, ScenarioResult
from benchmarks._stores import MemstoreStore, ReferenceStore
from benchmarks._timing import Heartbeat

UNTRACED_RUNS = 3

__all__ = ["run_stream"]

Put = Callable[[str, AsyncIterator[bytes]], Awaitable[object]]


@dataclass(frozen=True)
class StreamRun:
    """What one streamed put cost."""

    peak_bytes: int | None
    max_gap_ms: float
    seconds: float


async def chunks(buffer: memoryview, size: int) -> AsyncIterator[bytes]:
    """Yield ``buffer`` in fresh ``bytes`` chunks of ``size`` (a copy made at yield time)."""
    for start in range(0, len(buffer), size):
        yield bytes(buffer[start : start + size])


async def _streamed_put(put: Put, buffer: memoryview, chunk: int, *, trace: bool) -> StreamRun:
    heartbeat = Heartbeat(0.001)
    peak: int | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat.run)
        await anyio.sleep(0.01)  # the heartbeat is beating
        if trace:
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        try:
            await put("stream/big.bin", chunks(buffer, chunk))
            seconds = time.perf_counter() - t0
            if trace:
                peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            if trace:
                tracemalloc.stop()
            heartbeat.stop()
    return StreamRun(peak, heartbeat.max_gap_ms, seconds)


async def run_stream(config: Config) -> ScenarioResult:
    """Stream ``Config.stream_bytes`` into memstore and into the reference."""
    size, chunk = config.stream_bytes, config.stream_chunk
    mib = size / (1 << 20)
    result = ScenarioResult(
        "stream", f"streamed put of {mib:.0f} MiB in {chunk // 1024} KiB chunks (async generator)"
    )
    buffer = memoryview(os.urandom(size))  # made before tracing starts: not counted
    traced: dict[str, StreamRun] = {}
    stalls: dict[str, list[float]] = {}
    for cls in (MemstoreStore, ReferenceStore):
        untraced: list[StreamRun] = []
        for trace in (True, *([False] * UNTRACED_RUNS)):
            store = cls()
            gc.collect()
            try:
                run = await _streamed_put(store.storage.put, buffer, chunk, trace=trace)
            finally:
                await store.close()
                del store
                gc.collect()
            if trace:
                traced[cls.name] = run
            else:
                untraced.append(run)
        peak = traced[cls.name].peak_bytes
        assert peak is not None
        stalls[cls.name] = sorted(r.max_gap_ms for r in untraced)
        result.add("peak traced memory / payload", cls.name, peak / size, "x")
        result.add("max loop stall (median of 3 runs)", cls.name, statistics.median(stalls[cls.name]), "ms")
        result.add("max loop stall (worst of 3 runs)", cls.name, stalls[cls.name][-1], "ms")
        result.add("max loop stall (traced run)", cls.name, traced[cls.name].max_gap_ms, "ms")
        best = min(r.seconds for r in untraced)
        result.add("throughput (best run)", cls.name, mib / best, "MiB/s")
    mem_peak = traced["memstore"].peak_bytes
    assert mem_peak is not None
    result.checks.append(
        Check(
            f"streamed put {mib:.0f} MiB: memstore peak traced memory / payload",
            mem_peak / size,
            1.1,
            op="<",
            detail=f"{mem_peak / (1 << 20):.1f} MiB traced for {mib:.0f} MiB",
        )
    )
    mem_stalls = stalls["memstore"]
    result.checks.append(
        Check(
            f"streamed put {mib:.0f} MiB: memstore max loop stall (median of {UNTRACED_RUNS} runs)",
            statistics.median(mem_stalls),
            20.0,
            unit="ms",
            op="<",
            detail=(
                f"runs: {', '.join(f'{s:.1f}' for s in mem_stalls)} ms; "
                f"reference {statistics.median(stalls['reference']):.0f} ms"
            ),
        )
    )
    return result
