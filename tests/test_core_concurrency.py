"""Many tasks, and many OS threads with their own event loops, hammering one storage.

Afterwards (and, by sampling, during) the quota ledger is exact and ``max_size`` was
never exceeded (docs/guides/design.md, invariants 2 and 5).
"""

from __future__ import annotations

import hashlib
import random
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import anyio
import anyio.lowlevel
import pytest

from memstore import (
    MemoryConfig,
    MemoryStorage,
    PrefixUsage,
    StorageEvent,
    StorageFileNotFoundError,
    StorageQuotaExceededError,
    StorageUsage,
)
from tests.faces import Make, memory_only

KEYS = [f"{d}/{i}" for d in ("a", "b", "c") for i in range(5)] + ["x", "y"]


@contextmanager
def fast_thread_switching() -> Iterator[None]:
    """Switch threads far more often than usual, to shake out races."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


class Monitor:
    """Records usage after every event and counts outcomes; thread-safe."""

    def __init__(self, storage: MemoryStorage) -> None:
        self.storage = storage
        self.lock = threading.Lock()
        self.used_after_event: list[int] = []
        self.outcomes: dict[str, int] = {}
        storage.subscribe(self.on_event)

    def on_event(self, event: StorageEvent) -> None:
        used = self.storage.usage.used_bytes
        with self.lock:
            self.used_after_event.append(used)

    def count(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


async def chunked(data: bytes, step: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), step):
        yield data[start : start + step]
        await anyio.lowlevel.checkpoint()


async def random_operation(storage: MemoryStorage, rng: random.Random, monitor: Monitor) -> None:
    op = rng.choices(
        ["put", "stream", "delete", "copy", "move", "list", "read", "clear"],
        weights=[30, 20, 15, 10, 10, 8, 6, 1],
    )[0]
    key = rng.choice(KEYS)
    other = rng.choice(KEYS)
    payload = bytes([rng.randrange(256)]) * rng.randrange(0, 600)
    try:
        if op == "put":
            await storage.put(key, payload)
        elif op == "stream":
            await storage.put(key, chunked(payload, rng.randrange(1, 200)))
        elif op == "delete":
            await storage.delete(key)
        elif op == "copy":
            await storage.copy(key, other)
        elif op == "move":
            await storage.move(key, other)
        elif op == "list":
            listed = [f.key async for f in storage.list(key[:2], limit=rng.randrange(0, 20))]
            assert listed == sorted(listed)
        elif op == "read":
            data = await storage.get_bytes(key)
            assert data == bytes(data[:1]) * len(data)  # never a mix of two writes
        else:
            await storage.clear()
        monitor.count(op)
    except StorageQuotaExceededError:
        monitor.count("quota")
    except StorageFileNotFoundError:
        monitor.count("missing")


async def assert_consistent(storage: MemoryStorage, max_size: int | None) -> None:
    files = [f async for f in storage.list()]
    assert [f.key for f in files] == sorted(f.key for f in files)
    usage = storage.usage
    assert usage == StorageUsage(len(files), sum(f.size for f in files), max_size)
    assert storage._engine.reserved_bytes == 0
    prefixes: dict[str, list[int]] = {}
    for f in files:
        data = await storage.get_bytes(f.key)
        assert len(data) == f.size
        assert f.etag == '"' + hashlib.md5(data).hexdigest() + '"'
        i = f.key.find("/")
        counters = prefixes.setdefault(f.key[: i + 1] if i >= 0 else "", [0, 0])
        counters[0] += 1
        counters[1] += f.size
    assert sorted(storage.prefix_usage(), key=lambda p: p.prefix) == [
        PrefixUsage(p, c, b) for p, (c, b) in sorted(prefixes.items())
    ]


def sample_ledger(storage: MemoryStorage, max_size: int, stop: threading.Event, errors: list[str]) -> int:
    """Check, under the engine's lock, that the ledger is exact at sampled moments."""
    engine = storage._engine
    samples = 0
    while not stop.is_set():
        with engine._lock:
            used = engine._used
            total = sum(entry.file.size for entry in engine._entries.values())
            reserved = engine._reserved
            count = len(engine._entries)
            indexed = len(engine._keys)
        samples += 1
        if used != total or count != indexed or used + reserved > max_size or used > max_size:
            errors.append(f"used={used} sum={total} reserved={reserved} files={count}/{indexed}")
        stop.wait(0.0005)
    return samples


# ------------------------------------------------------------------------ tasks


@memory_only("Redis delivers events later (tests/test_redis_events.py); the monitor counts them at once")
@pytest.mark.anyio
async def test_many_tasks_keep_the_ledger_exact(make: Make) -> None:
    max_size = 3000
    storage = make(MemoryConfig(max_size=max_size, chunk_size=64, offload_threshold=256))
    monitor = Monitor(storage)
    peak = 0

    async def watcher(stop: anyio.Event) -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, storage.usage.used_bytes + storage._engine.reserved_bytes)
            await anyio.lowlevel.checkpoint()

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(5):
            await random_operation(storage, rng, monitor)
            await anyio.sleep(0)

    stop = anyio.Event()
    async with anyio.create_task_group() as outer:
        outer.start_soon(watcher, stop)
        async with anyio.create_task_group() as tg:
            for seed in range(200):
                tg.start_soon(worker, seed)
        stop.set()

    await assert_consistent(storage, max_size)
    assert monitor.used_after_event
    assert max(monitor.used_after_event) <= max_size
    assert peak <= max_size
    assert monitor.outcomes.get("quota", 0) > 0, monitor.outcomes  # the quota was actually hit
    assert monitor.outcomes.get("put", 0) + monitor.outcomes.get("stream", 0) > 0


@pytest.mark.anyio
async def test_concurrent_puts_fill_the_quota_exactly(make: Make) -> None:
    storage = make(MemoryConfig(max_size=50 * 60))
    outcomes: list[bool] = []

    async def put(i: int) -> None:
        await anyio.sleep(0)
        try:
            await storage.put(f"k{i:03d}", b"x" * 50)
            outcomes.append(True)
        except StorageQuotaExceededError:
            outcomes.append(False)

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(put, i)
    assert outcomes.count(True) == 60
    assert storage.usage == StorageUsage(60, 3000, 3000)
    await assert_consistent(storage, 3000)


@memory_only("Redis delivers events later (tests/test_redis_events.py); the monitor counts them at once")
@pytest.mark.anyio
async def test_concurrent_streams_never_overshoot(make: Make) -> None:
    storage = make(MemoryConfig(max_size=50 * 60))
    monitor = Monitor(storage)
    stored: list[int] = []

    async def put(i: int) -> None:
        try:
            await storage.put(f"k{i:03d}", chunked(b"s" * 50, 10))
            stored.append(i)
        except StorageQuotaExceededError:
            pass

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(put, i)
    assert stored  # competing reservations must not starve everyone
    assert storage.usage == StorageUsage(len(stored), 50 * len(stored), 3000)
    assert max(monitor.used_after_event) <= 3000
    await assert_consistent(storage, 3000)


@pytest.mark.anyio
async def test_concurrent_moves_and_copies_between_the_same_keys(make: Make) -> None:
    storage = make(MemoryConfig(max_size=1000))
    await storage.put("a", b"A" * 300)
    await storage.put("b", b"B" * 200)

    async def shuffle(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(10):
            src, dst = rng.sample(["a", "b", "c", "d"], 2)
            try:
                if rng.random() < 0.5:
                    await storage.move(src, dst)
                else:
                    await storage.copy(src, dst)
            except (StorageFileNotFoundError, StorageQuotaExceededError):
                pass
            await anyio.sleep(0)

    async with anyio.create_task_group() as tg:
        for seed in range(50):
            tg.start_soon(shuffle, seed)
    await assert_consistent(storage, 1000)
    assert storage.usage.file_count >= 1  # a move never loses the last file
    for f in [f async for f in storage.list()]:
        data = await storage.get_bytes(f.key)
        assert data in (b"A" * 300, b"B" * 200)


# ---------------------------------------------------------------------- threads


@memory_only("one async storage on several event loops: a RedisStorage's client belongs to one loop")
@pytest.mark.parametrize("backends", [("asyncio",), ("trio",), ("asyncio", "trio")], ids="+".join)
def test_many_threads_with_their_own_loops(backends: tuple[str, ...], make: Make) -> None:
    max_size = 3000
    storage = make(MemoryConfig(max_size=max_size, chunk_size=64, offload_threshold=256))
    monitor = Monitor(storage)
    stop = threading.Event()
    ledger_errors: list[str] = []
    failures: list[BaseException] = []
    samples: list[int] = []

    def thread_main(seed: int) -> None:
        async def run() -> None:
            rng = random.Random(seed)
            for _ in range(500):
                await random_operation(storage, rng, monitor)

        try:
            anyio.run(run, backend=backends[seed % len(backends)])
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    sampler = threading.Thread(
        target=lambda: samples.append(sample_ledger(storage, max_size, stop, ledger_errors)), daemon=True
    )
    with fast_thread_switching():
        sampler.start()
        threads = [threading.Thread(target=thread_main, args=(seed,), daemon=True) for seed in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        stop.set()
        sampler.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    assert ledger_errors == []
    assert samples
    assert samples[0] > 0
    assert max(monitor.used_after_event) <= max_size
    assert monitor.outcomes.get("quota", 0) > 0, monitor.outcomes
    anyio.run(assert_consistent, storage, max_size, backend=backends[0])


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_threads_fill_the_quota_exactly(backend: str, make: Make) -> None:
    storage = make(MemoryConfig(max_size=50 * 100))
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def thread_main(t: int) -> None:
        async def run() -> None:
            barrier.wait()
            for i in range(30):
                try:
                    await storage.put(f"t{t}/{i}", b"x" * 50)
                    ok = True
                except StorageQuotaExceededError:
                    ok = False
                with lock:
                    results.append(ok)

        anyio.run(run, backend=backend)

    with fast_thread_switching():
        threads = [threading.Thread(target=thread_main, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
    assert len(results) == 240
    assert results.count(True) == 100
    assert storage.usage == StorageUsage(100, 5000, 5000)
    anyio.run(assert_consistent, storage, 5000, backend=backend)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_threads_streaming_at_once_never_overshoot(backend: str, make: Make) -> None:
    max_size = 2000
    storage = make(MemoryConfig(max_size=max_size))
    stop = threading.Event()
    ledger_errors: list[str] = []
    stored: list[int] = []
    lock = threading.Lock()

    def thread_main(t: int) -> None:
        async def run() -> None:
            for i in range(20):
                try:
                    await storage.put(f"t{t}/{i}", chunked(bytes([t]) * 100, 7))
                    with lock:
                        stored.append(100)
                except StorageQuotaExceededError:
                    pass

        anyio.run(run, backend=backend)

    sampler = threading.Thread(
        target=sample_ledger, args=(storage, max_size, stop, ledger_errors), daemon=True
    )
    with fast_thread_switching():
        sampler.start()
        threads = [threading.Thread(target=thread_main, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
        stop.set()
        sampler.join(timeout=10)
    assert ledger_errors == []
    assert stored
    assert storage.usage == StorageUsage(len(stored), sum(stored), max_size)
    assert sum(stored) <= max_size
    anyio.run(assert_consistent, storage, max_size, backend=backend)
