"""fsspec over one storage of any backend (``MemstoreFileSystem(storage=...)``), here a Redis
namespace: fsspec's own abstract suite, pandas through ``storage_options``, pickling for dask."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("fsspec")

import fsspec
import fsspec.tests.abstract as abstract
from fsspec.tests.abstract import AbstractFixtures

from memstore import MemoryStorage, StorageQuotaExceededError, SyncMemoryStorage
from memstore.fsspec import MemstoreFileSystem
from memstore.redis import RedisConfig, RedisStorage, SyncRedisStorage
from tests.redis_server import RedisServer

_names = iter(range(10**9))


def config_for(server: RedisServer, **kwargs: Any) -> RedisConfig:
    return RedisConfig(server.url, namespace=f"f{os.getpid()}-{next(_names)}", **kwargs)


class RedisFixtures(AbstractFixtures):  # type: ignore[misc]
    @pytest.fixture(scope="class")
    @classmethod
    def fs(cls, redis_server: RedisServer) -> Iterator[MemstoreFileSystem]:
        config = config_for(redis_server)
        storage = SyncRedisStorage(config)
        yield MemstoreFileSystem(storage=storage, skip_instance_cache=True)
        assert storage.check() == []
        storage.clear()
        storage.close()

    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return lambda *args: "/".join(args)

    @pytest.fixture
    def fs_path(self) -> str:
        return "suite"

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False


class TestRedisCopy(abstract.AbstractCopyTests, RedisFixtures):  # type: ignore[misc]
    pass


class TestRedisGet(abstract.AbstractGetTests, RedisFixtures):  # type: ignore[misc]
    pass


class TestRedisPut(abstract.AbstractPutTests, RedisFixtures):  # type: ignore[misc]
    pass


class TestRedisPipe(abstract.AbstractPipeTests, RedisFixtures):  # type: ignore[misc]
    pass


class TestRedisOpen(abstract.AbstractOpenTests, RedisFixtures):  # type: ignore[misc]
    pass


@pytest.fixture
def shared(redis_server: RedisServer) -> Iterator[SyncRedisStorage]:
    storage = SyncRedisStorage(config_for(redis_server, max_size=8 << 20))
    yield storage
    assert storage.check() == []
    storage.clear()
    storage.close()


def test_paths_are_the_keys_of_the_storage_given(shared: SyncRedisStorage) -> None:
    fs = MemstoreFileSystem(storage=shared)
    fs.pipe("memstore://reports/q3.txt", b"Revenue went up.")
    assert shared.get_bytes("reports/q3.txt") == b"Revenue went up."
    shared.put("reports/2024/q1.txt", b"older")
    assert fs.ls("", detail=False) == ["reports"]
    assert fs.ls("reports", detail=False) == ["reports/2024", "reports/q3.txt"]
    assert fs.find("") == ["reports/2024/q1.txt", "reports/q3.txt"]
    assert fs.info("reports/q3.txt")["size"] == 16
    assert fs.isdir("reports/2024")
    assert fs.du("reports") == 21
    with fs.open("reports/q3.txt", "rb") as f:
        assert f.read(7) == b"Revenue"
    assert not shared.closed  # reading used the storage given, and left it open
    with fs.open("reports/new.txt", "wb") as f:
        f.write(b"streamed")
        assert not shared.exists("reports/new.txt")  # committed on close, in one step
    assert shared.get_bytes("reports/new.txt") == b"streamed"
    fs.rm("reports", recursive=True)
    assert shared.get_usage().file_count == 0


def test_a_filesystem_is_cached_per_storage_and_per_namespace(shared: SyncRedisStorage) -> None:
    first = fsspec.filesystem("memstore", storage=shared)
    assert fsspec.filesystem("memstore", storage=shared) is first
    with SyncRedisStorage(shared.config) as other_handle:  # the same namespace: the same files
        assert fsspec.filesystem("memstore", storage=other_handle) is first
    memory = MemoryStorage()
    assert fsspec.filesystem("memstore", storage=memory) is not first
    assert fsspec.filesystem("memstore") is not first  # the named memory storages, unchanged


def test_a_filesystem_over_redis_pickles_to_the_same_namespace(shared: SyncRedisStorage) -> None:
    fs = MemstoreFileSystem(storage=shared)
    fs.pipe("a.txt", b"one")
    again = pickle.loads(pickle.dumps(fs))
    assert again.cat("a.txt") == b"one"
    again.pipe("b.txt", b"two")
    assert shared.get_bytes("b.txt") == b"two"


def test_the_async_face_and_a_memory_storage_can_be_given(redis_server: RedisServer) -> None:
    config = config_for(redis_server)
    core = RedisStorage(config)
    fs = MemstoreFileSystem(storage=core, skip_instance_cache=True)
    fs.pipe("x/y", b"z")
    assert fs.cat("x/y") == b"z"
    with SyncRedisStorage(config) as face:
        assert face.get_bytes("x/y") == b"z"
        face.clear()
    memory = SyncMemoryStorage()
    fs = MemstoreFileSystem(storage=memory, skip_instance_cache=True)
    fs.pipe("k", b"v")
    assert memory.get_bytes("k") == b"v"
    with pytest.raises(TypeError, match="storage must be a memstore storage"):
        MemstoreFileSystem(storage=42, skip_instance_cache=True)


def test_pandas_through_storage_options(shared: SyncRedisStorage) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = pd.DataFrame({"x": range(1000), "y": [i * 0.5 for i in range(1000)]})
    options = {"storage": shared}
    df.to_parquet("memstore://frames/df.parquet", storage_options=options)
    assert shared.info("frames/df.parquet").size > 0
    back = pd.read_parquet("memstore://frames/df.parquet", storage_options=options)
    pd.testing.assert_frame_equal(back, df)
    big = pd.DataFrame({"v": [os.urandom(1024) for _ in range(12 << 10)]})  # 12 MiB: over the 8 MiB quota
    with pytest.raises(StorageQuotaExceededError):
        big.to_parquet("memstore://frames/big.parquet", storage_options=options, compression=None)
    assert not shared.exists("frames/big.parquet")


def test_folders_and_errors_on_a_filesystem_of_one_storage(shared: SyncRedisStorage) -> None:
    fs = MemstoreFileSystem(storage=shared)
    fs.mkdir("made/by/mkdir")  # object-store folders need no creation
    assert shared.get_usage().file_count == 0
    with pytest.raises(FileNotFoundError):
        fs.ls("missing")
    with pytest.raises(FileNotFoundError):
        fs.cat("missing.txt")
    with pytest.raises(IsADirectoryError):
        fs.pipe("", b"x")
    fs.pipe("only.txt", b"1", mode="create")
    with pytest.raises(FileExistsError):
        fs.pipe("only.txt", b"2", mode="create")
    assert fs.info("")["type"] == "directory"
    assert fs.du("") == 1
    fs.rm("", recursive=True)  # the whole storage
    assert shared.get_usage().file_count == 0
