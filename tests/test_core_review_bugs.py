"""Reliability bugs found in review of the async core and its sync face, each with the test
that failed before its fix. Contract tests run on both faces (``make``, tests/faces.py)."""

from __future__ import annotations

import array
import asyncio
import enum
import gc
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from memstore import (
    ConfigurationError,
    InvalidKeyError,
    MemoryConfig,
    MemoryStorage,
    StorageClosedError,
    StorageEvent,
    StorageQuotaExceededError,
    SyncMemoryStorage,
    validate_key,
)
from memstore.types import LAZY_ETAG_LIMIT
from tests.faces import Make, memory_only, unwrap

pytestmark = pytest.mark.anyio


def in_thread(func: Any, *args: Any) -> None:
    """``anyio.run(func, *args)`` in a new thread with no event loop, joined."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            anyio.run(func, *args)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not errors, errors


# ---------------------------------------------------------- 3: no pinned contents
def md5(data: bytes) -> str:
    import hashlib

    return '"' + hashlib.md5(data).hexdigest() + '"'


@memory_only("counts references to in-process bytes")
@pytest.mark.parametrize("how", ["delete", "overwrite", "move-over", "clear", "close"])
async def test_a_held_stored_file_does_not_keep_deleted_contents_alive(make: Make, how: str) -> None:
    storage = make()
    payload = bytes(range(256)) * 100  # small enough for the lazy ETag
    assert len(payload) <= LAZY_ETAG_LIMIT
    baseline = sys.getrefcount(payload)
    held = [await storage.put("k", payload)]  # a put result ...
    held.append(await storage.info("k"))  # ... an info result ...
    held.extend([f async for f in storage.list()])  # ... and a listing, all kept
    events: list[StorageEvent] = []
    if how != "close":
        storage.subscribe(events.append)
    assert sys.getrefcount(payload) > baseline  # stored
    if how == "delete":
        await storage.delete("k")
    elif how == "overwrite":
        await storage.put("k", b"new")
    elif how == "move-over":
        await storage.put("other", b"o")
        await storage.move("other", "k")
    elif how == "clear":
        await storage.clear()
    else:
        await storage.close()
    gc.collect()
    assert sys.getrefcount(payload) == baseline  # no StoredFile pins the old contents
    for file in held:
        assert file.etag == md5(payload)  # and each still knows its ETag


async def test_an_unread_lazy_etag_of_a_dropped_file_costs_nothing_later(make: Make) -> None:
    storage = make()
    for i in range(100):
        await storage.put(f"k{i}", b"x" * i)
    await storage.clear()  # nobody holds those files: nothing to compute, nothing kept
    file = await storage.put("k", b"abc")
    assert file.etag == md5(b"abc")


# ---------------------------------------------------- 4: invisible format chars
@pytest.mark.parametrize(
    "char",
    ["\u00ad", "\u061c", "\u180e", "\ufff9", "\ufffa", "\ufffb", "\U000e0001", "\U000e0041", "\U000e007f"],
)
async def test_every_format_character_is_refused_in_keys(make: Make, char: str) -> None:
    key = f"a{char}b.txt"
    with pytest.raises(InvalidKeyError, match="invisible format character") as info:
        validate_key(key)
    assert f"U+{ord(char):04X}" in str(info.value)
    storage = make()
    with pytest.raises(InvalidKeyError):
        await storage.put(key, b"x")
    assert storage.usage.file_count == 0


async def test_visible_non_ascii_keys_still_work(make: Make) -> None:
    storage = make()
    for key in ["café/naïve.txt", "データ/ファイル", "emoji/😀.png", "ß"]:
        await storage.put(key, b"x")
    assert storage.usage.file_count == 4


# ------------------------------------------- 6: a listing interrupted by close()
async def test_a_listing_interrupted_by_close_raises_closed(make: Make) -> None:
    storage = make()
    for i in range(1000):  # four pages of 256
        await storage.put(f"k{i:04d}", b"x")
    listing = storage.list()
    seen = [await listing.__anext__() for _ in range(10)]
    assert len(seen) == 10
    await storage.close()
    with pytest.raises(StorageClosedError, match=f"this {type(unwrap(storage)).__name__} is closed"):
        async for _ in listing:
            pass


# ---------------------------------------------------- 11: close is the last event
@memory_only("events: Redis delivers them later, from a thread (tests/test_redis_events.py)")
async def test_close_is_delivered_after_the_events_of_earlier_writes(make: Make) -> None:
    storage = make()
    core = unwrap(storage)
    order: list[str] = []
    gate = threading.Event()
    writing = threading.Event()

    def subscriber(event: StorageEvent) -> None:
        if event.kind == "put":
            writing.set()
            assert gate.wait(60)  # a slow subscriber, still busy with the put event
        order.append(event.kind)

    storage.subscribe(subscriber)
    writer = threading.Thread(target=lambda: anyio.run(lambda: storage.put("a", b"1")))
    writer.start()
    assert writing.wait(60)
    closer = threading.Thread(target=lambda: anyio.run(storage.close))
    closer.start()
    deadline = time.monotonic() + 60
    while not core.closed and time.monotonic() < deadline:  # close() has begun ...
        time.sleep(0.001)
    gate.set()  # ... and only now may the put event's delivery finish
    writer.join(60)
    closer.join(60)
    assert order == ["put", "close"]


def test_a_subscriber_may_close_the_storage_from_its_callback() -> None:
    storage = SyncMemoryStorage()
    order: list[str] = []

    def subscriber(event: StorageEvent) -> None:
        order.append(event.kind)
        if event.kind == "put":
            storage.close()  # must not wait for its own delivery

    storage.subscribe(subscriber)
    storage.put("a", b"1")
    assert order == ["put", "close"]


# ---------------------------------------------------- 12: huge config values
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_size": 2**40}, "chunk_size must be <= 1,073,741,824"),
        ({"chunk_size": 2**63}, "chunk_size must be <="),
        ({"max_size": 2**63}, "max_size must be <= 9,223,372,036,854,775,807"),
        ({"max_size": 2**1100}, "1101-bit number"),
        ({"offload_threshold": 2**64}, "offload_threshold must be <="),
    ],
)
def test_huge_config_values_are_refused_at_construction(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MemoryConfig(**kwargs)


@memory_only("MemoryConfig's limits (a 1 GiB chunk is over a Redis string's 512 MiB)")
async def test_the_largest_accepted_values_work(make: Make) -> None:
    storage = make(MemoryConfig(max_size=2**63 - 1, chunk_size=2**30, offload_threshold=2**63 - 1))
    await storage.put("a", b"abc")
    assert [c async for c in storage.get("a")] == [b"abc"]
    assert "max_size=9223372036854775807" in repr(storage)
    assert "used" in unwrap(storage)._repr_html_()


# --------------------------------------- 13: any buffer; 14: str subclasses
async def test_any_c_contiguous_buffer_is_stored_as_its_bytes(make: Make) -> None:
    storage = make()
    await storage.put("b", array.array("B", b"abc"))
    await storage.put("i", array.array("i", [1, 2, 3]))
    assert await storage.get_bytes("b") == b"abc"
    assert await storage.get_bytes("i") == array.array("i", [1, 2, 3]).tobytes()
    assert (await storage.info("i")).size == 3 * array.array("i").itemsize


class Folder(str, enum.Enum):
    DATA = "data/"


async def test_list_takes_str_subclasses_like_every_key_argument(make: Make) -> None:
    storage = make()
    await storage.put("data/a", b"1")
    await storage.put("other", b"2")
    assert [f.key async for f in storage.list(Folder.DATA)] == ["data/a"]
    assert await storage.count(Folder.DATA) == 1
    assert [f.key for f in await storage.list_page(Folder.DATA)] == ["data/a"]


# ----------------------------------------------- 8: no inline flag in subscribers
def test_a_subscriber_running_its_own_loop_gets_real_offloads() -> None:
    """A sync put's subscriber that starts its own event loop gets the async core as it is:
    big work offloaded to a thread, so other tasks run meanwhile (no inline mode leaks in)."""
    storage = SyncMemoryStorage(MemoryConfig(offload_threshold=1024))
    big = bytearray(b"z" * 200_000)
    seen: list[bool] = []

    def subscriber(event: StorageEvent) -> None:
        if event.key != "trigger":
            return

        async def inside() -> None:
            other = MemoryStorage(MemoryConfig(offload_threshold=1024))
            ran = anyio.Event()

            async def heartbeat() -> None:
                ran.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(heartbeat)
                await other.put("big", big)  # offloaded: the heartbeat runs meanwhile
                seen.append(ran.is_set())
            await other.close()

        anyio.run(inside)

    storage.subscribe(subscriber)
    thread = threading.Thread(target=storage.put, args=("trigger", b"x"))  # no loop in that thread
    thread.start()
    thread.join(60)
    storage.close()
    assert seen == [True]


# ------------------------------------------------------ sync face: its own bugs
@pytest.fixture
def sync_storage() -> Iterator[SyncMemoryStorage]:
    with SyncMemoryStorage(MemoryConfig(max_size=100)) as s:
        yield s


def test_a_sync_generator_is_closed_when_put_fails(sync_storage: SyncMemoryStorage) -> None:
    closed: list[str] = []

    def chunks() -> Iterator[bytes]:
        try:
            while True:
                yield b"x" * 40
        finally:
            closed.append("finally ran")

    with pytest.raises(StorageQuotaExceededError):
        sync_storage.put("k", chunks())
    assert closed == ["finally ran"]  # before put() raised, not at garbage collection
    assert not sync_storage.exists("k")

    def bad() -> Iterator[Any]:
        try:
            yield b"ok"
            yield "not bytes"
        finally:
            closed.append("bad closed")

    with pytest.raises(TypeError, match="bytes-like chunks, not str"):
        sync_storage.put("k", bad())
    assert closed[-1] == "bad closed"


@pytest.mark.skipif(sys.platform == "win32", reason="os.set_blocking on pipes")
def test_a_non_blocking_file_is_refused_never_truncated(sync_storage: SyncMemoryStorage) -> None:
    import os

    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"partial")
    os.set_blocking(read_fd, False)
    with os.fdopen(read_fd, "rb") as reader, pytest.raises(ValueError, match="non-blocking"):
        sync_storage.put("k", reader)
    os.close(write_fd)
    assert not sync_storage.exists("k")


def test_a_reader_that_returns_none_is_refused(sync_storage: SyncMemoryStorage) -> None:
    class NotReady:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, size: int = -1) -> bytes | None:
            self.calls += 1
            return b"first" if self.calls == 1 else None

    with pytest.raises(ValueError, match="truncated"):
        sync_storage.put("k", NotReady())  # type: ignore[arg-type]
    assert not sync_storage.exists("k")


def test_a_loop_bound_stream_raises_naming_the_nested_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("memstore._portal.STALL_TIMEOUT", 0.5)

    async def cell() -> None:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def from_queue() -> AsyncIterator[bytes]:
            while (item := await queue.get()) is not None:
                yield item

        async def producer() -> None:  # runs on this loop, which the blocking put stalls
            await queue.put(b"never read")
            await queue.put(None)

        task = asyncio.ensure_future(producer())
        with SyncMemoryStorage() as s:
            started = time.monotonic()
            with pytest.raises(RuntimeError, match='runner="nested"') as info:
                s.put("q", from_queue())
            assert time.monotonic() - started < 30  # bounded, not forever
            assert "Nothing was stored" in str(info.value)
            assert not s.exists("q")
        await task

    asyncio.run(cell())


def test_exit_never_waits_for_a_stream_in_flight(tmp_path: Any) -> None:
    import subprocess

    script = tmp_path / "exit.py"
    script.write_text(
        "import threading, anyio\n"
        "from memstore import SyncMemoryStorage\n"
        "started = threading.Event()\n"
        "async def endless():\n"
        "    started.set()\n"
        "    while True:\n"
        "        yield b'x'\n"
        "        await anyio.sleep(0.01)\n"
        "s = SyncMemoryStorage()\n"
        "threading.Thread(target=s.put, args=('k', endless()), daemon=True).start()\n"
        "started.wait(30)\n"
        "print('exiting')\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.strip() == "exiting"
    assert done.returncode == 0, done.stderr
