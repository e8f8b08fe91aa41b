"""Fault injection: failing, over-quota, cancelled and ill-typed streams; large payloads.

A failed or cancelled write must leave the store and the quota exactly as they were
(docs/guides/design.md, invariant 1), and large payloads must not stall the event loop (invariant 7).
"""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from memstore import (
    MemoryConfig,
    MemoryStorage,
    PrefixUsage,
    StorageQuotaExceededError,
    StorageUsage,
    StoredFile,
)
from tests.faces import Make, async_only, memory_only

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024

State = tuple[list[StoredFile], dict[str, bytes], StorageUsage, list[PrefixUsage]]


async def state_of(storage: MemoryStorage) -> State:
    files = [f async for f in storage.list()]
    contents = {f.key: await storage.get_bytes(f.key) for f in files}
    return files, contents, storage.usage, list(storage.prefix_usage())


async def populated(max_size: int | None = 1000) -> MemoryStorage:
    storage = MemoryStorage(MemoryConfig(max_size=max_size, chunk_size=8))
    await storage.put("existing", b"old contents", metadata={"v": "1"})
    await storage.put("dir/other", b"x" * 100)
    return storage


class Probe:
    """Records how far a stream got and whether it was closed."""

    def __init__(self) -> None:
        self.yielded = 0
        self.closed = False


class Boom(Exception):
    pass


async def raising_stream(probe: Probe, after: int) -> AsyncIterator[bytes]:
    try:
        for _ in range(after):
            yield b"abcdefghij"
            probe.yielded += 1
            await anyio.lowlevel.checkpoint()
        raise Boom("stream failed")
    finally:
        probe.closed = True


async def endless_stream(probe: Probe) -> AsyncIterator[bytes]:
    try:
        while True:
            yield b"abcdefghij"
            probe.yielded += 1
            await anyio.lowlevel.checkpoint()
    finally:
        probe.closed = True


@pytest.mark.parametrize("key", ["new", "existing"])
@pytest.mark.parametrize("after", [0, 1, 5])
async def test_a_stream_that_raises_leaves_everything_as_before(key: str, after: int) -> None:
    storage = await populated()
    before = await state_of(storage)
    probe = Probe()
    with pytest.raises(Boom, match="stream failed"):
        await storage.put(key, raising_stream(probe, after))
    assert probe.yielded == after
    assert probe.closed
    assert await state_of(storage) == before
    assert storage._engine.reserved_bytes == 0
    assert await storage.get_bytes("existing") == b"old contents"


@pytest.mark.parametrize("key", ["new", "existing"])
async def test_a_stream_that_exceeds_the_quota_leaves_everything_as_before(key: str) -> None:
    storage = await populated(max_size=200)
    before = await state_of(storage)
    probe = Probe()
    with pytest.raises(StorageQuotaExceededError) as info:
        await storage.put(key, endless_stream(probe))
    assert info.value.key == key
    assert info.value.max_size == 200
    assert info.value.used_bytes == 112
    assert probe.closed  # the stream was closed, not left suspended
    assert probe.yielded < 12  # refused as soon as it went over, not after the fact
    assert await state_of(storage) == before
    assert storage._engine.reserved_bytes == 0
    await storage.put("fill", b"f" * 88)  # every free byte is still usable
    assert storage.usage.used_bytes == 200


@pytest.mark.parametrize("key", ["new", "existing"])
async def test_a_stream_cancelled_by_its_scope_leaves_everything_as_before(key: str) -> None:
    storage = await populated()
    before = await state_of(storage)
    probe = Probe()
    reserved_while_streaming: list[int] = []

    async def stream() -> AsyncIterator[bytes]:
        try:
            for _ in range(3):
                yield b"abcdefghij"
                probe.yielded += 1
            reserved_while_streaming.append(storage._engine.reserved_bytes)
            scope.cancel()
            await anyio.sleep_forever()
            yield b"never"
        finally:
            probe.closed = True

    with anyio.CancelScope() as scope:
        await storage.put(key, stream())
    assert scope.cancelled_caught
    assert probe.yielded == 3
    assert probe.closed
    assert reserved_while_streaming == [30 if key == "new" else 30 - len(b"old contents")]
    assert await state_of(storage) == before
    assert storage._engine.reserved_bytes == 0


async def test_a_stream_cancelled_by_a_deadline_leaves_everything_as_before() -> None:
    storage = await populated()
    before = await state_of(storage)
    probe = Probe()

    async def slow() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"0123456789"
                probe.yielded += 1
                await anyio.sleep(0.002)
        finally:
            probe.closed = True

    with anyio.move_on_after(0.05) as scope:
        await storage.put("existing", slow())
    assert scope.cancelled_caught
    assert probe.yielded > 0
    assert probe.closed
    assert await state_of(storage) == before
    assert storage._engine.reserved_bytes == 0


async def test_a_stream_cancelled_from_another_task_leaves_everything_as_before() -> None:
    storage = await populated()
    before = await state_of(storage)
    probe = Probe()
    started = anyio.Event()

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"first chunk"
            started.set()
            await anyio.sleep_forever()
            yield b"never"
        finally:
            probe.closed = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(storage.put, "existing", stream())
        await started.wait()
        assert storage._engine.reserved_bytes == 0  # "first chunk" fits in the credit of "existing"
        tg.cancel_scope.cancel()
    assert probe.closed
    assert await state_of(storage) == before
    assert storage._engine.reserved_bytes == 0


@async_only("cancels a task of the caller's event loop; a sync put has no task to cancel")
async def test_cancelled_while_a_large_chunk_is_hashed_in_a_thread(make: Make) -> None:
    storage = make(MemoryConfig(max_size=64 * MiB, offload_threshold=64 * 1024))
    await storage.put("existing", b"old")
    before = await state_of(storage)
    big = b"z" * (8 * MiB)

    async def stream() -> AsyncIterator[bytes]:
        yield big
        yield big

    with anyio.move_on_after(0.001) as scope:
        await storage.put("existing", stream())
    assert scope.cancelled_caught
    assert await state_of(storage) == before
    assert storage._engine.reserved_bytes == 0


@async_only("cancels a task of the caller's event loop; a sync put has no task to cancel")
@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview"])
async def test_cancelled_large_put_stores_nothing(kind: str, make: Make) -> None:
    storage = make(MemoryConfig(offload_threshold=1024))
    await storage.put("existing", b"old")
    before = await state_of(storage)
    payload = b"p" * (4 * MiB)
    data: Any = {"bytes": payload, "bytearray": bytearray(payload), "memoryview": memoryview(payload)}[kind]
    with anyio.CancelScope() as scope:
        scope.cancel()
        await storage.put("existing", data)  # must suspend (offload), and so sees the cancel
    assert scope.cancelled_caught
    assert await state_of(storage) == before


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("text", id="str"),
        pytest.param(42, id="int"),
        pytest.param(None, id="None"),
        pytest.param([b"a"], id="list"),
        pytest.param(object(), id="object"),
    ],
)
@pytest.mark.parametrize("key", ["new", "existing"])
async def test_a_stream_yielding_a_wrong_type_leaves_everything_as_before(bad: object, key: str) -> None:
    storage = await populated()
    before = await state_of(storage)
    probe = Probe()

    async def stream() -> AsyncIterator[Any]:
        try:
            yield b"good"
            yield bytearray(b"also good")
            yield bad
            yield b"never"
        finally:
            probe.closed = True

    with pytest.raises(TypeError) as info:
        await storage.put(key, stream())
    message = str(info.value)
    assert type(bad).__name__ in message
    assert "bytes" in message
    assert key in message
    assert probe.closed
    assert await state_of(storage) == before
    assert storage._engine.reserved_bytes == 0


async def test_a_stream_whose_iterator_fails_to_start() -> None:
    storage = await populated()
    before = await state_of(storage)

    class BadIterable:
        def __aiter__(self) -> AsyncIterator[bytes]:
            raise Boom("no iterator")

    with pytest.raises(Boom):
        await storage.put("existing", BadIterable())
    assert await state_of(storage) == before
    assert storage._engine.reserved_bytes == 0


async def test_faults_do_not_poison_later_writes() -> None:
    storage = await populated(max_size=500)
    for after in range(3):
        with pytest.raises(Boom):
            await storage.put("k", raising_stream(Probe(), after))
    with pytest.raises(StorageQuotaExceededError):
        await storage.put("k", endless_stream(Probe()))

    async def stalls() -> AsyncIterator[bytes]:
        yield b"x" * 300
        await anyio.sleep_forever()
        yield b"never"

    with anyio.move_on_after(0.01):
        await storage.put("k", stalls())
    assert storage._engine.reserved_bytes == 0
    file = await storage.put("k", b"y" * (500 - 112))
    assert file.size == 388
    assert storage.usage == StorageUsage(3, 500, 500)


# ------------------------------------------------------------------ large payloads


async def loop_ticks_during(op: Callable[[], Awaitable[object]]) -> int:
    """How often another task got to run on the event loop while ``op`` ran."""
    ticks = 0
    running = True

    async def heartbeat() -> None:
        nonlocal ticks
        while running:
            await anyio.sleep(0)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        await anyio.sleep(0.001)  # let the heartbeat start
        start = ticks
        await op()
        during = ticks - start
        running = False
    return during


@memory_only("counts event-loop ticks of an in-process put; a network put always yields")
@async_only("measures the caller's event loop, which a sync call blocks by design")
@pytest.mark.parametrize("kind", ["bytes", "bytearray", "stream"])
async def test_a_large_put_keeps_the_event_loop_running(kind: str, make: Make) -> None:
    payload = b"L" * (16 * MiB)

    def data() -> Any:
        if kind == "bytes":
            return payload
        if kind == "bytearray":
            return bytearray(payload)
        return _stream(payload[: 8 * MiB], payload[8 * MiB :])

    offloading = make(MemoryConfig(offload_threshold=MiB))
    assert await loop_ticks_during(lambda: offloading.put("big", data())) > 0
    assert await offloading.get_bytes("big") == payload
    assert (await offloading.info("big")).etag == '"' + hashlib.md5(payload).hexdigest() + '"'
    if kind != "stream":
        # the same put done inline (threshold above the size) never lets the heartbeat run:
        # this is what the test above tells apart
        inline = make(MemoryConfig(offload_threshold=64 * MiB))
        assert await loop_ticks_during(lambda: inline.put("big", data())) == 0
        assert await inline.get_bytes("big") == payload


async def _stream(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


@async_only("measures the caller's event loop, which a sync call blocks by design")
async def test_a_stream_of_many_small_chunks_lets_other_tasks_run(make: Make) -> None:
    storage = make(MemoryConfig(offload_threshold=64 * 1024))
    chunks = [b"s" * 1024] * 1024  # 1 MiB in 1 KiB chunks, none of them large

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk  # never suspends by itself

    assert await loop_ticks_during(lambda: storage.put("k", stream())) > 0
    assert (await storage.info("k")).size == MiB


@memory_only("counts event-loop ticks of an in-process put; a network put always yields")
async def test_a_small_put_stays_inline(make: Make) -> None:
    storage = make()
    assert await loop_ticks_during(lambda: storage.put("small", b"s" * 1024)) == 0
    assert await loop_ticks_during(lambda: storage.put("small2", bytearray(1024))) == 0
    assert await storage.get_bytes("small") == b"s" * 1024


@async_only("measures the caller's event loop, which a sync call blocks by design")
@pytest.mark.parametrize("parts", [256, 4, 2])
async def test_get_bytes_of_a_large_streamed_file_keeps_the_loop_running(parts: int, make: Make) -> None:
    storage = make(MemoryConfig(chunk_size=64 * 1024, offload_threshold=MiB))
    part = b"g" * (16 * MiB // parts)
    await storage.put("k", _stream(*[part] * parts))  # 16 MiB kept as received

    async def read() -> None:
        assert await storage.get_bytes("k") == part * parts

    assert await loop_ticks_during(read) > 0


async def test_a_streamed_put_does_not_hold_two_copies_of_the_payload(make: Make) -> None:
    storage = make()
    n, chunk = 32, MiB
    payload_size = n * chunk

    async def stream() -> AsyncIterator[bytes]:
        for i in range(n):
            yield bytes([i]) * chunk  # a fresh object each time

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        await storage.put("big", stream())
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert storage.usage.used_bytes == payload_size
    assert peak < 1.1 * payload_size, f"peak {peak / MiB:.1f} MiB for a {payload_size / MiB:.0f} MiB payload"
    data = await storage.get_bytes("big")
    assert data[::chunk] == bytes(range(n))


@pytest.mark.anyio
async def test_a_bytearray_cannot_be_resized_while_put_copies_it(make: Make) -> None:
    storage = make(MemoryConfig(offload_threshold=1024))
    data = bytearray(b"x" * 4 * 1024 * 1024)
    errors: list[BaseException] = []

    async def shrink() -> None:
        await anyio.sleep(0)
        try:
            del data[1024:]  # while put() awaits the copy in its worker thread
        except BufferError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(shrink)
        stored = await storage.put("big", data)
    stored_bytes = await storage.get_bytes("big")
    assert stored.size == len(stored_bytes) == storage.usage.used_bytes
    assert errors or len(data) == 1024  # either the resize was refused, or it came after the copy
    del data[1024:]  # and once put() returns, the buffer is the caller's again
    assert len(data) == 1024
