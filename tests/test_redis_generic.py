"""The Redis backend beyond the contract suite: event loops, packed script arguments, and the
generic features (save/load, zarr, fsspec) working on it through the contract."""

from __future__ import annotations

import asyncio
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# ------------------------------------------------------------- save and load
def _fill_sample(storage: SyncRedisStorage) -> dict[str, bytes]:
    files = {
        "reports/q3.txt": b"Revenue went up.",
        "images/logo.png": b"\x89PNG" + bytes(range(256)) * 20,
        "empty": b"",
        "big/blob.bin": os.urandom(5_000),  # several chunks of 1,000 bytes
    }
    for key, data in files.items():
        storage.put(key, data, metadata={"from": key})
    return files


def _listing(files: Any) -> list[tuple[str, int, str, str | None, dict[str, str]]]:
    return [(f.key, f.size, f.content_type, f.etag, dict(f.metadata)) for f in files]


def test_save_on_redis_loads_into_memory_and_back_into_redis(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    from memstore import SyncMemoryStorage

    source_config = config_for(redis_server, chunk_size=1_000)
    path = tmp_path / "store.tar"
    with SyncRedisStorage(source_config) as source:
        files = _fill_sample(source)
        info = source.save(path)
        expected = _listing(source.list())
        assert info.file_count == 4
        assert info.bytes_written == path.stat().st_size
        assert info.path == str(path)
    with tarfile.open(path) as tar:  # a plain tar file
        assert tar.getnames()[0] == "memstore.json"
    loaded = SyncMemoryStorage.load(path)  # memory's loader verifies every checksum
    assert _listing(loaded.list()) == expected
    assert {key: loaded.get_bytes(key) for key in files} == files
    with SyncRedisStorage.load(path, config_for(redis_server)) as again:
        assert _listing(again.list()) == expected
        assert {key: again.get_bytes(key) for key in files} == files
        assert again.check() == []
        assert again.get_usage().used_bytes == sum(map(len, files.values()))


@pytest.mark.anyio
async def test_the_async_face_saves_and_loads(redis_server: RedisServer, tmp_path: Path) -> None:
    from memstore import MemoryStorage

    memory = MemoryStorage()
    await memory.put("a/1.txt", b"one", metadata={"n": "1"})
    await memory.put("a/2.bin", os.urandom(3_000))
    path = tmp_path / "memory.tar"
    await memory.save(path)
    redis = await RedisStorage.load(path, config_for(redis_server, chunk_size=1_000))
    try:
        assert _listing([f async for f in redis.list()]) == _listing([f async for f in memory.list()])
        assert await redis.get_bytes("a/2.bin") == await memory.get_bytes("a/2.bin")
        out = tmp_path / "redis.tar"
        info = await redis.save(out)
        assert info.file_count == 2
        back = await MemoryStorage.load(out)
        assert await back.get_bytes("a/1.txt") == b"one"
        assert (await back.info("a/1.txt")).metadata == {"n": "1"}
    finally:
        await redis.clear()
        await redis.close()


def test_load_refuses_a_namespace_that_holds_files(redis_server: RedisServer, tmp_path: Path) -> None:
    from memstore import ConfigurationError, SyncMemoryStorage

    path = tmp_path / "s.tar"
    memory = SyncMemoryStorage()
    memory.put("new", b"x")
    memory.save(path)
    config = config_for(redis_server)
    with SyncRedisStorage(config) as storage:
        storage.put("old", b"kept")
        with pytest.raises(ConfigurationError, match="holds 1 files"):
            SyncRedisStorage.load(path, config)
        assert [f.key for f in storage.list()] == ["old"]
        storage.clear()


def test_a_bad_archive_or_quota_leaves_the_namespace_untouched(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    from memstore import StorageFormatError, StorageQuotaExceededError, SyncMemoryStorage

    path = tmp_path / "s.tar"
    memory = SyncMemoryStorage()
    memory.put("a", b"x" * 100)
    memory.put("b", b"y" * 100)
    memory.save(path)
    config = config_for(redis_server, max_size=150)
    with pytest.raises(StorageQuotaExceededError):
        SyncRedisStorage.load(path, config)
    data = path.read_bytes()
    path.write_bytes(data[:1500])
    with pytest.raises(StorageFormatError, match="truncated"):
        SyncRedisStorage.load(path, config_for(redis_server))
    with SyncRedisStorage(config) as storage:
        assert storage.get_usage().file_count == 0
        assert storage.check() == []


def test_a_load_that_fails_half_way_removes_the_files_it_put(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    from memstore import StorageFileExistsError, SyncMemoryStorage

    path = tmp_path / "s.tar"
    memory = SyncMemoryStorage()
    for i in range(5):
        memory.put(f"k{i}", b"v" * i)
    memory.save(path)
    config = config_for(redis_server)

    class Racing(SyncRedisStorage):
        """Another client creates k3 just before this load puts it."""

        def put(self, key: str, data: Any, **kwargs: Any) -> Any:
            if key == "k3":
                with SyncRedisStorage(self.config) as other:
                    other.put("k3", b"the other client's")
            return super().put(key, data, **kwargs)

    with pytest.raises(StorageFileExistsError):
        Racing.load(path, config)
    with SyncRedisStorage(config) as storage:
        assert [f.key for f in storage.list()] == ["k3"]
        assert storage.get_bytes("k3") == b"the other client's"
        assert storage.check() == []
        storage.clear()


def test_a_save_reads_again_a_file_replaced_while_it_was_read(tmp_path: Path) -> None:
    """The generic save checks each file's bytes against its info: a changed file is read again."""
    from memstore import SyncMemoryStorage, _archive

    inner = SyncMemoryStorage()
    inner.put("a", b"old contents")
    inner.put("b", b"stays")
    replaced: list[str] = []

    class Busy:
        """The storage contract, with another client replacing "a" between info() and get()."""

        def list(self) -> Any:
            return inner.list()

        def info(self, key: str) -> Any:
            return inner.info(key)

        def get(self, key: str) -> Any:
            if key == "a" and not replaced:
                replaced.append(key)
                inner.put("a", b"new, longer contents")
            return inner.get(key)

    target, size, count = _archive.save_storage(Busy(), str(tmp_path / "busy.tar"))
    assert (count, size) == (2, os.path.getsize(target))
    loaded = SyncMemoryStorage.load(target)
    assert loaded.get_bytes("a") == b"new, longer contents"
    assert loaded.info("a").etag == inner.info("a").etag
    assert loaded.get_bytes("b") == b"stays"


# ---------------------------------------------------------------- pickling
def test_a_redis_storage_pickles_as_a_handle_on_the_same_namespace(config: RedisConfig) -> None:
    import pickle

    with SyncRedisStorage(config) as storage:
        storage.put("shared.txt", b"seen by every handle")
        again = pickle.loads(pickle.dumps(storage))
        assert isinstance(again, SyncRedisStorage)
        assert again is not storage
        assert again.config == config
        assert again.get_bytes("shared.txt") == b"seen by every handle"
        again.close()
        assert not storage.closed  # a handle of its own
    core = pickle.loads(pickle.dumps(RedisStorage(config)))
    assert isinstance(core, RedisStorage)
    assert asyncio.run(core.get_bytes("shared.txt")) == b"seen by every handle"
    asyncio.run(core.close())


def test_as_async_gives_an_async_storage_on_the_same_files(config: RedisConfig) -> None:
    with SyncRedisStorage(config) as storage:
        twin = storage.as_async()
        assert isinstance(twin, RedisStorage)
        assert twin.config == config
        asyncio.run(twin.put("from-async", b"1"))
        assert storage.get_bytes("from-async") == b"1"
        asyncio.run(twin.close())
        assert not storage.closed
