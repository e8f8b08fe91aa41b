"""Exact quota accounting of the async core (docs/guides/design.md, invariant 2)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from memstore import (
    MemoryConfig,
    MemoryStorage,
    StorageError,
    StorageQuotaExceededError,
    StorageUsage,
)
from tests.faces import Make, async_only, memory_only

pytestmark = pytest.mark.anyio


async def agen(*chunks: bytes, pause: bool = False) -> AsyncIterator[bytes]:
    for chunk in chunks:
        if pause:
            await anyio.lowlevel.checkpoint()
        yield chunk


async def assert_exact(storage: MemoryStorage) -> None:
    """used_bytes and file_count agree with what list() shows, and nothing stays reserved."""
    files = [f async for f in storage.list()]
    usage = storage.usage
    assert usage.used_bytes == sum(f.size for f in files)
    assert usage.file_count == len(files)
    for f in files:
        assert len(await storage.get_bytes(f.key)) == f.size
    if usage.max_size is not None:
        assert usage.used_bytes <= usage.max_size
    assert storage._engine.reserved_bytes == 0
    per_prefix = {p.prefix: (p.file_count, p.used_bytes) for p in storage.prefix_usage()}
    expected: dict[str, list[int]] = {}
    for f in files:
        i = f.key.find("/")
        counters = expected.setdefault(f.key[: i + 1] if i >= 0 else "", [0, 0])
        counters[0] += 1
        counters[1] += f.size
    assert per_prefix == {p: (c, b) for p, (c, b) in expected.items()}


async def test_used_bytes_is_the_sum_of_sizes_after_every_step(make: Make) -> None:
    storage = make(MemoryConfig(max_size=1000))
    steps: list[Callable[[], Awaitable[Any]]] = [
        lambda: storage.put("a", b"x" * 100),
        lambda: storage.put("b/1", bytearray(200)),
        lambda: storage.put("b/2", agen(b"y" * 30, b"z" * 20)),
        lambda: storage.put("a", b"x" * 10),  # overwrite smaller
        lambda: storage.put("a", memoryview(b"x" * 300)),  # overwrite larger
        lambda: storage.copy("b/1", "c/1"),
        lambda: storage.copy("a", "b/1"),  # copy onto an existing key
        lambda: storage.move("b/2", "a"),  # move onto an existing key
        lambda: storage.move("c/1", "d"),
        lambda: storage.delete("b/1"),
        lambda: storage.put("e", b""),
        lambda: storage.copy("a", "a"),
        lambda: storage.move("a", "a"),
        lambda: storage.clear(),
        lambda: storage.put("f", b"q" * 1000),
    ]
    expected_used = [100, 300, 350, 260, 550, 750, 850, 550, 550, 250, 250, 250, 250, 0, 1000]
    for step, used in zip(steps, expected_used, strict=True):
        await step()
        await assert_exact(storage)
        assert storage.usage.used_bytes == used


async def test_overwrite_counts_the_difference(make: Make) -> None:
    storage = make(MemoryConfig(max_size=100))
    await storage.put("a", b"x" * 80)
    await storage.put("b", b"x" * 10)
    await storage.put("a", b"x" * 90)  # +10: exactly full
    assert storage.usage == StorageUsage(2, 100, 100)
    with pytest.raises(StorageQuotaExceededError):
        await storage.put("a", b"x" * 91)
    await storage.put("a", agen(b"x" * 45, b"x" * 45, pause=True))  # a stream may reuse a's bytes
    await storage.put("a", b"")  # shrinking always fits
    assert storage.usage == StorageUsage(2, 10, 100)
    await assert_exact(storage)


async def test_exactly_at_the_limit_fits_one_more_byte_does_not(make: Make) -> None:
    for data in (b"x" * 64, bytearray(64), memoryview(b"x" * 64)):
        storage = make(MemoryConfig(max_size=64))
        await storage.put("k", data)
        assert storage.usage.free_bytes == 0
        with pytest.raises(StorageQuotaExceededError):
            await storage.put("k2", b"x")
        await assert_exact(storage)
    storage = make(MemoryConfig(max_size=64))
    with pytest.raises(StorageQuotaExceededError):
        await storage.put("k", b"x" * 65)
    with pytest.raises(StorageQuotaExceededError):
        await storage.put("k", agen(b"x" * 32, b"x" * 33))
    await storage.put("k", agen(b"x" * 32, b"x" * 32))
    assert storage.usage == StorageUsage(1, 64, 64)


async def test_max_size_zero_stores_only_empty_files(make: Make) -> None:
    storage = make(MemoryConfig(max_size=0))
    await storage.put("empty", b"")
    await storage.put("empty2", agen(b"", b""))
    await storage.copy("empty", "empty3")
    for data in (b"x", bytearray(b"x"), agen(b"x")):
        with pytest.raises(StorageQuotaExceededError):
            await storage.put("k", data)
    assert storage.usage == StorageUsage(3, 0, 0)
    assert storage.usage.fraction_used == 1.0
    await assert_exact(storage)


async def test_copy_counts_the_new_copy(make: Make) -> None:
    storage = make(MemoryConfig(max_size=100))
    await storage.put("a", b"x" * 50)
    await storage.copy("a", "b")
    assert storage.usage == StorageUsage(2, 100, 100)
    with pytest.raises(StorageQuotaExceededError) as info:
        await storage.copy("a", "c")
    assert info.value.key == "c"
    assert info.value.requested_bytes == 50
    assert not await storage.exists("c")
    await assert_exact(storage)


async def test_copy_onto_an_existing_key_counts_the_difference(make: Make) -> None:
    storage = make(MemoryConfig(max_size=100))
    await storage.put("a", b"x" * 50)
    await storage.put("b", b"y" * 40)
    await storage.copy("a", "b")  # +10
    assert storage.usage == StorageUsage(2, 100, 100)
    await storage.put("small", b"")
    await storage.copy("small", "a")  # shrinking: -50
    assert storage.usage == StorageUsage(3, 50, 100)
    await assert_exact(storage)


async def test_move_onto_an_existing_key_frees_its_bytes(make: Make) -> None:
    storage = make(MemoryConfig(max_size=100))
    await storage.put("a", b"x" * 60)
    await storage.put("b", b"y" * 40)
    moved = await storage.move("a", "b")  # works even though the storage is full
    assert moved.size == 60
    assert storage.usage == StorageUsage(1, 60, 100)
    assert await storage.get_bytes("b") == b"x" * 60
    await storage.put("c", b"z" * 40)  # the 40 freed bytes are usable again
    assert storage.usage == StorageUsage(2, 100, 100)
    await assert_exact(storage)


async def test_move_never_needs_quota(make: Make) -> None:
    storage = make(MemoryConfig(max_size=10))
    await storage.put("a", b"x" * 10)
    await storage.move("a", "b/c")
    assert storage.usage == StorageUsage(1, 10, 10)
    await assert_exact(storage)


async def test_quota_error_names_limit_used_and_requested(make: Make) -> None:
    storage = make(MemoryConfig(max_size=1_000_000))
    await storage.put("a", b"x" * 800_000)
    with pytest.raises(StorageQuotaExceededError) as info:
        await storage.put("big.bin", b"y" * 300_000)
    err = info.value
    assert isinstance(err, StorageError)
    assert (err.key, err.max_size, err.used_bytes, err.requested_bytes) == (
        "big.bin",
        1_000_000,
        800_000,
        300_000,
    )
    message = str(err)
    assert "1,000,000" in message  # the limit
    assert "800,000" in message  # in use
    assert "300,000" in message  # asked for
    assert "big.bin" in message
    assert "max_size" in message


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "stream", "copy"])
async def test_quota_error_attributes_for_every_kind_of_write(kind: str, make: Make) -> None:
    storage = make(MemoryConfig(max_size=100, offload_threshold=16))
    await storage.put("src", b"s" * 70)
    payload = b"p" * 40
    data: Any = {
        "bytes": payload,
        "bytearray": bytearray(payload),
        "memoryview": memoryview(payload),
        "stream": agen(payload[:20], payload[20:]),
    }.get(kind)
    op = storage.copy("src", "dst") if kind == "copy" else storage.put("dst", data)
    with pytest.raises(StorageQuotaExceededError) as info:
        await op
    err = info.value
    assert err.key == "dst"
    assert err.max_size == 100
    assert err.used_bytes == 70
    # a stream is refused as soon as what it has sent so far does not fit
    assert err.requested_bytes == (70 if kind == "copy" else 40)
    assert storage.usage == StorageUsage(1, 70, 100)
    await assert_exact(storage)


async def test_streamed_put_reserves_chunk_by_chunk(make: Make) -> None:
    storage = make(MemoryConfig(max_size=100))
    engine = storage._engine
    reserved: list[int] = []

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 10
            await anyio.lowlevel.checkpoint()
            reserved.append(engine.reserved_bytes)

    await storage.put("k", stream())
    assert reserved == [10, 20, 30, 40]
    assert engine.reserved_bytes == 0
    assert storage.usage.used_bytes == 40


@async_only("interleaves two streams on one event loop; a sync put blocks its thread until done")
async def test_two_concurrent_streams_cannot_together_exceed_the_quota(make: Make) -> None:
    storage = make(MemoryConfig(max_size=100))
    engine = storage._engine
    sent: dict[str, int] = {"a": 0, "b": 0}
    closed: dict[str, bool] = {"a": False, "b": False}
    outcome: dict[str, str] = {}
    requested: dict[str, int] = {}
    peak = 0

    async def stream(name: str) -> AsyncIterator[bytes]:
        nonlocal peak
        try:
            for _ in range(6):  # 60 bytes each: both together would need 120
                yield b"x" * 10
                sent[name] += 1
                peak = max(peak, engine.reserved_bytes + storage.usage.used_bytes)
                await anyio.sleep(0)
        finally:
            closed[name] = True

    async def writer(name: str) -> None:
        try:
            await storage.put(name, stream(name))
            outcome[name] = "stored"
        except StorageQuotaExceededError as exc:
            requested[name] = exc.requested_bytes
            outcome[name] = "refused"

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer, "a")
        tg.start_soon(writer, "b")

    assert sorted(outcome.values()) == ["refused", "stored"]
    loser = next(name for name, result in outcome.items() if result == "refused")
    # the loser was stopped midway, not after sending everything
    assert sent[loser] < 6
    assert 40 < requested[loser] <= 60  # what it had sent when refused
    assert closed == {"a": True, "b": True}
    assert peak <= 100
    assert storage.usage.used_bytes == 60
    assert await storage.get_bytes("a" if loser == "b" else "b") == b"x" * 60
    assert not await storage.exists(loser)
    await assert_exact(storage)


@memory_only(
    "its probe adds reserved and used bytes from two reads, two round trips on Redis; "
    "tests/test_redis_stress.py checks the bound on Redis from one atomic read"
)
async def test_many_concurrent_streams_never_exceed_the_quota(make: Make) -> None:
    storage = make(MemoryConfig(max_size=1000))
    engine = storage._engine
    peak = 0
    stored: list[int] = []

    async def stream(n: int) -> AsyncIterator[bytes]:
        nonlocal peak
        for _ in range(n):
            yield b"x" * 7
            peak = max(peak, engine.reserved_bytes + storage.usage.used_bytes)
            await anyio.sleep(0)

    async def writer(i: int) -> None:
        n = 5 + i % 20
        try:
            await storage.put(f"k{i}", stream(n))
            stored.append(n * 7)
        except StorageQuotaExceededError:
            pass

    async with anyio.create_task_group() as tg:
        for i in range(40):
            tg.start_soon(writer, i)
    assert peak <= 1000
    assert storage.usage.used_bytes == sum(stored) <= 1000
    assert stored  # some made it
    await assert_exact(storage)


async def test_reservations_are_released_when_a_stream_fails(make: Make) -> None:
    storage = make(MemoryConfig(max_size=100))

    async def too_big() -> AsyncIterator[bytes]:
        for _ in range(15):
            yield b"x" * 10

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * 90
        raise OSError("connection reset")

    with pytest.raises(StorageQuotaExceededError):
        await storage.put("big", too_big())
    assert storage._engine.reserved_bytes == 0
    with pytest.raises(OSError, match="connection reset"):
        await storage.put("broken", broken())
    assert storage._engine.reserved_bytes == 0
    # had anything stayed reserved, the whole quota would not be available
    await storage.put("full", b"y" * 100)
    assert storage.usage == StorageUsage(1, 100, 100)
    await assert_exact(storage)


async def test_a_streamed_overwrite_is_credited_with_the_old_size(make: Make) -> None:
    storage = make(MemoryConfig(max_size=100))
    await storage.put("k", b"o" * 80)
    await storage.put("other", b"p" * 20)
    await storage.put("k", agen(*([b"n" * 10] * 8), pause=True))  # same size: fits in a full store
    assert await storage.get_bytes("k") == b"n" * 80
    with pytest.raises(StorageQuotaExceededError):
        await storage.put("k", agen(*([b"n" * 10] * 9), pause=True))
    assert await storage.get_bytes("k") == b"n" * 80
    await assert_exact(storage)


async def test_clear_and_delete_free_quota(make: Make) -> None:
    storage = make(MemoryConfig(max_size=50))
    await storage.put("a", b"x" * 50)
    await storage.delete("a")
    await storage.put("b", b"x" * 50)
    await storage.clear()
    await storage.put("c", agen(b"x" * 25, b"x" * 25))
    assert storage.usage == StorageUsage(1, 50, 50)
    await assert_exact(storage)


async def test_unlimited_storage_never_refuses(make: Make) -> None:
    storage = make()
    for i in range(20):
        await storage.put(f"k{i}", b"x" * 100_000)
    await storage.copy("k0", "copy")
    assert storage.usage == StorageUsage(21, 2_100_000, None)
    await assert_exact(storage)
