"""The scenarios, in the order a full run takes them, and the loop that runs them."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio

from benchmarks._model import Config, ScenarioResult
from benchmarks.bench_browser import run_browser
from benchmarks.footprint import run_footprint
from benchmarks.frames import run_frames, run_zarr
from benchmarks.listing import run_list
from benchmarks.objects import run_create, run_list_dir, run_range
from benchmarks.persistence import run_persist
from benchmarks.put_get import run_get, run_put
from benchmarks.put_parts import run_put_parts
from benchmarks.quota import run_quota
from benchmarks.redis import run_redis
from benchmarks.stalls import run_stalls
from benchmarks.streaming import run_stream
from benchmarks.sync_facade import run_sync

__all__ = ["SCENARIOS", "Scenario", "run_scenarios"]


@dataclass(frozen=True)
class Scenario:
    """A named benchmark: an async one runs in its own ``anyio.run``, a sync one in the caller."""

    name: str
    summary: str
    run_async: Callable[[Config], Awaitable[ScenarioResult]] | None = None
    run_sync: Callable[[Config], ScenarioResult] | None = None

    def run(self, config: Config) -> ScenarioResult:
        """Run the scenario and record how long it took."""
        t0 = time.perf_counter()
        if self.run_async is not None:
            result = anyio.run(self.run_async, config)
        else:
            assert self.run_sync is not None
            result = self.run_sync(config)
        result.seconds = time.perf_counter() - t0
        return result


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("put", "put 1 KiB, fresh store and with 100k keys present (all stores)", run_async=run_put),
    Scenario(
        "put_parts",
        "where one sync put goes: each step timed beside the whole put and obstore's",
        run_sync=run_put_parts,
    ),
    Scenario("get", "get_bytes 1 KiB (all stores)", run_async=run_get),
    Scenario("quota", "put with max_size at 1k vs 100k keys", run_async=run_quota),
    Scenario("list", "list a prefix of 1,000 keys at 1k..1M keys; the scaling plot", run_async=run_list),
    Scenario("stream", "256 MiB streamed put: peak memory and loop stalls", run_async=run_stream),
    Scenario("footprint", "memory per stored object (100k x 100 B)", run_async=run_footprint),
    Scenario("sync", "the sync facade vs the async core, a naive portal and obstore", run_sync=run_sync),
    Scenario(
        "range",
        "get_bytes/get_ranges of 1 KiB from a 1 GiB file (both faces, obstore, fsspec)",
        run_sync=run_range,
    ),
    Scenario("list_dir", "list_dir of 1,000 sub-folders vs 1,000 files at 1M keys", run_sync=run_list_dir),
    Scenario("create", 'create-only put (if_none_match="*") vs plain put', run_sync=run_create),
    Scenario("browser", "the notebook browser: build and refresh with 1M keys", run_sync=run_browser),
    Scenario(
        "stalls",
        "largest event-loop stall of big calls: 1 GiB put/get/get_bytes/copy, 1M-key list/list_dir/"
        "delete_prefix/clear (memstore, reference, obstore)",
        run_async=run_stalls,
    ),
    Scenario(
        "persist", "save/load/restore of a 256 MiB store: peak memory and loop stalls", run_async=run_persist
    ),
    Scenario(
        "frames", "pandas Parquet of a ~50 MB frame: memstore:// vs fsspec memory://", run_sync=run_frames
    ),
    Scenario("zarr", "zarr chunk reads: MemstoreStore vs zarr's MemoryStore", run_sync=run_zarr),
    Scenario(
        "redis",
        "Redis backend: put/get vs raw valkey-glide, sync vs async, listing at 10k..1M keys, 4 processes",
        run_sync=run_redis,
    ),
)


def run_scenarios(
    config: Config,
    names: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ScenarioResult]:
    """Run the named scenarios (all when ``names`` is None), in the canonical order."""
    wanted = set(names) if names else {s.name for s in SCENARIOS}
    unknown = wanted - {s.name for s in SCENARIOS}
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    results = []
    for scenario in SCENARIOS:
        if scenario.name in wanted:
            if progress is not None:
                progress(f"running {scenario.name}: {scenario.summary} ...")
            results.append(scenario.run(config))
    return results
