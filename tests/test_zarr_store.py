"""``memstore.zarr.MemstoreStore``: zarr's own store suite, and arrays written and read back."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import pytest

zarr = pytest.importorskip("zarr")
np = pytest.importorskip("numpy")

from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest  # noqa: E402
from zarr.core.buffer import Buffer, cpu, default_buffer_prototype  # noqa: E402
from zarr.core.sync import sync as zarr_sync  # noqa: E402
from zarr.testing.store import StoreTests  # noqa: E402

from memstore import (  # noqa: E402
    MemoryConfig,
    MemoryStorage,
    StorageEvent,
    StorageQuotaExceededError,
    SyncMemoryStorage,
)
from memstore.zarr import MemstoreStore  # noqa: E402

pytestmark = pytest.mark.anyio


class TestMemstoreStoreSuite(StoreTests[MemstoreStore, cpu.Buffer]):
    """zarr's ``StoreTests`` on a named storage, with and without a prefix."""

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
    def store_kwargs(self, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
        storage = MemoryStorage.named("zarr-suite")
        yield {"storage": storage, "prefix": request.param}
        storage._engine.close()  # a fresh storage for the next test
        MemoryStorage.named("zarr-suite")._engine.close()

    @pytest.fixture
    def store(self, open_kwargs: dict[str, Any]) -> MemstoreStore:  # sync tests use it too
        opened: MemstoreStore = zarr_sync(self.store_cls.open(**open_kwargs))
        return opened

    @pytest.fixture
    def store_not_open(self, store_kwargs: dict[str, Any]) -> MemstoreStore:
        return self.store_cls(**store_kwargs)

    def test_store_repr(self, store: MemstoreStore) -> None:
        suffix = f"/{store.prefix}" if store.prefix else ""
        assert str(store) == f"memstore://zarr-suite{suffix}"
        assert repr(store) == f"MemstoreStore('memstore://zarr-suite{suffix}', read_only=False)"

    def test_store_supports_writes(self, store: MemstoreStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: MemstoreStore) -> None:
        assert store.supports_listing


@pytest.fixture
def storage() -> Iterator[MemoryStorage]:
    storage = MemoryStorage.named("zarr-lab", MemoryConfig(max_size=4 << 20))
    yield storage
    storage._engine.close()
    MemoryStorage.named("zarr-lab")._engine.close()


async def test_byte_requests_are_range_reads(storage: MemoryStorage) -> None:
    store = MemstoreStore(storage, prefix="p")
    await storage.put("p/c/0", b"0123456789")
    proto = default_buffer_prototype()

    async def read(request: Any) -> bytes | None:
        buf = await store.get("c/0", proto, request)
        return None if buf is None else buf.to_bytes()

    assert await read(RangeByteRequest(2, 5)) == b"234"
    assert await read(OffsetByteRequest(7)) == b"789"
    assert await read(SuffixByteRequest(3)) == b"789"
    assert await read(SuffixByteRequest(0)) == b""
    assert await store.get("c/missing", proto) is None
    values = await store.get_partial_values(
        proto, [("c/0", RangeByteRequest(0, 2)), ("c/nope", None), ("c/0", SuffixByteRequest(1))]
    )
    assert [None if v is None else v.to_bytes() for v in values] == [b"01", None, b"9"]
    with pytest.raises(TypeError, match="Unexpected byte_range"):
        await store.get("c/0", proto, (0, 2))  # type: ignore[arg-type]


async def test_keys_live_under_the_prefix_and_delete_dir_is_one_step(storage: MemoryStorage) -> None:
    store = MemstoreStore(storage, prefix="/arrays/")
    assert store.prefix == "arrays"
    buf = cpu.Buffer.from_bytes(b"x")
    for key in ["a/zarr.json", "a/c/0", "a/c/1", "b/zarr.json"]:
        await store.set(key, buf)
    await storage.put("outside", b"1")
    assert [f.key async for f in storage.list("arrays/")] == [
        "arrays/a/c/0",
        "arrays/a/c/1",
        "arrays/a/zarr.json",
        "arrays/b/zarr.json",
    ]
    assert sorted([k async for k in store.list_dir("")]) == ["a", "b"]
    assert sorted([k async for k in store.list_dir("a")]) == ["c", "zarr.json"]
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    await store.delete_dir("a")
    assert [e.kind for e in events] == ["delete_prefix"]
    assert [k async for k in store.list()] == ["b/zarr.json"]
    assert await store.getsize_prefix("") == 1
    await store.clear()
    assert await storage.exists("outside")
    assert [k async for k in store.list()] == []


async def test_set_if_not_exists_is_create_only(storage: MemoryStorage) -> None:
    store = MemstoreStore(storage)
    await store.set_if_not_exists("k", cpu.Buffer.from_bytes(b"first"))
    await store.set_if_not_exists("k", cpu.Buffer.from_bytes(b"second"))
    assert await storage.get_bytes("k") == b"first"


async def test_store_arguments(storage: MemoryStorage) -> None:
    sync = SyncMemoryStorage.wrap(storage)
    try:
        assert MemstoreStore(sync).storage is storage
    finally:
        sync.close()
    assert MemstoreStore("zarr-lab").storage is storage
    with pytest.raises(TypeError, match="storage must be"):
        MemstoreStore(42)
    with pytest.raises(TypeError, match="prefix must be a str"):
        MemstoreStore(storage, prefix=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="zarr Buffer"):
        await MemstoreStore(storage).set("k", b"raw")  # type: ignore[arg-type]
    assert MemstoreStore(storage) != MemstoreStore(storage, prefix="x")
    assert MemstoreStore(storage) != MemstoreStore(MemoryStorage())


async def test_pickling_a_store_over_a_named_storage_keeps_the_name(storage: MemoryStorage) -> None:
    store = MemstoreStore(storage, prefix="p", read_only=True)
    again = pickle.loads(pickle.dumps(store))
    assert again == store
    assert again.storage is storage
    assert again.read_only


def test_create_array_write_read(storage: MemoryStorage) -> None:
    store = MemstoreStore(storage, prefix="arrays")
    data = np.arange(10_000, dtype="f4").reshape(100, 100)
    z = zarr.create_array(store, name="t", shape=data.shape, chunks=(10, 50), dtype="f4")
    z[:] = data
    sync = storage.as_sync()
    try:
        assert sync.exists("arrays/t/zarr.json")
        assert sync.count("arrays/t/c/") == 20  # one key per chunk
    finally:
        sync.close()
    back = zarr.open_array(store, path="t", mode="r")
    np.testing.assert_array_equal(back[:], data)
    np.testing.assert_array_equal(back[5:15, 40:60], data[5:15, 40:60])


def test_an_array_past_the_quota_raises_the_quota_error(storage: MemoryStorage) -> None:
    store = MemstoreStore(storage)
    z = zarr.create_array(
        store, name="big", shape=(2_000_000,), chunks=(500_000,), dtype="f8", compressors=None
    )
    with pytest.raises(StorageQuotaExceededError):
        z[:] = np.ones(2_000_000)  # 16 MB into a 4 MiB quota
    assert storage.usage.used_bytes <= 4 << 20


def test_xarray_round_trip(storage: MemoryStorage) -> None:
    xr = pytest.importorskip("xarray")
    ds = xr.Dataset(
        {"temperature": (("time", "x"), np.random.default_rng(1).random((24, 10)))},
        coords={"time": np.arange(24), "x": np.linspace(0, 1, 10)},
        attrs={"title": "lab"},
    )
    store = MemstoreStore(storage, prefix="ds")
    ds.to_zarr(store, zarr_format=3, consolidated=False)
    back = xr.open_zarr(store, consolidated=False)
    xr.testing.assert_identical(back.load(), ds)


def test_the_same_data_through_fsspec(storage: MemoryStorage) -> None:
    pytest.importorskip("fsspec")
    data = np.arange(100, dtype="i4")
    group = zarr.open_group(MemstoreStore(storage, prefix="grp"), mode="w")
    group.create_array("a", shape=(100,), chunks=(10,), dtype="i4")[:] = data
    through_url = zarr.open_group("memstore://zarr-lab/grp", mode="r")
    np.testing.assert_array_equal(through_url["a"][:], data)
    written = zarr.open_group("memstore://zarr-lab/grp2", mode="w")
    written.create_array("b", shape=(5,), dtype="i4")[:] = np.arange(5)
    native = zarr.open_group(MemstoreStore(storage, prefix="grp2"), mode="r")
    np.testing.assert_array_equal(native["b"][:], np.arange(5))
