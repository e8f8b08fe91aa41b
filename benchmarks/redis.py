"""Scenario ``redis``: the Redis backend against valkey-glide's raw commands (issue 12).

One ``redis-server`` is started for the scenario (a free port of 127.0.0.1, no
persistence, ``noeviction``; ``memstore.redis._server``) and stopped at its end. Every
ratio compares numbers measured in this run against that same server:

* ``put``/``get_bytes`` of 1 KiB through :class:`~memstore.redis.RedisStorage` against
  glide's raw ``SET``/``GET`` (goal <= 1.5x), and the same for
  :class:`~memstore.redis.SyncRedisStorage` against the raw ``glide_sync`` client. A
  memstore put is one Lua script (the index, the file record, the chunk and the quota
  ledger in one atomic step); a raw ``SET`` stores only the bytes.
* the sync face against the async face (goal <= 1.5x).
* ``list_dir("dir/")`` of a folder of 100 files and 100 sub-folders, and the first page
  (100 files) of ``list("dir/", limit=100)``, with 10k, 100k and 1M keys stored below
  ``dir/`` (goal: growth from the smallest to the largest size <= 1.5x). The keys are
  loaded through the backend's own ``PUT`` script, pipelined with ``EVALSHA``, so the
  namespace is a valid one: ``check()`` must come back clean before anything is timed.
* put throughput (1 KiB, sync face) of 4 processes against 1 process (no goal: the ratio
  shows how the server-side commits scale; this machine has few cores).

The async side runs in one ``anyio.run`` (asyncio) per repeat, alternating with the sync
side, as the ``sync`` scenario does. Skipped, with the reason, without ``redis-server``
or the ``redis`` extra.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from benchmarks._model import Check, Config, ScenarioResult
from benchmarks._stores import KeySource
from benchmarks._timing import Case, Plan, SyncCase, Timing, measure, measure_sync

__all__ = ["run_redis"]

_perf = time.perf_counter_ns

ASYNC = "RedisStorage"
RAW = "glide SET/GET"
SYNC = "SyncRedisStorage"
RAW_SYNC = "glide_sync SET/GET"
PUT = "put 1 KiB"
GET = "get_bytes 1 KiB"
DIR_FILES = 100
DIR_FOLDERS = 100
PAGE = 100
FILL_BATCH = 2_000


def _sizes(config: Config) -> tuple[int, ...]:
    return (1_000, 4_000, 16_000) if config.is_quick else (10_000, 100_000, 1_000_000)


def _process_puts(config: Config) -> int:
    return 300 if config.is_quick else 5_000


def _glide_config(url: str) -> Any:
    from glide_shared.config import GlideClientConfiguration, NodeAddress

    port = int(url.rsplit(":", 1)[1].split("/")[0])
    return GlideClientConfiguration([NodeAddress("127.0.0.1", port)], request_timeout=30_000)


def _combine(runs: list[dict[str, Timing]]) -> dict[str, Timing]:
    out: dict[str, Timing] = {}
    for label in runs[0]:
        medians = tuple(m for run in runs for m in run[label].medians)
        out[label] = Timing(min(medians), runs[-1][label].ops_per_batch, medians)
    return out


# ----------------------------------------------------------------- put and get
def _put_get(config: Config, url: str) -> tuple[dict[str, Timing], dict[str, Timing]]:
    """Interleaved repeats of the four clients' puts and gets (async ones in a fresh loop each)."""
    from glide_sync import GlideClient as SyncGlide

    from memstore.redis import RedisConfig, RedisStorage, SyncRedisStorage

    data = os.urandom(config.payload)
    one = Plan(
        repeats=1,
        batches=config.plan.batches,
        batch_ns=config.plan.batch_ns,
        probe_ops=config.plan.probe_ops,
        max_ops=config.plan.max_ops,
    )
    cap = config.put_max_ops
    keys = {name: KeySource(f"{name[:4].lower()}/") for name in (ASYNC, RAW, SYNC, RAW_SYNC)}
    stored = KeySource("got/").take(config.get_keys)
    order = stored[:]
    random.Random(5).shuffle(order)
    cursor = dict.fromkeys((ASYNC, RAW, SYNC, RAW_SYNC), 0)

    def take(name: str, n: int) -> list[str]:
        start = cursor[name]
        cursor[name] = (start + n) % len(order)
        return [order[(start + i) % len(order)] for i in range(n)]

    put_cfg = RedisConfig(url, namespace="bench-put")
    get_cfg = RedisConfig(url, namespace="bench-get")
    raw_sync = SyncGlide.create(_glide_config(url))
    sync_put = SyncRedisStorage(put_cfg)
    sync_get = SyncRedisStorage(get_cfg)
    raw_added: list[str] = []
    try:
        for key in stored:  # the files the gets read, through memstore and raw
            sync_get.put(key, data)
            raw_sync.set("raw-" + key, data)

        def sync_put_run(n: int) -> float:
            put, batch = sync_put.put, keys[SYNC].take(n)
            t0 = _perf()
            for key in batch:
                put(key, data)
            return _perf() - t0

        def raw_put_run(n: int) -> float:
            put, batch = raw_sync.set, keys[RAW_SYNC].take(n)
            raw_added.extend(batch)
            t0 = _perf()
            for key in batch:
                put(key, data)
            return _perf() - t0

        def sync_get_run(n: int) -> float:
            get, batch = sync_get.get_bytes, take(SYNC, n)
            t0 = _perf()
            for key in batch:
                get(key)
            return _perf() - t0

        def raw_get_run(n: int) -> float:
            get, batch = raw_sync.get, ["raw-" + k for k in take(RAW_SYNC, n)]
            t0 = _perf()
            for key in batch:
                get(key)
            return _perf() - t0

        def sync_teardown() -> None:
            sync_put.clear()
            while raw_added:
                raw_sync.delete(list[Any](raw_added[-1000:]))
                del raw_added[-1000:]

        sync_puts = [
            SyncCase(SYNC, sync_put_run, teardown=sync_teardown, max_ops=cap),
            SyncCase(RAW_SYNC, raw_put_run, teardown=sync_teardown, max_ops=cap),
        ]
        sync_gets = [SyncCase(SYNC, sync_get_run), SyncCase(RAW_SYNC, raw_get_run)]

        async def async_side() -> tuple[dict[str, Timing], dict[str, Timing]]:
            from glide import GlideClient

            raw = await GlideClient.create(_glide_config(url))
            core_put, core_get = RedisStorage(put_cfg), RedisStorage(get_cfg)
            added: list[str] = []
            try:

                async def core_put_run(n: int) -> float:
                    put, batch = core_put.put, keys[ASYNC].take(n)
                    t0 = _perf()
                    for key in batch:
                        await put(key, data)
                    return _perf() - t0

                async def raw_put_run(n: int) -> float:
                    put, batch = raw.set, keys[RAW].take(n)
                    added.extend(batch)
                    t0 = _perf()
                    for key in batch:
                        await put(key, data)
                    return _perf() - t0

                async def core_get_run(n: int) -> float:
                    get, batch = core_get.get_bytes, take(ASYNC, n)
                    t0 = _perf()
                    for key in batch:
                        await get(key)
                    return _perf() - t0

                async def raw_get_run(n: int) -> float:
                    get, batch = raw.get, ["raw-" + k for k in take(RAW, n)]
                    t0 = _perf()
                    for key in batch:
                        await get(key)
                    return _perf() - t0

                async def teardown() -> None:
                    await core_put.clear()
                    while added:
                        await raw.delete(list[Any](added[-1000:]))
                        del added[-1000:]

                puts = await measure(
                    [
                        Case(ASYNC, core_put_run, teardown=teardown, max_ops=cap),
                        Case(RAW, raw_put_run, teardown=teardown, max_ops=cap),
                    ],
                    one,
                )
                gets = await measure([Case(ASYNC, core_get_run), Case(RAW, raw_get_run)], one)
                return puts, gets
            finally:
                await core_put.close()
                await core_get.close()
                await raw.close()

        put_runs: list[dict[str, Timing]] = []
        get_runs: list[dict[str, Timing]] = []
        for _ in range(config.plan.repeats):
            puts, gets = anyio.run(async_side)
            put_runs.append(puts | measure_sync(sync_puts, one))
            get_runs.append(gets | measure_sync(sync_gets, one))
        problems = sync_put.check() + sync_get.check()
        if problems:
            raise RuntimeError(f"the benchmark's namespaces are inconsistent: {problems[:5]}")
    finally:
        sync_put.clear()
        sync_get.clear()
        sync_put.close()
        sync_get.close()
        raw_sync.custom_command(["FLUSHDB"])
        raw_sync.close()
    return _combine(put_runs), _combine(get_runs)


# ------------------------------------------------------------------- listing
def _fill(url: str, namespace: str, keys: Sequence[str]) -> None:
    """Store 1-byte files at ``keys`` with the backend's own PUT script, pipelined (EVALSHA)."""
    from glide_shared.commands.batch import Batch
    from glide_sync import GlideClient as SyncGlide

    from memstore._ops import etag_of
    from memstore.redis import _scripts

    client = SyncGlide.create(_glide_config(url))
    try:
        source = _scripts.PUT
        sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        client.custom_command(["SCRIPT", "LOAD", source])
        prefix = f"ms:{{{namespace}}}:"
        etag = etag_of(b"x")
        # the PUT script's ARGV: P key token size etag ct meta n cs create_only if_match max data
        head = ["EVALSHA", sha, "0", prefix]
        tail = ["", "1", etag, "text/plain", "", "1", "1048576", "0", "", "-1", "x"]
        for start in range(0, len(keys), FILL_BATCH):
            batch = Batch(is_atomic=False)
            for key in keys[start : start + FILL_BATCH]:
                batch.custom_command([*head, key, *tail])
            replies = client.exec(batch, raise_on_error=True) or []
            bad = [r for r in replies if not isinstance(r, list) or r[0] != b"ok"]
            if bad:
                raise RuntimeError(f"loading keys with the PUT script failed: {bad[:3]!r}")
    finally:
        client.close()


def _bulk_keys(start: int, stop: int) -> list[str]:
    """Keys ``start .. stop-1`` of the bulk, spread over the sub-folders of ``dir/``."""
    names = KeySource(start=start).take(stop - start)  # "obj/<scatter>-<i>"
    return [f"dir/sub{(start + i) % DIR_FOLDERS:03d}/{name[4:]}" for i, name in enumerate(names)]


def _listing(config: Config, url: str) -> tuple[dict[int, dict[str, Timing]], list[str]]:
    """``list_dir`` and a first ``list`` page on both faces, at each size; notes on the loading."""
    from memstore.redis import RedisConfig, SyncRedisStorage

    cfg = RedisConfig(url, namespace="bench-list", timeout=120.0)
    notes: list[str] = []
    out: dict[int, dict[str, Timing]] = {}
    storage = SyncRedisStorage(cfg)
    try:
        for i in range(DIR_FILES):
            storage.put(f"dir/f{i:04d}", b"x")
        have = 0
        for size in _sizes(config):
            t0 = time.perf_counter()
            _fill(url, cfg.namespace, _bulk_keys(have, size))
            have = size
            loaded = time.perf_counter() - t0
            t0 = time.perf_counter()
            problems = storage.check()
            checked = time.perf_counter() - t0
            if problems:
                raise RuntimeError(f"the loaded namespace is inconsistent: {problems[:5]}")
            usage = storage.get_usage()
            assert usage.file_count == size + DIR_FILES, usage
            listing = storage.list_dir("dir/")
            if (len(listing.prefixes), len(listing.files)) != (DIR_FOLDERS, DIR_FILES):
                raise RuntimeError(f"unexpected listing of dir/: {listing!r:.200}")
            notes.append(
                f"{size:,} keys: loaded (pipelined PUT scripts) in {loaded:.1f} s; "
                f"check() clean in {checked:.1f} s"
            )

            out[size] = _time_listing(config, storage, cfg)
    finally:
        storage.clear()
        storage.close()
    return out, notes


def _time_listing(config: Config, storage: Any, cfg: Any) -> dict[str, Timing]:
    """``list_dir("dir/")`` and the first page of ``list("dir/")``, both faces, interleaved."""
    from memstore.redis import RedisStorage

    one = Plan(
        repeats=1,
        batches=config.slow_plan.batches,
        batch_ns=config.slow_plan.batch_ns,
        probe_ops=config.slow_plan.probe_ops,
        max_ops=config.slow_plan.max_ops,
    )

    def sync_dir(n: int) -> float:
        list_dir = storage.list_dir
        t0 = _perf()
        for _ in range(n):
            list_dir("dir/")
        return _perf() - t0

    def sync_page(n: int) -> float:
        t0 = _perf()
        for _ in range(n):
            for _file in storage.list("dir/", limit=PAGE):
                pass
        return _perf() - t0

    async def async_side() -> dict[str, Timing]:
        core = RedisStorage(cfg)
        try:

            async def async_dir(n: int) -> float:
                list_dir = core.list_dir
                t0 = _perf()
                for _ in range(n):
                    await list_dir("dir/")
                return _perf() - t0

            async def async_page(n: int) -> float:
                t0 = _perf()
                for _ in range(n):
                    async for _file in core.list("dir/", limit=PAGE):
                        pass
                return _perf() - t0

            cases = [Case(f"{ASYNC} list_dir", async_dir), Case(f"{ASYNC} list", async_page)]
            return await measure(cases, one)
        finally:
            await core.close()

    sync_cases = [SyncCase(f"{SYNC} list_dir", sync_dir), SyncCase(f"{SYNC} list", sync_page)]
    runs = [anyio.run(async_side) | measure_sync(sync_cases, one) for _ in range(config.slow_plan.repeats)]
    return _combine(runs)


# ----------------------------------------------------------------- processes
def _worker(url: str, count: int, barrier: Any, results: Any, index: int) -> None:
    """One process: connect, wait for the others, put ``count`` files of 1 KiB, report the times."""
    from memstore.redis import RedisConfig, SyncRedisStorage

    data = os.urandom(1024)
    storage = SyncRedisStorage(RedisConfig(url, namespace="bench-procs"))
    try:
        storage.put(f"warm/{index}", data)
        keys = KeySource(f"w{index}/").take(count)
        put = storage.put
        barrier.wait()
        t0 = time.perf_counter()
        for key in keys:
            put(key, data)
        results.put((t0, time.perf_counter()))
    finally:
        storage.close()


def _throughput(url: str, processes: int, count: int) -> float:
    """Puts per second of ``processes`` processes putting ``count`` files each, all at once."""
    from memstore.redis import RedisConfig, SyncRedisStorage

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(url, count, barrier, results, i)) for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    times = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    with SyncRedisStorage(RedisConfig(url, namespace="bench-procs")) as storage:
        problems = storage.check()
        count_stored = storage.get_usage().file_count
        storage.clear()
    if problems or count_stored != processes * (count + 1):
        raise RuntimeError(f"the processes' namespace is inconsistent: {count_stored} files, {problems[:5]}")
    elapsed: float = max(t[1] for t in times) - min(t[0] for t in times)
    return processes * count / elapsed


# ------------------------------------------------------------------ scenario
def run_redis(config: Config) -> ScenarioResult:
    """Start a redis-server, measure everything against it, stop it."""
    result = ScenarioResult("redis", "Redis backend vs raw valkey-glide on one server (1 KiB)", anchor=RAW)
    try:
        import glide  # noqa: F401
        import glide_sync  # noqa: F401

        from memstore.redis._server import start_redis
    except ImportError as exc:
        result.skipped = f"the redis extra is not installed ({exc})"
        return result
    with tempfile.TemporaryDirectory(prefix="memstore-bench-redis-") as tmp:
        try:
            server = start_redis(Path(tmp))
        except FileNotFoundError as exc:
            result.skipped = str(exc)
            return result
        try:
            _measure_all(config, server.url, result)
        finally:
            server.stop()
    return result


def _measure_all(config: Config, url: str, result: ScenarioResult) -> None:
    puts, gets = _put_get(config, url)
    for case, timings in ((PUT, puts), (GET, gets)):
        for name in (ASYNC, RAW, SYNC, RAW_SYNC):
            result.add(case, name, timings[name].ns_per_op / 1000, "us/op")
        result.note_noise(case, timings)

    def us(t: Timing) -> str:
        return f"{t.ns_per_op / 1000:.1f} us"

    def ratio(check: str, mine: Timing, other: Timing, goal: float, detail: str = "") -> None:
        result.checks.append(
            Check(
                check,
                mine.ns_per_op / other.ns_per_op,
                goal,
                detail=f"{us(mine)} vs {us(other)}{detail}",
                issue=12,
            )
        )

    for case, timings in ((PUT, puts), (GET, gets)):
        ratio(f"Redis {case}: RedisStorage / raw glide", timings[ASYNC], timings[RAW], 1.5)
        ratio(f"Redis {case}: SyncRedisStorage / raw glide_sync", timings[SYNC], timings[RAW_SYNC], 1.5)
        ratio(f"Redis {case}: sync face / async face", timings[SYNC], timings[ASYNC], 1.5)

    listing, notes = _listing(config, url)
    result.notes += notes
    sizes = sorted(listing)
    for size in sizes:
        for label, timing in listing[size].items():
            face, what = label.split(" ", 1)
            result.add(_list_case(what, size), face, timing.ns_per_op / 1000, "us/op")
        result.note_noise(f"listing at {size:,} keys", listing[size])
    low, high = sizes[0], sizes[-1]
    for label in listing[low]:
        a, b = listing[low][label].ns_per_op, listing[high][label].ns_per_op
        face, what = label.split(" ", 1)
        result.checks.append(
            Check(
                f"Redis {_list_case(what, None)} ({face}): growth {low:,} -> {high:,} keys",
                b / a,
                1.5,
                detail=f"{a / 1e6:.3f} ms -> {b / 1e6:.3f} ms",
                issue=12,
            )
        )

    count = _process_puts(config)
    best: dict[int, float] = {}
    for _ in range(2 if config.is_quick else 3):
        for processes in (1, 4):
            rate = _throughput(url, processes, count)
            best[processes] = max(best.get(processes, 0.0), rate)
    for processes, rate in best.items():
        result.add(f"put throughput, {processes} process(es) x {count:,} puts", SYNC, rate, "puts/s")
    result.add("put throughput: 4 processes / 1 process", SYNC, best[4] / best[1], "x")
    result.notes.append(
        f"put throughput (sync face, 1 KiB): 1 process {best[1]:,.0f} puts/s, 4 processes "
        f"{best[4]:,.0f} puts/s ({best[4] / best[1]:.2f}x) on {os.cpu_count()} cores shared with the "
        "server; the best of the repeats"
    )


def _list_case(what: str, size: int | None) -> str:
    name = (
        f"list_dir('dir/'): {DIR_FILES} files + {DIR_FOLDERS} folders"
        if what == "list_dir"
        else f"list('dir/', limit={PAGE})"
    )
    return name if size is None else f"{name}, {size:,} keys"
