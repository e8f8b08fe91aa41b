# mypy: disable-error-code="override"
# (the minimal backends here implement only the reference library's API, on purpose)
"""The contract's defaults: a backend with only the seven core methods works everywhere.

As in the reference library, ``BaseStorage`` turns ``put/get/delete/exists/list/url/info``
into ``get_bytes``, ``copy`` and ``move``; memstore adds the queries its browser, reprs and
pytest plugin use. The synchronous contract, generated from the same source, does the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from memstore import (
    BaseStorage,
    PrefixUsage,
    StorageEvent,
    StorageFileNotFoundError,
    StorageUsage,
    StoredFile,
    SyncBaseStorage,
)

pytestmark = pytest.mark.anyio


class Minimal(BaseStorage):
    """Only the abstract core methods, over a dict."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, StoredFile]] = {}

    async def put(
        self, key: str, data: Any, *, content_type: str | None = None, metadata: Any = None
    ) -> StoredFile:
        if not isinstance(data, bytes):
            data = b"".join([chunk async for chunk in data])
        file = StoredFile(key, len(data), content_type, None, None, metadata or {})
        self.files[key] = (data, file)
        return file

    async def get(self, key: str) -> AsyncIterator[bytes]:
        if key not in self.files:
            raise StorageFileNotFoundError(key)
        data = self.files[key][0]
        for i in range(0, len(data), 3):
            yield data[i : i + 3]

    async def delete(self, key: str) -> None:
        if self.files.pop(key, None) is None:
            raise StorageFileNotFoundError(key)

    async def exists(self, key: str) -> bool:
        return key in self.files

    async def list(self, prefix: str = "", *, limit: int | None = None) -> AsyncIterator[StoredFile]:
        found = [f for k, (_, f) in sorted(self.files.items()) if k.startswith(prefix)]
        for file in found[:limit]:
            yield file

    async def url(self, key: str, *, expires_in: Any = None) -> str:
        return f"minimal://{key}"

    async def info(self, key: str) -> StoredFile:
        if key not in self.files:
            raise StorageFileNotFoundError(key)
        return self.files[key][1]


class SyncMinimal(SyncBaseStorage):
    """The same, on the synchronous contract."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, StoredFile]] = {}

    def put(
        self, key: str, data: Any, *, content_type: str | None = None, metadata: Any = None
    ) -> StoredFile:
        data = bytes(data) if isinstance(data, (bytes, bytearray)) else b"".join(data)
        file = StoredFile(key, len(data), content_type, None, None, metadata or {})
        self.files[key] = (data, file)
        return file

    def get(self, key: str) -> Iterator[bytes]:
        if key not in self.files:
            raise StorageFileNotFoundError(key)
        data = self.files[key][0]
        for i in range(0, len(data), 3):
            yield data[i : i + 3]

    def delete(self, key: str) -> None:
        if self.files.pop(key, None) is None:
            raise StorageFileNotFoundError(key)

    def exists(self, key: str) -> bool:
        return key in self.files

    def list(self, prefix: str = "", *, limit: int | None = None) -> Iterator[StoredFile]:
        found = [f for k, (_, f) in sorted(self.files.items()) if k.startswith(prefix)]
        yield from found[:limit]

    def url(self, key: str, *, expires_in: Any = None) -> str:
        return f"minimal://{key}"

    def info(self, key: str) -> StoredFile:
        if key not in self.files:
            raise StorageFileNotFoundError(key)
        return self.files[key][1]


async def test_async_defaults_are_built_on_the_core_methods() -> None:
    s = Minimal()
    await s.put("a/one.txt", b"hello world", content_type="text/plain", metadata={"k": "v"})
    await s.put("a/two", b"12")
    await s.put("b", b"123456")
    assert await s.get_bytes("a/one.txt") == b"hello world"
    copied = await s.copy("a/one.txt", "c/copy.txt")
    assert (copied.key, copied.content_type, dict(copied.metadata)) == (
        "c/copy.txt",
        "text/plain",
        {"k": "v"},
    )
    assert await s.get_bytes("c/copy.txt") == b"hello world"
    moved = await s.move("c/copy.txt", "d")
    assert moved.key == "d"
    assert not await s.exists("c/copy.txt")
    assert await s.get_usage() == StorageUsage(4, 11 + 2 + 6 + 11, None)
    assert await s.get_prefix_usage() == [PrefixUsage("", 2, 17), PrefixUsage("a/", 2, 13)]
    assert await s.count("a/") == 2
    assert [f.key for f in await s.list_page(offset=1, limit=2)] == ["a/two", "b"]
    assert await s.list_page(limit=0) == []
    with pytest.raises(ValueError, match="offset must be >= 0"):
        await s.list_page(offset=-1)
    with pytest.raises(StorageFileNotFoundError):
        await s.copy("missing", "x")
    events: list[StorageEvent] = []
    unsubscribe = s.subscribe(events.append)
    unsubscribe()  # no events on this backend, and nothing to undo
    assert repr(s) == "Minimal(files=4, used_bytes=30, max_size=None)"
    assert "a/one.txt" in s._repr_html_()
    async with s as entered:
        assert entered is s
    assert not s.closed


def test_sync_defaults_are_built_on_the_core_methods() -> None:
    s = SyncMinimal()
    s.put("a/one.txt", b"hello world", content_type="text/plain")
    s.put("b", b"123456")
    assert s.get_bytes("a/one.txt") == b"hello world"
    assert s.copy("a/one.txt", "c").content_type == "text/plain"
    assert s.move("c", "d").key == "d"
    assert not s.exists("c")
    assert s.get_usage() == StorageUsage(3, 28, None)
    assert s.count() == 3
    assert [f.key for f in s.list_page("a/")] == ["a/one.txt"]
    assert repr(s) == "SyncMinimal(files=3, used_bytes=28, max_size=None)"
    with s as entered:
        assert entered is s


async def test_as_sync_of_a_backend_without_a_twin_runs_on_the_portal() -> None:
    s = Minimal()
    await s.put("x", b"1")

    def in_a_thread() -> list[str]:
        with s.as_sync() as view:
            view.put("y", b"22")
            assert view.get_bytes("y") == b"22"
            assert list(view.get("y")) == [b"22"]
            assert view.get_usage().file_count == 2
            return [f.key for f in view.list()]

    assert await anyio.to_thread.run_sync(in_a_thread) == ["x", "y"]


async def test_list_page_newest_first_default_and_memory_agree() -> None:
    from datetime import datetime, timedelta, timezone

    from memstore import MemoryStorage

    s = Minimal()
    memory = MemoryStorage()
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for i, key in enumerate(["b", "a/2", "a/1", "c", "a/3"]):
        await s.put(key, b"x")
        s.files[key] = (b"x", StoredFile(key, 1, None, None, start + timedelta(seconds=i)))
        await memory.put(key, b"x")
    for storage in (s, memory):
        assert [f.key for f in await storage.list_page(order="newest")] == ["a/3", "c", "a/1", "a/2", "b"]
        assert [f.key for f in await storage.list_page("a/", offset=1, limit=1, order="newest")] == ["a/1"]
        with pytest.raises(ValueError, match="order must be 'key' or 'newest'"):
            await storage.list_page(order="size")  # type: ignore[arg-type]
