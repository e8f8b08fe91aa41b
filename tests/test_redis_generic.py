"""The Redis backend beyond the contract suite: event loops, packed script arguments, and the
generic features (save/load, zarr, fsspec) working on it through the contract."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from memstore.redis import RedisConfig, RedisStorage, SyncRedisStorage
from memstore.redis._faces import pack_args
from tests.redis_server import RedisServer

_names = iter(range(10**9))


def config_for(server: RedisServer, **kwargs: object) -> RedisConfig:
    return RedisConfig(server.url, namespace=f"g{os.getpid()}-{next(_names)}", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def config(redis_server: RedisServer) -> Iterator[RedisConfig]:
    config = config_for(redis_server)
    yield config
    with SyncRedisStorage(config) as storage:
        storage.clear()


# ------------------------------------------------------------- event loops
def test_the_async_face_works_from_one_event_loop_after_another(config: RedisConfig) -> None:
    storage = RedisStorage(config)

    async def put_and_read(value: bytes) -> bytes:
        await storage.put("a", value)
        return await storage.get_bytes("a")

    # Each asyncio.run is a new loop: a client bound to a finished loop would never answer.
    assert asyncio.run(put_and_read(b"1")) == b"1"
    assert asyncio.run(put_and_read(b"2")) == b"2"
    assert asyncio.run(put_and_read(b"3")) == b"3"
    trio = pytest.importorskip("trio")
    assert trio.run(put_and_read, b"4") == b"4"
    assert trio.run(put_and_read, b"5") == b"5"
    asyncio.run(storage.close())
    assert storage.closed
    with SyncRedisStorage(config) as twin:
        assert twin.get_bytes("a") == b"5"
        assert twin.check() == []


def test_the_async_face_serves_two_running_loops_at_once(config: RedisConfig) -> None:
    import threading

    storage = RedisStorage(config)
    ready = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []

    async def other_loop() -> None:
        await storage.put("other", b"from another thread's loop")
        ready.set()
        while not done.is_set():
            await storage.get_bytes("other")
            await asyncio.sleep(0.001)

    def run_other() -> None:
        try:
            asyncio.run(other_loop())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=run_other)
    thread.start()
    try:
        assert ready.wait(60)

        async def here() -> list[bytes]:
            return [await storage.get_bytes("other") for _ in range(20)]

        assert asyncio.run(here()) == [b"from another thread's loop"] * 20
    finally:
        done.set()
        thread.join(60)
    assert not errors
    asyncio.run(storage.close())


# ------------------------------------------------------- packed arguments
def test_pack_args_keeps_bytes_apart_and_refuses_to_pack_text_with_nul() -> None:
    packed = pack_args("ms:{n}:", ("key", "", "7", b"\x00data", "x"))
    assert packed == ["\x005\x00ms:{n}:\x00key\x00\x007\x00\x00x", b"\x00data"]
    assert pack_args("P", ("a\x00b", "c")) == ["P", "a\x00b", "c"]


def test_text_with_nul_and_bytes_with_separators_round_trip(config: RedisConfig) -> None:
    with SyncRedisStorage(config) as storage:
        storage.put("doc", b"\x00\x00x\x00", content_type="text/\x01odd", metadata={"k": "\x00v"})
        storage.put("doc2", b"", content_type="a\x00b")
        assert storage.get_bytes("doc") == b"\x00\x00x\x00"
        assert storage.info("doc").content_type == "text/\x01odd"
        assert storage.info("doc").metadata == {"k": "\x00v"}
        assert storage.info("doc2").content_type == "a\x00b"
        assert [f.key for f in storage.list("doc")] == ["doc", "doc2"]
        assert storage.check() == []


def test_list_dir_skips_large_sub_folders(config: RedisConfig) -> None:
    with SyncRedisStorage(config) as storage:
        for i in range(5):
            storage.put(f"d/f{i}", b"x")
        for folder in range(30):
            for i in range(folder % 7):
                storage.put(f"d/s{folder:02d}/{i}", b"y")
        storage.put("d/s99", b"z")  # a file after the folders
        listing = storage.list_dir("d/")
        expected = [f"d/s{folder:02d}/" for folder in range(30) if folder % 7]
        assert list(listing.prefixes) == expected
        assert [f.key for f in listing.files] == [f"d/f{i}" for i in range(5)] + ["d/s99"]
