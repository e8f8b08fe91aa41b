"""Object-store semantics, S3 as the reference: ranges, conditional writes, folders, glob,
prefix delete. Every test runs on asyncio and trio, and on both faces (tests/faces.py)."""

from __future__ import annotations

import re
import threading
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memstore import (
    DirListing,
    MemoryConfig,
    PrefixUsage,
    StorageError,
    StorageEvent,
    StorageFileExistsError,
    StorageFileNotFoundError,
    StoragePreconditionFailedError,
    StorageUsage,
)
from tests.faces import FACES, Make, make_factory, memory_only, unwrap

pytestmark = pytest.mark.anyio


async def agen(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def keys_of(listing: AsyncIterator[Any]) -> list[str]:
    return [f.key async for f in listing]


# ------------------------------------------------------------------------ ranges
bounds = st.one_of(st.none(), st.integers(-300, 300))


@pytest.mark.parametrize("face_under_test", FACES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=200),
    cuts=st.lists(st.integers(1, 60), max_size=5),
    start=bounds,
    end=bounds,
    chunk_size=st.integers(1, 50),
)
async def test_ranges_have_python_slice_semantics(
    face_under_test: str, data: bytes, cuts: list[int], start: int | None, end: int | None, chunk_size: int
) -> None:
    make, close_all = make_factory(face_under_test)
    storage = make(MemoryConfig(chunk_size=chunk_size))
    parts, rest = [], data
    for cut in cuts:  # stored whole, or in the parts of a stream
        parts.append(rest[:cut])
        rest = rest[cut:]
    await storage.put("whole", data)
    await storage.put("parts", agen(*parts, rest))
    expected = data[start:end]
    for key in ("whole", "parts"):
        assert await storage.get_bytes(key, start=start, end=end) == expected
        chunks = [c async for c in storage.get(key, start=start, end=end)]
        assert b"".join(chunks) == expected
        assert all(len(c) == chunk_size for c in chunks[:-1])
        if expected:
            assert all(0 < len(c) <= chunk_size for c in chunks)
        else:
            assert chunks in ([], [b""])  # (an empty file is one empty chunk, as always)
        (got,) = await storage.get_ranges(key, [(start, end)])  # type: ignore[list-item]
        assert got == expected
    close_all()


async def test_get_ranges_reads_one_version(make: Make) -> None:
    storage = make()
    await storage.put("f", b"0123456789")
    assert await storage.get_ranges("f", [(0, 2), (-3, 10), (4, 4), (8, 100)]) == [
        b"01",
        b"789",
        b"",
        b"89",
    ]
    assert await storage.get_ranges("f", []) == []
    with pytest.raises(StorageFileNotFoundError):
        await storage.get_ranges("missing", [(0, 1)])


async def test_a_range_read_is_one_version_even_if_overwritten_meanwhile(make: Make) -> None:
    storage = make(MemoryConfig(chunk_size=4))
    await storage.put("f", b"a" * 40)
    chunks = storage.get("f", start=4, end=36)
    first = await chunks.__anext__()
    await storage.put("f", b"b" * 40)  # overwritten while the range is being read
    rest = [c async for c in chunks]
    assert first + b"".join(rest) == b"a" * 32


async def test_a_range_read_copies_only_what_it_needs(make: Make) -> None:
    storage = make()
    mib = 1 << 20
    await storage.put("big", agen(*(bytes([i]) * mib for i in range(64))))  # 64 MiB in 1 MiB parts
    tracemalloc.start()
    try:
        got = await storage.get_bytes("big", start=30 * mib + 10, end=30 * mib + 10 + 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == bytes([30]) * 1024
    assert peak < 256 * 1024  # about the KiB read, never the file or one of its parts


# --------------------------------------------------------------- conditional writes
@memory_only("events: Redis delivers them later, from a thread (tests/test_redis_events.py)")
async def test_create_only_put(make: Make) -> None:
    storage = make()
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    first = await storage.put("lock", b"me", if_none_match="*")
    assert first.size == 2
    for data in (b"you", agen(b"y", b"ou"), bytearray(b"you")):
        with pytest.raises(StorageFileExistsError) as info:
            await storage.put("lock", data, if_none_match="*")
        assert info.value.key == "lock"
    assert await storage.get_bytes("lock") == b"me"
    assert [e.kind for e in events] == ["put"]  # failures emit nothing
    await storage.delete("lock")
    await storage.put("lock", b"next", if_none_match="*")


async def test_if_match_is_a_compare_and_swap(make: Make) -> None:
    storage = make()
    v1 = await storage.put("doc", b"v1")
    assert v1.etag is not None
    v2 = await storage.put("doc", b"v2", if_match=v1.etag)
    assert v2.etag is not None
    with pytest.raises(StoragePreconditionFailedError) as info:
        await storage.put("doc", b"v3", if_match=v1.etag)  # stale
    assert (info.value.key, info.value.expected, info.value.actual) == ("doc", v1.etag, v2.etag)
    assert await storage.get_bytes("doc") == b"v2"
    await storage.put("doc", b"v3", if_match=v2.etag.strip('"'))  # unquoted ETags are accepted
    with pytest.raises(StoragePreconditionFailedError) as missing:
        await storage.put("new", b"x", if_match=v1.etag)
    assert missing.value.actual is None
    assert not await storage.exists("new")


async def test_delete_if_match_deletes_only_that_version(make: Make) -> None:
    storage = make()
    old = await storage.put("k", b"old")
    new = await storage.put("k", b"new")
    assert old.etag is not None
    assert new.etag is not None
    with pytest.raises(StoragePreconditionFailedError):
        await storage.delete("k", if_match=old.etag)
    assert await storage.get_bytes("k") == b"new"
    await storage.delete("k", if_match=new.etag)
    assert not await storage.exists("k")
    with pytest.raises(StoragePreconditionFailedError):
        await storage.delete("k", if_match=new.etag)


@pytest.mark.parametrize("method", ["copy", "move"])
async def test_copy_and_move_without_overwrite(make: Make, method: str) -> None:
    storage = make(MemoryConfig(max_size=100))
    await storage.put("src", b"source")
    await storage.put("dst", b"taken")
    before = storage.usage
    with pytest.raises(StorageFileExistsError) as info:
        await getattr(storage, method)("src", "dst", overwrite=False)
    assert info.value.key == "dst"
    assert await storage.get_bytes("dst") == b"taken"
    assert await storage.get_bytes("src") == b"source"
    assert storage.usage == before
    file = await getattr(storage, method)("src", "free", overwrite=False)
    assert file.key == "free"
    assert await storage.get_bytes("free") == b"source"
    assert await storage.exists("src") == (method == "copy")


async def test_a_streamed_conditional_put_is_decided_at_commit(make: Make) -> None:
    storage = make(MemoryConfig(max_size=1000))
    v1 = await storage.put("k", b"v1")

    async def stream() -> AsyncIterator[bytes]:
        yield b"x" * 100
        await storage.put("k", b"changed meanwhile")  # another writer wins the race
        yield b"y" * 100

    with pytest.raises(StoragePreconditionFailedError):
        await storage.put("k", stream(), if_match=v1.etag)
    assert await storage.get_bytes("k") == b"changed meanwhile"
    assert storage.usage == StorageUsage(1, 17, 1000)
    assert unwrap(storage)._engine.reserved_bytes == 0  # the stream's reservation is released

    async def creating() -> AsyncIterator[bytes]:
        yield b"a"
        await storage.put("fresh", b"first")
        yield b"b"

    with pytest.raises(StorageFileExistsError):
        await storage.put("fresh", creating(), if_none_match="*")
    assert await storage.get_bytes("fresh") == b"first"
    assert unwrap(storage)._engine.reserved_bytes == 0


async def test_of_many_concurrent_create_only_puts_exactly_one_wins(make: Make) -> None:
    storage = make()
    wins: list[bytes] = []
    lock = threading.Lock()

    def attempt(me: bytes) -> None:
        try:
            anyio.from_thread.run(lambda: storage.put("once", me, if_none_match="*"))
        except StorageFileExistsError:
            return
        with lock:
            wins.append(me)

    async def task(me: bytes) -> None:
        try:
            await storage.put("once", me, if_none_match="*")
        except StorageFileExistsError:
            return
        with lock:
            wins.append(me)

    async with anyio.create_task_group() as tg:
        for i in range(16):
            tg.start_soon(task, f"task-{i}".encode())
        for i in range(8):
            tg.start_soon(anyio.to_thread.run_sync, attempt, f"thread-{i}".encode())
    assert len(wins) == 1
    assert await storage.get_bytes("once") == wins[0]


async def test_compare_and_swap_increments_lose_no_update(make: Make) -> None:
    storage = make()
    await storage.put("counter", b"0")

    async def increment() -> None:
        while True:
            file = await storage.info("counter")
            value = int(await storage.get_bytes("counter"))
            try:
                await storage.put("counter", str(value + 1).encode(), if_match=file.etag)
                return
            except StoragePreconditionFailedError:
                await anyio.lowlevel.checkpoint()

    def in_thread() -> None:
        for _ in range(10):
            anyio.from_thread.run(increment)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(increment)
        for _ in range(4):
            tg.start_soon(anyio.to_thread.run_sync, in_thread)
    assert await storage.get_bytes("counter") == b"60"


# ----------------------------------------------------------------------- folders
KEYS = ["a.txt", "b/1", "b/2", "b/c/3", "b/c/d/4", "b/e/5", "bc", "bc/x", "z/"]


def s3_list_dir(keys: list[str], prefix: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """ListObjectsV2 with Delimiter="/", computed by brute force."""
    prefixes: set[str] = set()
    files = []
    for key in keys:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if "/" in rest:
            prefixes.add(prefix + rest[: rest.index("/") + 1])
        else:
            files.append(key)
    return tuple(sorted(prefixes)), tuple(sorted(files))


@pytest.mark.parametrize("prefix", ["", "b/", "b", "b/c/", "bc", "b/c/d/", "nothing/", "z/"])
async def test_list_dir_is_s3s_list_with_a_delimiter(make: Make, prefix: str) -> None:
    storage = make()
    for key in KEYS:
        await storage.put(key, key.encode())
    listing = await storage.list_dir(prefix)
    assert isinstance(listing, DirListing)
    assert (listing.prefixes, tuple(f.key for f in listing.files)) == s3_list_dir(KEYS, prefix)
    assert all(f.size == len(f.key) for f in listing.files)


@pytest.mark.parametrize("face_under_test", FACES)
@settings(max_examples=100, deadline=None)
@given(
    keys=st.lists(
        st.text("ab/", min_size=1, max_size=6).filter(lambda k: "//" not in k), max_size=30, unique=True
    ),
    prefix=st.text("ab/", max_size=3),
)
async def test_list_dir_matches_a_brute_force_reference(
    face_under_test: str, keys: list[str], prefix: str
) -> None:
    keys = [k for k in keys if not k.startswith("/")]
    make, close_all = make_factory(face_under_test)
    storage = make()
    for key in keys:
        await storage.put(key, b"")
    listing = await storage.list_dir(prefix)
    assert (listing.prefixes, tuple(f.key for f in listing.files)) == s3_list_dir(keys, prefix)
    close_all()


@memory_only("inspects the memory engine's sorted index (storage._engine._keys)")
async def test_list_dir_skips_sub_folders_through_the_index(make: Make) -> None:
    storage = make()
    for folder in range(30):
        for i in range(50):
            await storage.put(f"root/f{folder:02d}/k{i:03d}", b"x")
    await storage.put("root/file.txt", b"y")
    engine = unwrap(storage)._engine
    visited = 0

    class Counting(list[str]):  # a sublist of the index that counts the keys read from it
        def __getitem__(self, index: Any) -> Any:
            nonlocal visited
            visited += 1
            return super().__getitem__(index)

    sublists = engine._keys._lists
    originals = list(sublists)
    sublists[:] = [Counting(sub) for sub in originals]
    try:
        listing = await storage.list_dir("root/")
    finally:
        sublists[:] = originals
    assert len(listing.prefixes) == 30
    assert [f.key for f in listing.files] == ["root/file.txt"]
    assert visited <= 2 * (30 + 1) + 2  # about one key per result, never the 1,500 inside


async def test_folder_usage_at_any_depth(make: Make) -> None:
    storage = make()
    for key, size in [("a/x", 1), ("a/b/y", 2), ("a/b/c/z", 4), ("a/d/w", 8), ("top", 16)]:
        await storage.put(key, b"x" * size)
    usage = {u.prefix: (u.file_count, u.used_bytes) for u in await storage.get_prefix_usage("a/")}
    assert usage == {"a/b/": (2, 6), "a/d/": (1, 8), "a/": (1, 1)}
    await storage.delete("a/b/c/z")
    await storage.move("a/d/w", "a/b/w")
    usage = {u.prefix: (u.file_count, u.used_bytes) for u in await storage.get_prefix_usage("a/")}
    assert usage == {"a/b/": (2, 10), "a/": (1, 1)}
    assert {u.prefix for u in await storage.get_prefix_usage()} == {"a/", ""}


# -------------------------------------------------------------------------- glob
GLOB_KEYS = ["a.csv", "b.txt", "d/a.csv", "d/e/f.csv", "d/x1.txt", "d/x2.txt", "d/xy.txt", "e/a.csv"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*.csv", ["a.csv"]),
        ("**/*.csv", ["a.csv", "d/a.csv", "d/e/f.csv", "e/a.csv"]),
        ("d/*.csv", ["d/a.csv"]),
        ("d/**", ["d/a.csv", "d/e/f.csv", "d/x1.txt", "d/x2.txt", "d/xy.txt"]),
        ("d/x?.txt", ["d/x1.txt", "d/x2.txt", "d/xy.txt"]),
        ("d/x[0-9].txt", ["d/x1.txt", "d/x2.txt"]),
        ("d/x[!0-9].txt", ["d/xy.txt"]),
        ("*/a.csv", ["d/a.csv", "e/a.csv"]),
        ("d?a.csv", []),  # ? never matches "/"
        ("b.txt", ["b.txt"]),
        ("nothing*", []),
    ],
)
async def test_glob(make: Make, pattern: str, expected: list[str]) -> None:
    storage = make()
    for key in GLOB_KEYS:
        await storage.put(key, b"")
    assert await keys_of(storage.glob(pattern)) == expected
    assert await keys_of(storage.glob(pattern, limit=1)) == expected[:1]
    assert await keys_of(storage.glob(pattern, limit=0)) == []


async def test_glob_lists_only_the_range_of_its_literal_prefix(make: Make) -> None:
    storage = make()
    for key in GLOB_KEYS:
        await storage.put(key, b"")
    asked: list[str] = []
    core = unwrap(storage)
    real = core.list

    def spying(prefix: str = "", **kwargs: Any) -> Any:
        asked.append(prefix)
        return real(prefix, **kwargs)

    core.list = spying
    try:
        assert await keys_of(storage.glob("d/x*.txt")) == ["d/x1.txt", "d/x2.txt", "d/xy.txt"]
    finally:
        del core.list
    assert asked == ["d/x"]


# ----------------------------------------------------------------- delete_prefix
@memory_only("events: Redis delivers them later, from a thread (tests/test_redis_events.py)")
async def test_delete_prefix(make: Make) -> None:
    storage = make(MemoryConfig(max_size=10_000))
    for i in range(300):
        await storage.put(f"logs/2024/{i:03d}", b"x" * 10)
    await storage.put("logs/2025/a", b"keep")
    await storage.put("logsX", b"keep too")
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    assert await storage.delete_prefix("logs/2024/") == 300
    assert storage.usage == StorageUsage(2, 12, 10_000)
    assert await keys_of(storage.list()) == ["logs/2025/a", "logsX"]
    assert [(e.kind, e.key, e.count) for e in events] == [("delete_prefix", "logs/2024/", 300)]
    assert await storage.delete_prefix("logs/2024/") == 0
    assert {u.prefix: u.used_bytes for u in storage.prefix_usage()} == {"logs/": 4, "": 8}
    assert await storage.get_prefix_usage("logs/") == [PrefixUsage("logs/2025/", 1, 4)]


async def test_a_concurrent_reader_sees_all_or_none_of_a_prefix_delete(make: Make) -> None:
    storage = make()
    for i in range(2000):
        await storage.put(f"p/{i:04d}", b"x")
    seen: set[int] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(anyio.from_thread.run(storage.count, "p/"))
            listing = anyio.from_thread.run(storage.list_dir, "p/")
            seen.add(len(listing.files))

    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, reader)
        await anyio.sleep(0)
        assert await storage.delete_prefix("p/") == 2000
        stop.set()
    assert seen <= {0, 2000}


async def test_delete_prefix_of_everything_is_refused(make: Make) -> None:
    storage = make()
    await storage.put("a", b"1")
    with pytest.raises(ValueError, match=re.escape("clear()")):
        await storage.delete_prefix("")
    assert await storage.exists("a")


# --------------------------------------------------------------------- bad input
BAD: list[Any] = [
    pytest.param(
        lambda s: s.get_bytes("k", start=1.5), TypeError, "start must be an int or None", id="start-float"
    ),
    pytest.param(
        lambda s: s.get_bytes("k", end=True), TypeError, "end must be an int or None", id="end-bool"
    ),
    pytest.param(lambda s: s.get_bytes("k", start="1"), TypeError, "start must be an int", id="start-str"),
    pytest.param(lambda s: keys_of(s.get("k", start=[1])), TypeError, "start must be an int", id="get-start"),
    pytest.param(
        lambda s: s.get_ranges("k", [(0, 1, 2)]), TypeError, "ranges[0] must be a (start, end)", id="triple"
    ),
    pytest.param(lambda s: s.get_ranges("k", "01"), TypeError, "ranges must be a sequence", id="ranges-str"),
    pytest.param(
        lambda s: s.get_ranges("k", [(0, "1")]), TypeError, "ranges[0] end must be an int", id="end-str"
    ),
    pytest.param(
        lambda s: s.put("k", b"x", if_none_match="yes"), ValueError, "if_none_match must be '*'", id="inm"
    ),
    pytest.param(
        lambda s: s.put("k", b"x", if_match=123), TypeError, "if_match must be an ETag str", id="im-int"
    ),
    pytest.param(lambda s: s.put("k", b"x", if_match=""), ValueError, "non-empty ETag", id="im-empty"),
    pytest.param(
        lambda s: s.put("k", b"x", if_none_match="*", if_match='"a"'), ValueError, "not both", id="both"
    ),
    pytest.param(
        lambda s: s.delete("k", if_match=b"x"), TypeError, "if_match must be an ETag str", id="del-im"
    ),
    pytest.param(lambda s: s.copy("k", "d", overwrite="no"), TypeError, "overwrite must be a bool", id="ow"),
    pytest.param(
        lambda s: s.move("k", "d", overwrite=None), TypeError, "overwrite must be a bool", id="ow-none"
    ),
    pytest.param(lambda s: keys_of(s.glob(3)), TypeError, "pattern must be a str", id="glob-int"),
    pytest.param(lambda s: keys_of(s.glob("*", limit=-1)), ValueError, "limit must be >= 0", id="glob-limit"),
    pytest.param(lambda s: s.list_dir(b"a/"), TypeError, "prefix must be a str", id="list-dir-bytes"),
    pytest.param(lambda s: s.delete_prefix(None), TypeError, "prefix must be a str", id="delete-prefix-none"),
    pytest.param(
        lambda s: s.list_page(order="size"), ValueError, "order must be 'key' or 'newest'", id="order"
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD)
async def test_bad_input_names_the_argument_and_changes_nothing(
    make: Make, call: Any, error: type[Exception], message: str
) -> None:
    storage = make()
    await storage.put("k", b"contents")
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    before = (storage.usage, await keys_of(storage.list()), await storage.get_bytes("k"))
    with pytest.raises(error, match=re.escape(message)):
        await call(storage)
    assert (storage.usage, await keys_of(storage.list()), await storage.get_bytes("k")) == before
    assert events == []


async def test_errors_are_typed_and_pickle(make: Make) -> None:
    import pickle

    error = StoragePreconditionFailedError("k", expected='"a"', actual=None)
    again = pickle.loads(pickle.dumps(error))
    assert (again.key, again.expected, again.actual) == ("k", '"a"', None)
    assert isinstance(again, StorageError)
    assert "the key does not exist" in str(again)
