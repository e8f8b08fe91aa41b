"""``memstore.zarr.MemstoreStore`` over the Redis backend: zarr's own store suite, arrays
written by one face and read by the other, pickling for another process."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from typing import Any

import pytest

zarr = pytest.importorskip("zarr")
np = pytest.importorskip("numpy")

from zarr.core.buffer import Buffer, cpu  # noqa: E402
from zarr.core.sync import sync as zarr_sync  # noqa: E402
from zarr.testing.store import StoreTests  # noqa: E402

from memstore import StorageQuotaExceededError  # noqa: E402
from memstore.redis import RedisConfig, RedisStorage, SyncRedisStorage  # noqa: E402
from memstore.zarr import MemstoreStore  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

pytestmark = pytest.mark.anyio

_names = iter(range(10**9))


def config_for(server: RedisServer, **kwargs: Any) -> RedisConfig:
    return RedisConfig(server.url, namespace=f"z{os.getpid()}-{next(_names)}", **kwargs)


class TestMemstoreStoreOnRedis(StoreTests[MemstoreStore, cpu.Buffer]):
    """zarr's ``StoreTests`` on a RedisStorage, with and without a prefix."""

    store_cls = MemstoreStore
    buffer_cls = cpu.Buffer

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"  # zarr's suite runs on asyncio (zarr's own loop for its sync API)

    async def set(self, store: MemstoreStore, key: str, value: Buffer) -> None:
        await store.storage.put(store._key(key), value.to_bytes())

    async def get(self, store: MemstoreStore, key: str) -> Buffer:
        buffer: Buffer = self.buffer_cls.from_bytes(await store.storage.get_bytes(store._key(key)))
        return buffer

    @pytest.fixture(params=["", "deep/prefix"])
    def store_kwargs(
        self, request: pytest.FixtureRequest, redis_server: RedisServer
    ) -> Iterator[dict[str, Any]]:
        config = config_for(redis_server)
        storage = RedisStorage(config)
        yield {"storage": storage, "prefix": request.param}
        with SyncRedisStorage(config) as cleaner:
            assert cleaner.check() == []
            cleaner.clear()
        zarr_sync(storage.close())

    @pytest.fixture
    def store(self, open_kwargs: dict[str, Any]) -> MemstoreStore:
        opened: MemstoreStore = zarr_sync(self.store_cls.open(**open_kwargs))
        return opened

    @pytest.fixture
    def store_not_open(self, store_kwargs: dict[str, Any]) -> MemstoreStore:
        return self.store_cls(**store_kwargs)

    def test_store_repr(self, store: MemstoreStore) -> None:
        assert str(store).startswith("memstore://RedisStorage-")
        assert repr(store).startswith("MemstoreStore('memstore://RedisStorage-")

    def test_store_supports_writes(self, store: MemstoreStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: MemstoreStore) -> None:
        assert store.supports_listing


@pytest.fixture
def config(redis_server: RedisServer) -> Iterator[RedisConfig]:
    config = config_for(redis_server, max_size=4 << 20)
    yield config
    with SyncRedisStorage(config) as storage:
        assert storage.check() == []
        storage.clear()


def test_an_array_written_on_the_sync_face_is_read_through_the_async_one(config: RedisConfig) -> None:
    data = np.arange(10_000, dtype="f4").reshape(100, 100)
    with SyncRedisStorage(config) as face:
        store = MemstoreStore(face, prefix="arrays")
        assert isinstance(store.storage, RedisStorage)  # an async twin, with its own connection
        z = zarr.create_array(store, name="t", shape=data.shape, chunks=(10, 50), dtype="f4")
        z[:] = data
        assert face.exists("arrays/t/zarr.json")
        assert face.count("arrays/t/c/") == 20  # one key per chunk
        store.close()
        assert store.storage.closed
        assert not face.closed  # the storage given stays open
    core = RedisStorage(config)
    back = zarr.open_array(MemstoreStore(core, prefix="arrays"), path="t", mode="r")
    np.testing.assert_array_equal(back[:], data)
    np.testing.assert_array_equal(back[5:15, 40:60], data[5:15, 40:60])
    zarr_sync(core.close())


def test_the_quota_of_the_namespace_holds_for_arrays(config: RedisConfig) -> None:
    with SyncRedisStorage(config) as face:
        store = MemstoreStore(face)
        z = zarr.create_array(
            store, name="big", shape=(2_000_000,), chunks=(500_000,), dtype="f8", compressors=None
        )
        with pytest.raises(StorageQuotaExceededError):
            z[:] = np.ones(2_000_000)  # 16 MB into a 4 MiB quota
        assert face.get_usage().used_bytes <= 4 << 20
        store.close()


def test_a_store_over_redis_pickles_to_the_same_namespace(config: RedisConfig) -> None:
    with SyncRedisStorage(config) as face:
        store = MemstoreStore(face, prefix="p", read_only=True)
        again = pickle.loads(pickle.dumps(store))
        assert again.read_only
        assert again.prefix == "p"
        assert again.storage.config == config
        assert store.with_read_only(False) == MemstoreStore(face, prefix="p")
        face.put("p/zarr.json", b"{}")
        assert zarr_sync(again.exists("zarr.json"))
        again.close()
        store.close()


def test_closing_a_store_closes_the_connections_it_made(config: RedisConfig) -> None:
    core = RedisStorage(config)
    store = MemstoreStore(core)
    store.set_sync("k", cpu.Buffer.from_bytes(b"v"))  # zarr's sync path: a sync face of its own
    face = store._sync()
    assert isinstance(face, SyncRedisStorage)
    store.close()
    assert face.closed
    assert not core.closed  # the storage given stays open
    assert zarr_sync(core.get_bytes("k")) == b"v"
    zarr_sync(core.close())
