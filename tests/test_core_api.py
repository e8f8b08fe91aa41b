"""The async core's API, method by method, with the semantics of the spec.

Every test runs on asyncio and on trio (see ``conftest.py``).
"""

from __future__ import annotations

import array
import dataclasses
import enum
import hashlib
import logging
import pickle
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from memstore import (
    MAX_KEY_LENGTH,
    BaseStorage,
    MemoryConfig,
    MemoryStorage,
    PrefixUsage,
    Storage,
    StorageClosedError,
    StorageError,
    StorageEvent,
    StorageFileNotFoundError,
    StorageQuotaExceededError,
    StorageUsage,
    StoredFile,
    SyncBaseStorage,
    SyncMemoryStorage,
    SyncStorage,
)
from tests.faces import Make, class_name, memory_only, unwrap

pytestmark = pytest.mark.anyio


def md5_etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


async def agen(*chunks: Any, pause: bool = False) -> AsyncIterator[Any]:
    for chunk in chunks:
        if pause:
            await anyio.lowlevel.checkpoint()
        yield chunk


class AsyncChunks:
    """An async iterable that is not an async generator (only ``__aiter__``)."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def __aiter__(self) -> AsyncIterator[bytes]:
        return agen(*self.chunks)


async def chunks_of(storage: MemoryStorage, key: str) -> list[bytes]:
    return [chunk async for chunk in storage.get(key)]


async def keys_of(storage: MemoryStorage, prefix: str = "", limit: int | None = None) -> list[str]:
    return [f.key async for f in storage.list(prefix, limit=limit)]


# --------------------------------------------------------------------- put / get


async def test_put_returns_stored_file_and_get_bytes_returns_the_data(make: Make) -> None:
    storage = make()
    before = datetime.now(timezone.utc)
    file = await storage.put("docs/readme.txt", b"Hello, World!")
    after = datetime.now(timezone.utc)
    assert isinstance(file, StoredFile)
    assert file.key == "docs/readme.txt"
    assert file.size == 13
    assert file.content_type == "text/plain"
    assert file.etag == md5_etag(b"Hello, World!")
    assert file.last_modified is not None
    assert before <= file.last_modified <= after
    assert dict(file.metadata) == {}
    assert await storage.get_bytes("docs/readme.txt") == b"Hello, World!"
    assert await storage.exists("docs/readme.txt")


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda d: d, id="bytes"),
        pytest.param(bytearray, id="bytearray"),
        pytest.param(memoryview, id="memoryview"),
        pytest.param(lambda d: memoryview(bytearray(d)), id="memoryview-of-bytearray"),
        pytest.param(lambda d: memoryview(b"xx" + d + b"yy")[2:-2], id="memoryview-slice"),
        pytest.param(lambda d: agen(d), id="agen-one-chunk"),
        pytest.param(lambda d: agen(*[d[i : i + 3] for i in range(0, len(d), 3)]), id="agen-3-byte-chunks"),
        pytest.param(
            lambda d: agen(bytearray(d[:5]), memoryview(d[5:9]), b"", d[9:]), id="agen-mixed-chunk-types"
        ),
        pytest.param(lambda d: AsyncChunks(d[:4], d[4:]), id="async-iterable-class"),
    ],
)
async def test_put_accepts_bytes_like_and_async_iterables(wrap: Callable[[bytes], Any], make: Make) -> None:
    storage = make()
    data = b"The quick brown fox jumps over the lazy dog"
    file = await storage.put("fox.bin", wrap(data))
    assert file.size == len(data)
    assert file.etag == md5_etag(data)
    assert await storage.get_bytes("fox.bin") == data
    assert type(await storage.get_bytes("fox.bin")) is bytes
    assert (await storage.info("fox.bin")).size == len(data)
    assert storage.usage == StorageUsage(1, len(data), None)


async def test_put_memoryview_of_wide_items_stores_its_raw_bytes(make: Make) -> None:
    storage = make()
    arr = array.array("i", [1, 2, 3, 4])
    file = await storage.put("ints", memoryview(arr))
    assert file.size == arr.itemsize * 4
    assert await storage.get_bytes("ints") == arr.tobytes()
    assert storage.usage.used_bytes == arr.itemsize * 4


async def test_put_empty_file(make: Make) -> None:
    storage = make(MemoryConfig(max_size=0))
    file = await storage.put("empty", b"")
    assert file.size == 0
    assert file.etag == md5_etag(b"")
    assert await storage.get_bytes("empty") == b""
    assert b"".join(await chunks_of(storage, "empty")) == b""
    streamed = await storage.put("empty2", agen())
    assert streamed.size == 0
    assert streamed.etag == md5_etag(b"")
    assert await storage.get_bytes("empty2") == b""
    assert storage.usage == StorageUsage(2, 0, 0)


async def test_put_overwrites(make: Make) -> None:
    storage = make()
    await storage.put("k", b"old contents", metadata={"v": "1"}, content_type="text/x-old")
    new = await storage.put("k", b"new")
    assert await storage.get_bytes("k") == b"new"
    assert await storage.info("k") == new
    assert new.content_type == "application/octet-stream"
    assert dict(new.metadata) == {}
    assert storage.usage == StorageUsage(1, 3, None)


async def test_get_small_file_is_one_chunk(make: Make) -> None:
    storage = make(MemoryConfig(chunk_size=16))
    await storage.put("small", b"x" * 16)
    assert await chunks_of(storage, "small") == [b"x" * 16]
    await storage.put("streamed-small", agen(b"ab", b"cd", b"ef", pause=True))
    assert await chunks_of(storage, "streamed-small") == [b"abcdef"]


@pytest.mark.parametrize("size", [17, 32, 33, 100, 1000])
async def test_get_large_file_comes_in_chunks_of_chunk_size(size: int, make: Make) -> None:
    storage = make(MemoryConfig(chunk_size=16))
    data = bytes(i % 251 for i in range(size))
    await storage.put("large", data)
    chunks = await chunks_of(storage, "large")
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks[:-1]] == [16] * (len(chunks) - 1)
    assert 0 < len(chunks[-1]) <= 16
    assert all(type(c) is bytes for c in chunks)


@pytest.mark.parametrize(
    "chunking",
    [[1], [3], [5, 40], [16], [15, 1, 17], [40, 2], [100], [7, 7, 7, 50, 1, 1]],
    ids=str,
)
async def test_get_of_a_streamed_file_comes_in_chunks_of_chunk_size(chunking: list[int], make: Make) -> None:
    storage = make(MemoryConfig(chunk_size=16))
    data = bytes(i % 253 for i in range(300))
    parts: list[bytes] = []
    pos = 0
    i = 0
    while pos < len(data):
        n = chunking[i % len(chunking)]
        parts.append(data[pos : pos + n])
        pos += n
        i += 1
    await storage.put("streamed", agen(*parts))
    chunks = await chunks_of(storage, "streamed")
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks] == [16] * (300 // 16) + [300 % 16]
    assert await storage.get_bytes("streamed") == data


async def test_get_stream_is_unaffected_by_a_later_overwrite(make: Make) -> None:
    storage = make(MemoryConfig(chunk_size=4))
    await storage.put("k", b"aaaabbbbcccc")
    it = storage.get("k")
    first = await it.__anext__()
    await storage.put("k", b"zzzzzzzzzzzz")
    await storage.delete("k")
    rest = [c async for c in it]
    assert first + b"".join(rest) == b"aaaabbbbcccc"


@pytest.mark.parametrize("method", ["get", "get_bytes", "info", "delete"])
async def test_missing_key_raises_not_found_with_key(method: str, make: Make) -> None:
    storage = make()
    await storage.put("present", b"x")
    if method == "get":
        op = chunks_of(storage, "absent/key.txt")
    else:
        op = getattr(storage, method)("absent/key.txt")
    with pytest.raises(StorageFileNotFoundError) as info:
        await op
    assert info.value.key == "absent/key.txt"
    assert "absent/key.txt" in str(info.value)
    assert isinstance(info.value, StorageError)
    assert await keys_of(storage) == ["present"]


@pytest.mark.parametrize("method", ["copy", "move"])
async def test_copy_or_move_of_missing_source_raises_not_found(method: str, make: Make) -> None:
    storage = make()
    await storage.put("dst", b"keep")
    with pytest.raises(StorageFileNotFoundError) as info:
        await getattr(storage, method)("src", "dst")
    assert info.value.key == "src"
    assert await storage.get_bytes("dst") == b"keep"
    assert storage.usage == StorageUsage(1, 4, None)


# ------------------------------------------------------------ delete / exists


async def test_delete_and_exists(make: Make) -> None:
    storage = make()
    assert not await storage.exists("a")
    await storage.put("a", b"123")
    await storage.put("b", b"45")
    assert await storage.exists("a")
    await storage.delete("a")
    assert not await storage.exists("a")
    assert await storage.exists("b")
    assert storage.usage == StorageUsage(1, 2, None)
    with pytest.raises(StorageFileNotFoundError):
        await storage.delete("a")


async def test_exists_does_not_match_prefixes(make: Make) -> None:
    storage = make()
    await storage.put("dir/file", b"x")
    assert not await storage.exists("dir")
    assert not await storage.exists("dir/")
    assert not await storage.exists("dir/fil")


# ------------------------------------------------------------------------ list

KEYS = ["b", "a/2", "a/10", "a/1", "ab", "a", "Z", "é", "\U0001f600", "a/1/x", "c/d/e"]


async def test_list_yields_everything_in_key_order(make: Make) -> None:
    storage = make()
    for i, key in enumerate(KEYS):
        await storage.put(key, b"x" * i)
    files = [f async for f in storage.list()]
    assert [f.key for f in files] == sorted(KEYS)
    for f in files:
        assert f == await storage.info(f.key)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("", sorted(KEYS)),
        ("a", ["a", "a/1", "a/1/x", "a/10", "a/2", "ab"]),
        ("a/", ["a/1", "a/1/x", "a/10", "a/2"]),
        ("a/1", ["a/1", "a/1/x", "a/10"]),
        ("a/1/", ["a/1/x"]),
        ("c/", ["c/d/e"]),
        ("c/d/e", ["c/d/e"]),
        ("c/d/e/", []),
        ("zzz", []),
        ("A", []),
        ("é", ["é"]),
        ("\U0001f600", ["\U0001f600"]),
    ],
)
async def test_list_prefix(prefix: str, expected: list[str], make: Make) -> None:
    storage = make()
    for key in KEYS:
        await storage.put(key, key.encode())
    assert await keys_of(storage, prefix) == expected


@pytest.mark.parametrize("limit", [0, 1, 2, 5, 255, 256, 257, 511, 512, 513, 600, 10_000, None])
async def test_list_limit_across_page_boundaries(limit: int | None, make: Make) -> None:
    storage = make()
    keys = [f"p/{i:05d}" for i in range(600)]
    for key in reversed(keys):
        await storage.put(key, b"")
    # keys around the prefix that must never show up
    await storage.put("o", b"")
    await storage.put("q", b"")
    expected = keys if limit is None else keys[:limit]
    assert await keys_of(storage, "p/", limit) == expected
    everything = ["o", *keys, "q"]
    assert await keys_of(storage, "", limit) == (everything if limit is None else everything[:limit])


async def test_list_limit_zero_yields_nothing(make: Make) -> None:
    storage = make()
    await storage.put("a", b"1")
    assert await keys_of(storage, limit=0) == []
    assert await keys_of(storage, "a", limit=0) == []


@memory_only("inspects the memory engine's pages (storage._engine.list_page)")
async def test_list_limit_stops_early(monkeypatch: pytest.MonkeyPatch, make: Make) -> None:
    storage = make()
    for i in range(2000):
        await storage.put(f"k{i:04d}", b"")
    engine = storage._engine
    fetched: list[int] = []
    real = engine.list_page

    def counting(prefix: str, after: str | None, count: int) -> list[StoredFile]:
        page = real(prefix, after, count)
        fetched.append(len(page))
        return page

    monkeypatch.setattr(engine, "list_page", counting)
    assert await keys_of(storage, limit=3) == ["k0000", "k0001", "k0002"]
    assert sum(fetched) == 3
    fetched.clear()
    assert len(await keys_of(storage, "k1", limit=300)) == 300
    assert sum(fetched) == 300
    fetched.clear()
    # breaking out of an unlimited listing stops it too
    listing = storage.list()
    assert isinstance(listing, AsyncGenerator)
    async for _ in listing:
        break
    await listing.aclose()
    assert sum(fetched) <= 256


async def test_list_empty_storage(make: Make) -> None:
    storage = make()
    assert await keys_of(storage) == []
    assert await keys_of(storage, "a", limit=10) == []


async def test_list_while_writing_does_not_break(make: Make) -> None:
    storage = make()
    for i in range(600):
        await storage.put(f"k{i:04d}", b"x")
    seen: list[str] = []
    async for f in storage.list():
        seen.append(f.key)
        if f.key == "k0100":
            for j in range(0, 600, 2):
                if await storage.exists(f"k{j:04d}"):
                    await storage.delete(f"k{j:04d}")
            await storage.put("k9999", b"late")
            await storage.put("k0000a", b"early")
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    assert "k9999" in seen  # sorts after the position: appears
    assert "k0000a" not in seen  # sorts before the position: does not
    assert {f"k{j:04d}" for j in range(1, 600, 2)} <= set(seen)  # never deleted: all seen


# ---------------------------------------------------------------- url / info


@memory_only("memory:// URLs are the memory backend's")
async def test_url(make: Make) -> None:
    storage = make()
    assert await storage.url("test.txt") == "memory://test.txt"
    assert await storage.url("a/b c/é.txt", expires_in=timedelta(minutes=5)) == "memory://a/b c/é.txt"
    assert await storage.url("a", expires_in=None) == "memory://a"


async def test_info_matches_put_and_list(make: Make) -> None:
    storage = make()
    put = await storage.put("data/x.json", b"{}", metadata={"owner": "me"})
    info = await storage.info("data/x.json")
    assert info == put
    assert info.content_type == "application/json"
    assert dict(info.metadata) == {"owner": "me"}
    assert [f async for f in storage.list()] == [put]


# ---------------------------------------------------------------- copy / move


async def test_copy(make: Make) -> None:
    storage = make()
    src = await storage.put("src.txt", b"payload", metadata={"a": "b"}, content_type="text/x-custom")
    await anyio.sleep(0.001)
    new = await storage.copy("src.txt", "dir/dst.bin")
    assert new.key == "dir/dst.bin"
    assert (new.size, new.etag, new.content_type) == (src.size, src.etag, src.content_type)
    assert dict(new.metadata) == {"a": "b"}
    assert new.last_modified is not None
    assert src.last_modified is not None
    assert new.last_modified >= src.last_modified
    assert await storage.get_bytes("dir/dst.bin") == b"payload"
    assert await storage.info("src.txt") == src
    assert await storage.get_bytes("src.txt") == b"payload"
    assert await storage.info("dir/dst.bin") == new
    assert storage.usage == StorageUsage(2, 14, None)


async def test_copy_replaces_destination_and_copies_are_independent(make: Make) -> None:
    storage = make()
    await storage.put("a", b"AAAA")
    await storage.put("b", b"bb")
    await storage.copy("a", "b")
    assert await storage.get_bytes("b") == b"AAAA"
    await storage.put("a", b"changed")
    assert await storage.get_bytes("b") == b"AAAA"
    await storage.delete("a")
    assert await storage.get_bytes("b") == b"AAAA"
    assert storage.usage == StorageUsage(1, 4, None)


async def test_move(make: Make) -> None:
    storage = make()
    src = await storage.put("old/name.txt", b"contents", metadata={"k": "v"})
    moved = await storage.move("old/name.txt", "new/name.txt")
    assert moved.key == "new/name.txt"
    assert (moved.size, moved.etag, moved.content_type) == (src.size, src.etag, src.content_type)
    assert dict(moved.metadata) == {"k": "v"}
    assert not await storage.exists("old/name.txt")
    assert await storage.get_bytes("new/name.txt") == b"contents"
    assert await keys_of(storage) == ["new/name.txt"]
    assert storage.usage == StorageUsage(1, 8, None)
    assert storage.prefix_usage() == [PrefixUsage("new/", 1, 8)]


async def test_move_replaces_destination(make: Make) -> None:
    storage = make()
    await storage.put("a", b"AAAA")
    await storage.put("b", b"bbbbbbbbbb")
    await storage.move("a", "b")
    assert await keys_of(storage) == ["b"]
    assert await storage.get_bytes("b") == b"AAAA"
    assert storage.usage == StorageUsage(1, 4, None)


@pytest.mark.parametrize("method", ["copy", "move"])
async def test_copy_or_move_onto_itself_leaves_the_file_intact(method: str, make: Make) -> None:
    storage = make(MemoryConfig(max_size=10))
    put = await storage.put("a/x", b"0123456789", metadata={"m": "1"})
    result = await getattr(storage, method)("a/x", "a/x")
    assert result.key == "a/x"
    assert result.size == 10
    assert await storage.get_bytes("a/x") == b"0123456789"
    info = await storage.info("a/x")
    assert (info.size, info.etag, dict(info.metadata)) == (put.size, put.etag, {"m": "1"})
    assert await keys_of(storage) == ["a/x"]
    assert storage.usage == StorageUsage(1, 10, 10)
    assert storage.prefix_usage() == [PrefixUsage("a/", 1, 10)]


# ------------------------------------------------------------------- clear / close


async def test_clear(make: Make) -> None:
    storage = make(MemoryConfig(max_size=100))
    for key in ["a", "b/c", "d/e/f"]:
        await storage.put(key, b"x" * 20)
    await storage.clear()
    assert await keys_of(storage) == []
    assert storage.usage == StorageUsage(0, 0, 100)
    assert storage.prefix_usage() == []
    assert not await storage.exists("a")
    await storage.put("big", b"y" * 100)  # the whole quota is free again
    assert storage.usage == StorageUsage(1, 100, 100)


async def test_close_then_everything_raises_closed(make: Make) -> None:
    storage = make()
    name = class_name(storage)
    await storage.put("a", b"1")
    assert repr(storage) == f"{name}(files=1, used_bytes=1, max_size=None)"
    await storage.close()
    assert storage.closed
    assert repr(storage) == f"{name}(closed)"
    await storage.close()  # idempotent
    calls: list[Callable[[], Any]] = [
        lambda: storage.put("a", b"2"),
        lambda: storage.put("s", agen(b"1")),
        lambda: storage.get_bytes("a"),
        lambda: chunks_of(storage, "a"),
        lambda: keys_of(storage),
        lambda: storage.delete("a"),
        lambda: storage.exists("a"),
        lambda: storage.info("a"),
        lambda: storage.url("a"),
        lambda: storage.copy("a", "b"),
        lambda: storage.move("a", "b"),
        lambda: storage.clear(),
    ]
    closed = f"^this {name} is closed$"  # one message, naming the class the user holds
    for call in calls:
        with pytest.raises(StorageClosedError, match=closed):
            await call()
    with pytest.raises(StorageClosedError, match=closed):
        _ = storage.usage
    with pytest.raises(StorageClosedError, match=closed):
        storage.prefix_usage()
    with pytest.raises(StorageClosedError, match=closed):
        storage.subscribe(lambda e: None)
    for query in (storage.get_usage, storage.get_prefix_usage, storage.count, storage.list_page):
        with pytest.raises(StorageClosedError, match=closed):
            await query()
    assert isinstance(StorageClosedError("x"), StorageError)


@memory_only(
    "reads the memory engine's reservations after close(); on Redis a closed client cannot abort "
    "the stream, its lease reclaims it (tests/test_redis_faults.py)"
)
async def test_close_during_a_stream_stores_nothing(make: Make) -> None:
    storage = make()

    async def stream() -> AsyncIterator[bytes]:
        yield b"abc"
        await storage.close()
        yield b"def"

    with pytest.raises(StorageClosedError):
        await storage.put("k", stream())
    assert storage.closed
    assert storage._engine.reserved_bytes == 0


async def test_async_context_manager_closes(make: Make) -> None:
    async with make() as storage:
        await storage.put("a", b"1")
        assert await storage.get_bytes("a") == b"1"
    assert storage.closed
    with pytest.raises(StorageClosedError):
        await storage.get_bytes("a")


@memory_only("checks the memory classes' bases (tests/test_redis.py checks the Redis ones)")
async def test_is_a_storage(make: Make) -> None:
    storage = unwrap(make())
    if isinstance(storage, SyncMemoryStorage):
        assert isinstance(storage, SyncBaseStorage)
        assert isinstance(storage, SyncStorage)
    else:
        assert isinstance(storage, BaseStorage)
        assert isinstance(storage, Storage)
    assert "files=0" in repr(storage)


# ------------------------------------------------------------ stored file fields


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a.txt", "text/plain"),
        ("dir/page.html", "text/html"),
        ("x/y.HTML", "text/html"),
        ("data.json", "application/json"),
        ("img.png", "image/png"),
        ("IMG.PNG", "image/png"),
        ("photo.jpg", "image/jpeg"),
        ("doc.pdf", "application/pdf"),
        ("table.csv", "text/csv"),
        ("archive.tar.gz", "application/gzip"),
        ("noextension", "application/octet-stream"),
        ("dir.d/file", "application/octet-stream"),
        ("a.unknownextension", "application/octet-stream"),
        ("trailingdot.", "application/octet-stream"),
    ],
)
async def test_content_type_is_guessed_from_the_extension(key: str, expected: str, make: Make) -> None:
    storage = make()
    assert (await storage.put(key, b"x")).content_type == expected
    assert (await storage.put(key, agen(b"x"))).content_type == expected
    assert (await storage.info(key)).content_type == expected


async def test_explicit_content_type_wins(make: Make) -> None:
    storage = make()
    file = await storage.put("a.txt", b"x", content_type="application/x-mine")
    assert file.content_type == "application/x-mine"
    assert (await storage.info("a.txt")).content_type == "application/x-mine"


async def test_etag_is_quoted_md5_hex(make: Make) -> None:
    storage = make(MemoryConfig(chunk_size=8, offload_threshold=64))
    data = bytes(range(256)) * 3
    expected = '"' + hashlib.md5(data).hexdigest() + '"'
    assert (await storage.put("a", data)).etag == expected
    assert (await storage.put("b", bytearray(data))).etag == expected
    assert (
        await storage.put("c", agen(*[data[i : i + 50] for i in range(0, len(data), 50)]))
    ).etag == expected
    assert (await storage.put("d", agen(data[:700], data[700:]))).etag == expected
    assert (await storage.put("e", b"other")).etag != expected
    assert len(expected) == 34
    assert expected.startswith('"')
    assert expected.endswith('"')


async def test_last_modified_is_timezone_aware_utc_and_moves_forward(make: Make) -> None:
    storage = make()
    first = await storage.put("k", b"1")
    assert first.last_modified is not None
    assert first.last_modified.tzinfo is not None
    assert first.last_modified.utcoffset() == timedelta(0)
    await anyio.sleep(0.002)
    second = await storage.put("k", b"2")
    assert second.last_modified is not None
    assert second.last_modified >= first.last_modified  # wall clocks may stand still (or step back)
    streamed = await storage.put("s", agen(b"x"))
    assert streamed.last_modified is not None
    assert streamed.last_modified.utcoffset() == timedelta(0)


# ------------------------------------------------------------------ immutability


async def test_mutating_the_metadata_dict_passed_in_changes_nothing(make: Make) -> None:
    storage = make()
    meta = {"author": "ann"}
    await storage.put("k", b"x", metadata=meta)
    meta["author"] = "bob"
    meta["extra"] = "1"
    assert dict((await storage.info("k")).metadata) == {"author": "ann"}
    streamed_meta = {"a": "1"}
    await storage.put("s", agen(b"x"), metadata=streamed_meta)
    streamed_meta.clear()
    assert dict((await storage.info("s")).metadata) == {"a": "1"}


async def test_returned_metadata_and_stored_file_cannot_be_mutated(make: Make) -> None:
    storage = make()
    file = await storage.put("k", b"x", metadata={"author": "ann"})
    with pytest.raises(TypeError):
        file.metadata["author"] = "bob"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        file.size = 99  # type: ignore[misc]
    (listed,) = [f async for f in storage.list()]
    with pytest.raises(TypeError):
        listed.metadata["x"] = "y"  # type: ignore[index]
    info = await storage.info("k")
    assert dict(info.metadata) == {"author": "ann"}
    assert info.size == 1
    # a copy's metadata is independent of anything the caller holds too
    copied = await storage.copy("k", "k2")
    assert dict(copied.metadata) == {"author": "ann"}


async def test_metadata_none_and_empty_give_an_empty_mapping(make: Make) -> None:
    storage = make()
    assert dict((await storage.put("a", b"x")).metadata) == {}
    assert dict((await storage.put("b", b"x", metadata={})).metadata) == {}


async def test_mutable_inputs_are_copied(make: Make) -> None:
    storage = make(MemoryConfig(offload_threshold=8))
    small = bytearray(b"abc")
    large = bytearray(b"0123456789abcdef")  # above offload_threshold: copied in a thread
    backing = bytearray(b"view-data")
    view = memoryview(backing)
    await storage.put("small", small)
    await storage.put("large", large)
    await storage.put("view", view)
    small[0] = ord("X")
    large[:4] = b"XXXX"
    backing[:4] = b"XXXX"
    assert await storage.get_bytes("small") == b"abc"
    assert await storage.get_bytes("large") == b"0123456789abcdef"
    assert await storage.get_bytes("view") == b"view-data"
    assert (await storage.info("large")).etag == md5_etag(b"0123456789abcdef")


async def test_mutable_stream_chunks_are_copied(make: Make) -> None:
    storage = make(MemoryConfig(chunk_size=4))
    buf = bytearray(b"aaaa")

    async def reuse_buffer() -> AsyncIterator[bytearray]:
        for ch in b"abc":
            buf[:] = bytes([ch]) * 4
            yield buf

    # PutData types streams as AsyncIterable[bytes]; bytes-like chunks are accepted at run time
    await storage.put("k", reuse_buffer())
    assert await storage.get_bytes("k") == b"aaaabbbbcccc"
    assert await chunks_of(storage, "k") == [b"aaaa", b"bbbb", b"cccc"]


async def test_str_subclass_key_is_stored_as_plain_str(make: Make) -> None:
    class MyKey(str):
        def __str__(self) -> str:
            return "not the value"

    storage = make()
    file = await storage.put(MyKey("a/b"), b"x")
    assert type(file.key) is str
    listed = [f async for f in storage.list()]
    assert type(listed[0].key) is str
    assert await storage.get_bytes(MyKey("a/b")) == b"x"


class Kind(str, enum.Enum):
    REPORT = "reports/2024.csv"
    CSV = "text/csv"
    OWNER = "owner"


@memory_only("asserts a memory:// URL")
async def test_str_enum_arguments_are_stored_by_value(make: Make) -> None:
    storage = make()
    assert str(Kind.REPORT) != Kind.REPORT.value  # str() of a str enum is not its value
    file = await storage.put(Kind.REPORT, b"a,b", content_type=Kind.CSV, metadata={Kind.OWNER: Kind.CSV})
    assert file.key == "reports/2024.csv"
    assert type(file.key) is str
    assert file.content_type == "text/csv"
    assert type(file.content_type) is str
    assert dict(file.metadata) == {"owner": "text/csv"}
    assert all(type(k) is str and type(v) is str for k, v in file.metadata.items())
    assert await keys_of(storage) == ["reports/2024.csv"]
    assert await storage.get_bytes("reports/2024.csv") == b"a,b"
    assert await storage.url(Kind.REPORT) == "memory://reports/2024.csv"
    copied = await storage.copy(Kind.REPORT, "copy.csv")
    assert dict(copied.metadata) == {"owner": "text/csv"}


async def test_key_of_max_length_is_accepted(make: Make) -> None:
    storage = make()
    key = "k" * MAX_KEY_LENGTH
    await storage.put(key, b"x")
    assert await storage.get_bytes(key) == b"x"
    assert await keys_of(storage) == [key]


@pytest.mark.parametrize("key", [".hidden", "a.b", "a/.hidden", "..x", "a/...", "x/", "a//b", " ", "é/ü"])
async def test_unusual_but_valid_keys(key: str, make: Make) -> None:
    storage = make()
    await storage.put(key, b"v")
    assert await storage.get_bytes(key) == b"v"
    assert await keys_of(storage) == [key]


# ------------------------------------------------------------------ usage


async def test_usage_and_prefix_usage(make: Make) -> None:
    storage = make(MemoryConfig(max_size=1000))
    assert storage.usage == StorageUsage(0, 0, 1000)
    assert storage.usage.free_bytes == 1000
    await storage.put("a/1", b"x" * 10)
    await storage.put("a/2", b"x" * 20)
    await storage.put("b/c/1", b"x" * 100)
    await storage.put("top", b"x" * 5)
    usage = storage.usage
    assert usage == StorageUsage(4, 135, 1000)
    assert usage.free_bytes == 865
    assert usage.fraction_used == pytest.approx(0.135)
    assert storage.prefix_usage() == [
        PrefixUsage("b/", 1, 100),
        PrefixUsage("a/", 2, 30),
        PrefixUsage("", 1, 5),
    ]
    await storage.move("a/1", "b/moved")
    await storage.put("a/2", b"x")
    await storage.delete("top")
    assert storage.prefix_usage() == [PrefixUsage("b/", 2, 110), PrefixUsage("a/", 1, 1)]
    await storage.copy("b/moved", "c")
    assert storage.prefix_usage() == [
        PrefixUsage("b/", 2, 110),
        PrefixUsage("", 1, 10),
        PrefixUsage("a/", 1, 1),
    ]
    assert storage.usage == StorageUsage(4, 121, 1000)


async def test_usage_unlimited(make: Make) -> None:
    storage = make()
    await storage.put("a", b"123")
    usage = storage.usage
    assert usage.max_size is None
    assert usage.free_bytes is None
    assert usage.fraction_used is None


# ------------------------------------------------------------------- events


@memory_only("events: Redis delivers them later, from a thread (tests/test_redis_events.py)")
async def test_subscribe_delivers_an_event_after_every_change(make: Make) -> None:
    storage = make()
    events: list[StorageEvent] = []
    usage_seen: list[int] = []

    def record(event: StorageEvent) -> None:
        events.append(event)
        usage_seen.append(storage.usage.file_count)  # the change is complete and the lock is free

    unsubscribe = storage.subscribe(record)
    put = await storage.put("a", b"1")
    streamed = await storage.put("s", agen(b"1", b"2"))
    copied = await storage.copy("a", "b")
    moved = await storage.move("b", "c")
    await storage.delete("a")
    await storage.clear()
    assert [(e.kind, e.key, e.source) for e in events] == [
        ("put", "a", None),
        ("put", "s", None),
        ("copy", "b", "a"),
        ("move", "c", "b"),
        ("delete", "a", None),
        ("clear", None, None),
    ]
    assert events[0].file == put
    assert events[1].file == streamed
    assert events[2].file == copied
    assert events[3].file == moved
    assert events[4].file == put  # the removed file
    assert events[5].file is None
    assert usage_seen == [1, 2, 3, 3, 2, 0]
    unsubscribe()
    await storage.put("after", b"x")
    assert len(events) == 6
    unsubscribe()  # safe twice


@memory_only("events: Redis delivers them later, from a thread (tests/test_redis_events.py)")
async def test_failed_writes_emit_no_event(make: Make) -> None:
    storage = make(MemoryConfig(max_size=5))
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    await storage.put("a", b"12345")
    with pytest.raises(StorageQuotaExceededError):
        await storage.put("b", b"1")
    with pytest.raises(StorageQuotaExceededError):
        await storage.copy("a", "b")
    with pytest.raises(StorageFileNotFoundError):
        await storage.delete("zzz")
    with pytest.raises(StorageFileNotFoundError):
        await storage.move("zzz", "a")
    with pytest.raises(RuntimeError):
        await storage.put("a", _failing_stream())  # fits: replaces a's bytes
    assert [e.kind for e in events] == ["put"]


async def _failing_stream() -> AsyncIterator[bytes]:
    yield b"1"
    raise RuntimeError("boom")


@memory_only("events: Redis delivers them later, from a thread (tests/test_redis_events.py)")
async def test_a_raising_subscriber_does_not_break_the_write(
    caplog: pytest.LogCaptureFixture, make: Make
) -> None:
    storage = make()
    seen: list[str] = []

    def bad(event: StorageEvent) -> None:
        raise ValueError("subscriber bug")

    storage.subscribe(bad)
    storage.subscribe(lambda e: seen.append(e.kind))
    with caplog.at_level(logging.ERROR, logger="memstore"):
        file = await storage.put("a", b"1")
        await storage.delete("a")
    assert file.key == "a"
    assert not await storage.exists("a")
    assert seen == ["put", "delete"]
    assert any("subscriber" in r.getMessage() for r in caplog.records)
    assert any(r.exc_info and r.exc_info[0] is ValueError for r in caplog.records)


@memory_only("events: Redis delivers them later, from a thread (tests/test_redis_events.py)")
async def test_unsubscribing_one_callback_keeps_the_others(make: Make) -> None:
    storage = make()
    a: list[str] = []
    b: list[str] = []
    unsub_a = storage.subscribe(lambda e: a.append(e.kind))
    storage.subscribe(lambda e: b.append(e.kind))
    await storage.put("x", b"1")
    unsub_a()
    await storage.delete("x")
    assert a == ["put"]
    assert b == ["put", "delete"]


@memory_only("events: Redis delivers them later, from a thread (tests/test_redis_events.py)")
async def test_events_come_from_the_thread_that_made_the_change(make: Make) -> None:
    storage = make()
    threads: list[int] = []
    storage.subscribe(lambda e: threads.append(threading.get_ident()))

    def write_from_thread() -> int:
        anyio.run(storage.put, "t", b"from thread")
        return threading.get_ident()

    await storage.put("loop", b"x")
    worker = await anyio.to_thread.run_sync(write_from_thread)
    assert threads == [threading.get_ident(), worker]
    assert worker != threading.get_ident()
    assert await storage.get_bytes("t") == b"from thread"


# -------------------------------------------------------------------- pickling


async def test_stored_file_pickles(make: Make) -> None:
    storage = make()
    file = await storage.put("a/b.txt", b"hello", metadata={"x": "1", "y": "2"})
    clone = pickle.loads(pickle.dumps(file))
    assert clone == file
    assert clone.last_modified == file.last_modified
    assert clone.last_modified is not None
    assert clone.last_modified.tzinfo is not None
    assert dict(clone.metadata) == {"x": "1", "y": "2"}
    with pytest.raises(TypeError):
        clone.metadata["x"] = "2"
    empty = pickle.loads(pickle.dumps(await storage.put("e", b"")))
    assert dict(empty.metadata) == {}


async def test_errors_pickle(make: Make) -> None:
    storage = make(MemoryConfig(max_size=1))
    with pytest.raises(StorageQuotaExceededError) as quota:
        await storage.put("k", b"12")
    clone = pickle.loads(pickle.dumps(quota.value))
    assert (clone.key, clone.max_size, clone.used_bytes, clone.requested_bytes) == ("k", 1, 0, 2)
    assert str(clone) == str(quota.value)
    with pytest.raises(StorageFileNotFoundError) as missing:
        await storage.get_bytes("nope")
    assert pickle.loads(pickle.dumps(missing.value)).key == "nope"


@pytest.mark.anyio
async def test_close_sends_one_last_close_event(make: Make) -> None:
    storage = make()
    events: list[tuple[str, str | None]] = []
    storage.subscribe(lambda e: events.append((e.kind, e.key)))
    await storage.put("a", b"1")
    await storage.close()
    await storage.close()
    assert events == [("put", "a"), ("close", None)]


async def test_put_reads_a_binary_file_object(make: Make, tmp_path: Any) -> None:
    import io

    storage = make(MemoryConfig(chunk_size=4))
    assert (await storage.put("bio", io.BytesIO(b"0123456789"))).size == 10
    path = tmp_path / "f.bin"
    path.write_bytes(b"from a file" * 1000)
    with path.open("rb") as fh:
        await storage.put("file", fh)
    assert await storage.get_bytes("bio") == b"0123456789"
    assert await storage.get_bytes("file") == b"from a file" * 1000
    with path.open("r") as text, pytest.raises(TypeError, match="binary mode"):
        await storage.put("text", text)
    assert not await storage.exists("text")
