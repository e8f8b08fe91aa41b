"""Big calls give the event loop a turn (invariant 7 of docs/guides/design.md).

These tests check *that* other tasks run while a big call is in progress, never how long
anything took: the stall times themselves are measured by ``benchmarks/stalls.py``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from memstore import MemoryStorage, StorageEvent
from memstore import _ops as ops
from memstore.memory import _engine

pytestmark = pytest.mark.anyio

MiB = 1 << 20


async def other_task_ran_during(work: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
    """Run ``work()`` beside a task that only records that it got a turn.

    ``work`` must not await anything but the storage: any turn the other task gets comes
    from a checkpoint inside the storage call.
    """
    turns = 0
    done = anyio.Event()

    async def other() -> None:
        nonlocal turns
        while not done.is_set():
            turns += 1
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
        await anyio.lowlevel.checkpoint()  # let it start
        before = turns
        result = await work()
        ran = turns > before
        done.set()
    return ran, result


async def test_reading_a_big_file_lets_other_tasks_run() -> None:
    storage = MemoryStorage()

    async def chunks() -> Any:
        for _ in range(16):
            yield os.urandom(MiB)

    stored = await storage.put("big.bin", chunks())

    async def read_all() -> int:
        total = 0
        async for chunk in storage.get("big.bin"):
            total += len(chunk)  # no await here: only get() can give the loop a turn
        return total

    ran, total = await other_task_ran_during(read_all)
    assert total == stored.size == 16 * MiB
    assert ran, "iterating get() over 16 MiB never let another task run"

    async def read_range() -> int:
        total = 0
        async for chunk in storage.get("big.bin", start=MiB, end=-MiB):
            total += len(chunk)
        return total

    ran, total = await other_task_ran_during(read_range)
    assert total == 14 * MiB
    assert ran


async def test_a_long_listing_lets_other_tasks_run() -> None:
    storage = MemoryStorage()
    for i in range(2000):
        await storage.put(f"k{i:05d}", b"x")

    async def list_all() -> list[str]:
        return [f.key async for f in storage.list()]

    ran, keys = await other_task_ran_during(list_all)
    assert keys == [f"k{i:05d}" for i in range(2000)]
    assert ran, "listing 2,000 keys never let another task run"


async def test_bulk_calls_run_in_a_worker_thread_and_stay_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops, "BULK_KEYS", 100)
    storage = MemoryStorage()
    threads: list[str] = []
    events: list[StorageEvent] = []

    def record(event: StorageEvent) -> None:
        threads.append(threading.current_thread().name)
        events.append(event)

    storage.subscribe(record)
    for i in range(300):
        await storage.put(f"logs/{i:03d}.txt", b"ab")
        await storage.put(f"data/{i:03d}/x.csv", b"abc")
    del threads[:], events[:]
    listing = await storage.list_dir("data/")
    assert len(listing.prefixes) == 300
    assert listing.files == ()
    assert await storage.delete_prefix("logs/") == 300
    assert [e.kind for e in events] == ["delete_prefix"]
    assert events[0].count == 300
    assert threads[0] != threading.current_thread().name  # committed in a worker thread
    usage = await storage.get_usage()
    assert (usage.file_count, usage.used_bytes) == (300, 900)
    await storage.clear()
    assert [e.kind for e in events] == ["delete_prefix", "clear"]
    assert (await storage.get_usage()).used_bytes == 0
    assert [f async for f in storage.list()] == []
    for i in range(300):
        await storage.put(f"k{i}", b"1")
    await storage.close()
    assert [e.kind for e in events][-1] == "close"
    assert storage.closed


def test_dropping_big_containers_empties_them() -> None:
    from sortedcontainers import SortedList

    from memstore.types import EMPTY_METADATA, new_stored_file

    def entry(key: str) -> _engine.Entry:
        return _engine.Entry.of(new_stored_file(key, 1, None, None, None, EMPTY_METADATA), b"x")

    entries = {f"k{i}": entry(f"k{i}") for i in range(5000)}
    keys = SortedList(entries)
    doomed = list(entries)
    _engine._drop(keys, entries, doomed)
    assert entries == {}
    assert doomed == []
    assert keys._lists == []


@pytest.mark.parametrize("sizes", [[3 * MiB, 3 * MiB, 3 * MiB], [9 * MiB], [1, 8 * MiB, 5]])
def test_a_big_join_gives_the_same_bytes(sizes: list[int]) -> None:
    parts = tuple(os.urandom(n) for n in sizes)
    joined = ops.join(parts)
    assert type(joined) is bytes
    assert joined == b"".join(parts)
    assert hash(joined) == hash(b"".join(parts))
    assert ops.join(list(parts)) == joined  # a range's parts come as a list
