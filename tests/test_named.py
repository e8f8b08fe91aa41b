"""Named storages: ``MemoryStorage.named`` and ``SyncMemoryStorage.named``, a process-wide registry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from memstore import ConfigurationError, MemoryConfig, MemoryStorage, StorageClosedError, SyncMemoryStorage
from memstore.memory import _registry
from tests.faces import FACES

pytestmark = pytest.mark.anyio


@pytest.fixture(params=FACES)
def named(request: pytest.FixtureRequest) -> Iterator[Any]:
    """``named(name, config=None)`` on the face under test; closes every name it used."""
    face = str(request.param)
    used: list[str] = []

    def make(name: Any, config: MemoryConfig | None = None) -> Any:
        used.append(name)
        if face == "async":
            return MemoryStorage.named(name, config)
        return SyncMemoryStorage.named(name, config)

    yield make
    for name in used:
        if isinstance(name, str):
            drop(name)


def drop(name: str) -> None:
    """Close the storage registered as ``name``, if any (test clean-up, no event loop needed)."""
    storage = _registry.lookup(name)
    if storage is not None:
        storage._engine.close()
        _registry.forget(storage)


async def call(storage: Any, method: str, *args: Any) -> Any:
    """Call ``method`` on either face and return its result."""
    result = getattr(storage, method)(*args)
    if isinstance(storage, MemoryStorage):
        return await result
    return result


async def close(storage: Any) -> None:
    await call(storage, "close")


async def test_the_same_name_gives_the_same_files(named: Any) -> None:
    first = named("t-same")
    await call(first, "put", "a.txt", b"hello")
    again = named("t-same")
    assert await call(again, "get_bytes", "a.txt") == b"hello"
    assert again.name == first.name == "t-same"
    if isinstance(first, MemoryStorage):
        assert again is first
    else:  # a new facade over the same core
        assert again.async_storage is first.async_storage


async def test_async_and_sync_named_share_one_storage(named: Any) -> None:
    storage = named("t-shared")
    await call(storage, "put", "k", b"v")
    assert await MemoryStorage.named("t-shared").get_bytes("k") == b"v"
    assert SyncMemoryStorage.named("t-shared").get_bytes("k") == b"v"
    assert _registry.lookup("t-shared") is MemoryStorage.named("t-shared")


async def test_config_none_takes_the_existing_storage_as_it_is(named: Any) -> None:
    config = MemoryConfig(max_size=100)
    storage = named("t-config", config)
    assert storage.config == config
    assert named("t-config").config == config
    assert named("t-config", MemoryConfig(max_size=100)).config == config  # an equal config is fine


async def test_a_different_config_raises_naming_both(named: Any) -> None:
    storage = named("t-clash", MemoryConfig(max_size=100))
    await call(storage, "put", "a", b"1")
    with pytest.raises(ConfigurationError) as info:
        named("t-clash", MemoryConfig(max_size=200))
    message = str(info.value)
    assert "'t-clash'" in message
    assert "max_size=100" in message
    assert "max_size=200" in message
    # nothing changed: the storage is still there with its files and its config
    again = named("t-clash")
    assert again.config.max_size == 100
    assert await call(again, "get_bytes", "a") == b"1"


async def test_closing_frees_the_name(named: Any) -> None:
    storage = named("t-close")
    await call(storage, "put", "a", b"1")
    await close(storage)
    assert storage.closed
    assert _registry.lookup("t-close") is None
    assert "t-close" not in _registry.names()
    fresh = named("t-close", MemoryConfig(max_size=5))  # a new storage: any config
    assert not fresh.closed
    assert await call(fresh, "exists", "a") is False
    assert fresh.config.max_size == 5


async def test_closing_the_async_storage_closes_sync_facades_and_frees_the_name() -> None:
    facade = SyncMemoryStorage.named("t-close-core")
    other = SyncMemoryStorage.named("t-close-core")
    facade.put("a", b"1")
    await MemoryStorage.named("t-close-core").close()
    assert facade.closed
    assert other.closed
    with pytest.raises(StorageClosedError):
        facade.get_bytes("a")
    assert _registry.lookup("t-close-core") is None
    fresh = SyncMemoryStorage.named("t-close-core")
    try:
        assert fresh.exists("a") is False
    finally:
        fresh.close()


async def test_closing_a_sync_named_facade_closes_the_storage() -> None:
    core = MemoryStorage.named("t-close-facade")
    facade = SyncMemoryStorage.named("t-close-facade")
    facade.close()
    assert core.closed
    assert _registry.lookup("t-close-facade") is None
    assert MemoryStorage.named("t-close-facade") is not core
    await MemoryStorage.named("t-close-facade").close()


async def test_a_storage_closed_behind_the_registrys_back_is_replaced() -> None:
    core = MemoryStorage.named("t-lazy")
    core._engine.close()  # closed without forget(): the registry notices on the next lookup
    assert _registry.lookup("t-lazy") is None
    fresh = MemoryStorage.named("t-lazy")
    assert fresh is not core
    assert not fresh.closed
    await fresh.close()


async def test_constructor_storages_stay_anonymous() -> None:
    async with MemoryStorage() as storage:
        assert storage.name is None
        assert "name=" not in repr(storage)
    with SyncMemoryStorage() as sync:
        assert sync.name is None
        assert "name=" not in repr(sync)
    before = _registry.names()
    MemoryStorage()
    assert _registry.names() == before


async def test_repr_shows_the_name(named: Any) -> None:
    storage = named("t-repr")
    await call(storage, "put", "a", b"12")
    text = repr(storage)
    assert text == f"{type(storage).__name__}(name='t-repr', files=1, used_bytes=2, max_size=None)"
    await close(storage)
    assert repr(storage) == f"{type(storage).__name__}(name='t-repr', closed)"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Lab",  # URL parsers lowercase a host
        "a/b",
        "a:1",
        "user@host",
        "a b",
        "-lab",
        "lab-",
        "lab.",
        "_lab",
        "x" * 64,
        "läb",
        "a?b",
        "a#b",
    ],
)
async def test_names_break_the_rule(named: Any, name: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid storage name") as info:
        named(name)
    assert repr(name)[:40] in str(info.value)
    assert "lowercase ASCII letters" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert _registry.lookup(name) is None


@pytest.mark.parametrize("name", ["lab", "a", "0", "run-2024.01", "scratch_1", "x" * 63])
async def test_names_that_follow_the_rule(named: Any, name: str) -> None:
    storage = named(name)
    assert storage.name == name
    assert name in _registry.names()


async def test_bad_argument_types(named: Any) -> None:
    with pytest.raises(TypeError, match="name must be a str, not int"):
        named(1)
    with pytest.raises(TypeError, match="config must be a MemoryConfig or None, not dict"):
        named("t-types", {"max_size": 1})
    assert _registry.lookup("t-types") is None


def test_concurrent_named_calls_make_one_storage() -> None:
    got: list[MemoryStorage] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait(timeout=30)
        got.append(MemoryStorage.named("t-race"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(got) == 8
    assert all(storage is got[0] for storage in got)
    drop("t-race")
