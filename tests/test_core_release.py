"""Big files that leave the store are freed off the caller's thread, and nothing else is touched.

docs/guides/design.md, invariant 7: freeing a big file in one go holds the GIL for tens
of milliseconds, so the engine hands it to a background thread (``memstore._reaper``).
These tests check what a user observes: the memory comes back, and every other holder of
the same contents (the caller's own ``bytes``, a copy, a snapshot, a reader streaming the
file) still reads every byte intact. The stall itself is measured by ``benchmarks/stalls.py``.
"""

from __future__ import annotations

import gc
import hashlib
import os
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator

import pytest

from memstore import MemoryConfig
from memstore._reaper import RELEASE_BYTES, wait_idle
from tests.faces import Make, memory_only

pytestmark = [pytest.mark.anyio, memory_only("frees in-process memory of the memory engine")]

MiB = 1 << 20
BIG = max(RELEASE_BYTES, 32 * MiB)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def parts(blob: bytes, size: int = MiB) -> AsyncIterator[bytes]:
    for start in range(0, len(blob), size):
        yield blob[start : start + size]


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def traced_now() -> int:
    assert wait_idle(60.0), "the release thread did not finish in 60 s"
    return tracemalloc.get_traced_memory()[0]


def comes_back_to(limit: int, timeout: float = 60.0) -> int:
    """Traced memory once it is below ``limit`` (or after ``timeout``): frees may come late."""
    deadline = time.monotonic() + timeout
    while True:
        now = traced_now()
        if now < limit or time.monotonic() > deadline:
            return now
        gc.collect()
        time.sleep(0.01)


@pytest.mark.parametrize("how", ["delete", "overwrite", "delete_prefix", "clear", "move-over"])
@pytest.mark.parametrize("shape", ["bytes", "streamed"])
async def test_a_big_file_nobody_else_holds_gives_its_memory_back(
    make: Make, traced: None, how: str, shape: str
) -> None:
    storage = make(MemoryConfig(chunk_size=MiB))
    baseline = traced_now()
    if shape == "bytes":
        await storage.put("big/file", os.urandom(BIG))  # the store holds the only reference
    else:
        await storage.put("big/file", parts(os.urandom(BIG)))
    assert traced_now() - baseline >= BIG
    if how == "delete":
        await storage.delete("big/file")
    elif how == "overwrite":
        await storage.put("big/file", b"small")
    elif how == "delete_prefix":
        assert await storage.delete_prefix("big/") == 1
    elif how == "clear":
        await storage.clear()
    else:
        await storage.put("other", b"small")
        await storage.move("other", "big/file")
    assert comes_back_to(baseline + BIG // 4) - baseline < BIG // 4
    assert (await storage.get_usage()).used_bytes < 16


@pytest.mark.parametrize("how", ["delete", "overwrite", "clear"])
async def test_the_callers_own_bytes_stay_intact(make: Make, how: str) -> None:
    storage = make()
    blob = os.urandom(BIG)
    expected = digest(blob)
    await storage.put("f", blob)  # kept by reference: the caller still holds it
    if how == "delete":
        await storage.delete("f")
    elif how == "overwrite":
        await storage.put("f", b"x")
    else:
        await storage.clear()
    assert wait_idle(60.0)
    assert digest(blob) == expected


@pytest.mark.parametrize("shape", ["bytes", "streamed"])
async def test_a_copy_keeps_the_contents_when_the_source_goes(make: Make, shape: str) -> None:
    storage = make(MemoryConfig(chunk_size=MiB))
    blob = os.urandom(BIG)
    expected = digest(blob)
    await storage.put("a", bytes(blob) if shape == "bytes" else parts(blob))
    del blob
    await storage.copy("a", "b")
    await storage.delete("a")
    assert wait_idle(60.0)
    assert digest(await storage.get_bytes("b")) == expected


async def test_a_snapshot_keeps_big_contents_after_a_delete(make: Make) -> None:
    storage = make(MemoryConfig(chunk_size=MiB))
    blob = os.urandom(BIG)
    expected = digest(blob)
    await storage.put("a", parts(blob))
    del blob
    snapshot = storage.snapshot()  # not a coroutine on either face
    await storage.delete("a")
    assert wait_idle(60.0)
    await storage.restore(snapshot)
    assert digest(await storage.get_bytes("a")) == expected


async def test_a_reader_streaming_a_big_file_while_it_is_deleted_reads_it_whole(make: Make) -> None:
    storage = make(MemoryConfig(chunk_size=MiB))
    blob = os.urandom(BIG)
    expected = digest(blob)
    await storage.put("a", parts(blob))
    del blob
    hasher = hashlib.sha256()
    stream = storage.get("a")
    deleted = False
    async for chunk in stream:
        hasher.update(chunk)
        if not deleted:
            await storage.delete("a")
            assert wait_idle(60.0)
            deleted = True
    assert deleted
    assert hasher.hexdigest() == expected


@pytest.mark.parametrize("how", ["delete", "overwrite", "clear", "delete_prefix"])
async def test_the_store_lets_go_of_a_big_payload_the_caller_holds_at_once(make: Make, how: str) -> None:
    # Only contents nobody else holds go to the background thread: a caller who holds
    # them sees the store's reference gone as soon as the write returns. (The ETag is
    # hashed inline here: a worker thread that hashed it may hold its arguments a moment
    # longer than the put, on asyncio.)
    storage = make(MemoryConfig(offload_threshold=4 * BIG))
    blob = os.urandom(BIG)
    baseline = sys.getrefcount(blob)
    await storage.put("big/f", blob)
    assert sys.getrefcount(blob) > baseline
    if how == "delete":
        await storage.delete("big/f")
    elif how == "overwrite":
        await storage.put("big/f", b"x")
    elif how == "clear":
        await storage.clear()
    else:
        await storage.delete_prefix("big/")
    assert sys.getrefcount(blob) == baseline


async def test_a_chunk_the_caller_kept_is_let_go_at_once(make: Make) -> None:
    storage = make(MemoryConfig(chunk_size=MiB))
    kept = os.urandom(MiB)
    baseline = sys.getrefcount(kept)

    async def chunks() -> AsyncIterator[bytes]:
        yield kept
        for _ in range(BIG // MiB):
            yield os.urandom(MiB)

    await storage.put("f", chunks())
    await storage.delete("f")
    gc.collect()
    assert sys.getrefcount(kept) == baseline
