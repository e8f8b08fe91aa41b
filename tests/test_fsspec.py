"""``memstore://NAME/KEY``: the fsspec filesystem, as fsspec users call it."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

pytest.importorskip("fsspec")

import fsspec

from memstore import (
    MemoryConfig,
    MemoryStorage,
    StorageEvent,
    StorageQuotaExceededError,
    SyncMemoryStorage,
)
from memstore.fsspec import MemstoreFile, MemstoreFileSystem
from memstore.memory import _registry


@pytest.fixture
def lab() -> Iterator[SyncMemoryStorage]:
    """The named storage ``fsx`` with a 1 MiB quota, closed (name freed) after the test."""
    storage = SyncMemoryStorage.named("fsx", MemoryConfig(max_size=1 << 20))
    yield storage
    storage.close()


@pytest.fixture
def fs() -> MemstoreFileSystem:
    return MemstoreFileSystem()


def test_the_protocol_is_registered_through_the_entry_point(lab: SyncMemoryStorage) -> None:
    assert isinstance(fsspec.filesystem("memstore"), MemstoreFileSystem)
    fs, path = fsspec.url_to_fs("memstore://fsx/a/b.txt")
    assert isinstance(fs, MemstoreFileSystem)
    assert path == "fsx/a/b.txt"
    with fsspec.open("memstore://fsx/a/b.txt", "wb") as f:
        f.write(b"hello")
    assert lab.get_bytes("a/b.txt") == b"hello"


def test_cat_file_reads_ranges_with_slice_semantics(lab: SyncMemoryStorage, fs: MemstoreFileSystem) -> None:
    lab.put("r.bin", b"0123456789")
    assert fs.cat_file("memstore://fsx/r.bin") == b"0123456789"
    assert fs.cat_file("memstore://fsx/r.bin", start=2, end=5) == b"234"
    assert fs.cat_file("fsx/r.bin", start=-3) == b"789"
    assert fs.cat_file("fsx/r.bin", start=8, end=100) == b"89"
    assert fs.cat_ranges(["fsx/r.bin", "fsx/r.bin"], [0, 5], [2, 7]) == [b"01", b"56"]
    assert fs.read_block("fsx/r.bin", 1, 3) == b"123"


def test_open_rb_seeks_and_reads(lab: SyncMemoryStorage, fs: MemstoreFileSystem) -> None:
    data = bytes(range(256)) * 100
    lab.put("big.bin", data)
    with fs.open("memstore://fsx/big.bin", "rb", block_size=1000) as f:
        assert isinstance(f, MemstoreFile)
        assert f.size == len(data)
        f.seek(25_000)
        assert f.read(10) == data[25_000:25_010]
        f.seek(-5, 2)
        assert f.read() == data[-5:]
        f.seek(0)
        assert f.read() == data


def test_a_written_file_appears_only_when_closed(lab: SyncMemoryStorage, fs: MemstoreFileSystem) -> None:
    f = fs.open("memstore://fsx/out.bin", "wb", block_size=1000)
    f.write(b"a" * 2500)  # two blocks streamed into the put
    assert not lab.exists("out.bin")
    f.write(b"b" * 10)
    assert not lab.exists("out.bin")
    f.close()
    assert lab.get_bytes("out.bin") == b"a" * 2500 + b"b" * 10
    assert lab.info("out.bin").etag == '"' + hashlib.md5(b"a" * 2500 + b"b" * 10).hexdigest() + '"'


def test_an_exception_inside_with_stores_nothing(lab: SyncMemoryStorage, fs: MemstoreFileSystem) -> None:
    lab.put("keep.bin", b"old")

    def write_then_fail() -> None:
        with fs.open("fsx/keep.bin", "wb", block_size=100) as f:
            f.write(b"new" * 100)  # some blocks already streamed
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert lab.get_bytes("keep.bin") == b"old"
    assert lab.usage.used_bytes == 3


def test_an_empty_file(lab: SyncMemoryStorage, fs: MemstoreFileSystem) -> None:
    with fs.open("fsx/empty", "wb"):
        pass
    assert lab.get_bytes("empty") == b""
    fs.touch("fsx/touched")
    assert fs.info("fsx/touched")["size"] == 0


def test_a_write_past_the_quota_fails_and_stores_nothing(
    lab: SyncMemoryStorage, fs: MemstoreFileSystem
) -> None:
    lab.put("small", b"x" * 100)
    written: list[int] = []

    def runaway() -> None:
        with fs.open("fsx/huge.bin", "wb", block_size=1 << 16) as f:
            for _ in range(40):  # 2.5 MiB into a 1 MiB quota
                f.write(b"y" * (1 << 16))
                written.append(1)

    with pytest.raises(StorageQuotaExceededError) as info:
        runaway()
    # one block is in flight while the next is written: the write after the one that crossed
    # the quota (the 16th block of 64 KiB) fails, long before close
    assert len(written) == 16
    assert info.value.key == "huge.bin"
    assert info.value.max_size == 1 << 20
    assert not lab.exists("huge.bin")
    assert lab.usage.used_bytes == 100
    with pytest.raises(StorageQuotaExceededError):
        fs.pipe_file("fsx/huge2.bin", b"z" * (2 << 20))
    assert lab.usage.file_count == 1


def test_exclusive_writes(lab: SyncMemoryStorage, fs: MemstoreFileSystem) -> None:
    fs.pipe_file("fsx/x", b"1", mode="create")
    with pytest.raises(FileExistsError):
        fs.pipe_file("fsx/x", b"2", mode="create")
    with pytest.raises(FileExistsError):
        fs.open("fsx/x", "xb")
    f = fs.open("fsx/y", "xb")
    f.write(b"mine")
    lab.put("y", b"theirs")  # the key is taken before the commit: decided at the commit step
    with pytest.raises(FileExistsError):
        f.close()
    assert lab.get_bytes("y") == b"theirs"
    with pytest.raises(ValueError, match="mode"):
        fs.pipe_file("fsx/z", b"1", mode="append")


def test_missing_keys_and_storages_raise_file_not_found(
    lab: SyncMemoryStorage, fs: MemstoreFileSystem
) -> None:
    for call in (
        lambda: fs.cat_file("fsx/nope"),
        lambda: fs.open("fsx/nope", "rb"),
        lambda: fs.info("fsx/nope"),
        lambda: fs.ls("fsx/nope"),
        lambda: fs.rm("fsx/nope"),
        lambda: fs.cat_file("no-such-storage/a"),
        lambda: fs.ls("no-such-storage"),
        lambda: fs.cp_file("fsx/nope", "fsx/b"),
    ):
        with pytest.raises(FileNotFoundError):
            call()  # type: ignore[no-untyped-call]
    assert not fs.exists("fsx/nope")
    assert not fs.exists("no-such-storage/a")
    assert not fs.exists("fsx/a/../b")  # not a valid key: no such file
    assert _registry.lookup("no-such-storage") is None  # reads never create a storage


def test_ls_info_and_folders(lab: SyncMemoryStorage, fs: MemstoreFileSystem) -> None:
    for key in ["a.txt", "d/1.txt", "d/2.txt", "d/e/3.txt"]:
        lab.put(key, b"abc")
    assert fs.ls("memstore://fsx", detail=False) == ["fsx/a.txt", "fsx/d"]
    listing = fs.ls("fsx/d/", detail=True)
    assert [(i["name"], i["type"], i["size"]) for i in listing] == [
        ("fsx/d/1.txt", "file", 3),
        ("fsx/d/2.txt", "file", 3),
        ("fsx/d/e", "directory", 0),
    ]
    assert fs.ls("fsx/a.txt", detail=False) == ["fsx/a.txt"]  # ls of a file: the file
    info = fs.info("fsx/d/1.txt")
    assert info["etag"] == lab.info("d/1.txt").etag
    assert info["content_type"] == "text/plain"
    assert fs.info("fsx/d") == {"name": "fsx/d", "size": 0, "type": "directory"}
    assert fs.info("fsx")["type"] == "directory"
    assert fs.isdir("fsx/d/e")
    assert not fs.isdir("fsx/a.txt")
    assert fs.isfile("fsx/a.txt")
    assert not fs.isfile("fsx/d")
    assert "fsx" in fs.ls("", detail=False)  # the root lists the named storages
    assert fs.info("")["type"] == "directory"


def test_find_glob_walk_du(lab: SyncMemoryStorage, fs: MemstoreFileSystem) -> None:
    for key in ["a.txt", "d/1.txt", "d/2.csv", "d/e/3.txt"]:
        lab.put(key, b"abcd")
    assert fs.find("fsx") == ["fsx/a.txt", "fsx/d/1.txt", "fsx/d/2.csv", "fsx/d/e/3.txt"]
    assert fs.find("fsx/d", withdirs=True) == [
        "fsx/d",
        "fsx/d/1.txt",
        "fsx/d/2.csv",
        "fsx/d/e",
        "fsx/d/e/3.txt",
    ]
    assert fs.find("fsx/d", maxdepth=1) == ["fsx/d/1.txt", "fsx/d/2.csv"]
    assert fs.find("fsx/a.txt") == ["fsx/a.txt"]
    assert fs.find("no-such-storage") == []
    assert sorted(fs.find("fsx/d", detail=True)) == ["fsx/d/1.txt", "fsx/d/2.csv", "fsx/d/e/3.txt"]
    assert fs.glob("memstore://fsx/**/*.txt") == ["fsx/a.txt", "fsx/d/1.txt", "fsx/d/e/3.txt"]
    assert fs.glob("fsx/d/*.csv") == ["fsx/d/2.csv"]
    walked = list(fs.walk("fsx"))
    assert walked[0] == ("fsx", ["d"], ["a.txt"])
    assert ("fsx/d/e", [], ["3.txt"]) in walked
    assert fs.du("fsx") == 16
    assert fs.du("fsx/d") == 12
    assert fs.du("fsx/a.txt") == 4
    assert fs.du("fsx/d", total=False) == {"fsx/d/1.txt": 4, "fsx/d/2.csv": 4, "fsx/d/e/3.txt": 4}


def test_rm_recursive_deletes_a_folder_in_one_step(lab: SyncMemoryStorage, fs: MemstoreFileSystem) -> None:
    for key in ["d/1", "d/2", "d/e/3", "d.txt", "keep"]:
        lab.put(key, b"1")
    events: list[StorageEvent] = []
    lab.subscribe(events.append)
    fs.rm("memstore://fsx/d", recursive=True)
    assert [e.kind for e in events] == ["delete_prefix"]
    assert sorted(f.key for f in lab.list()) == ["d.txt", "keep"]
    fs.rm("fsx/d.txt")
    fs.rm(["fsx/keep"])
    assert lab.usage.file_count == 0
    lab.put("g/a.txt", b"1")
    lab.put("g/b.bin", b"1")
    fs.rm("fsx/g/*.txt")
    assert [f.key for f in lab.list()] == ["g/b.bin"]
    fs.rm("fsx", recursive=True)  # a whole storage: emptied, still open
    assert lab.usage.file_count == 0
    assert not lab.closed


def test_copy_and_move(lab: SyncMemoryStorage, fs: MemstoreFileSystem) -> None:
    lab.put("src.txt", b"data", metadata={"k": "v"})
    fs.cp_file("fsx/src.txt", "fsx/copy.txt")
    assert lab.get_bytes("copy.txt") == b"data"
    events: list[StorageEvent] = []
    lab.subscribe(events.append)
    fs.mv("memstore://fsx/copy.txt", "memstore://fsx/moved.txt")
    assert [e.kind for e in events] == ["move"]  # one atomic move
    assert not lab.exists("copy.txt")
    other = SyncMemoryStorage.named("fsx-other")
    try:
        fs.cp_file("fsx/src.txt", "fsx-other/src.txt")  # across storages: bytes, type and metadata
        assert other.get_bytes("src.txt") == b"data"
        assert other.info("src.txt").metadata == {"k": "v"}
        fs.mv("fsx/moved.txt", "fsx-other/moved.txt")
        assert other.get_bytes("moved.txt") == b"data"
        assert not lab.exists("moved.txt")
    finally:
        other.close()
    lab.put("t/1", b"1")
    lab.put("t/2", b"2")
    fs.mv("fsx/t", "fsx/u", recursive=True)
    assert sorted(f.key for f in lab.list("u/")) == ["u/1", "u/2"]
    assert lab.count("t/") == 0
    fs.mv("fsx/src.txt", "fsx/src.txt")  # the same path: nothing happens
    assert lab.exists("src.txt")


def test_checksum_ukey_modified(lab: SyncMemoryStorage, fs: MemstoreFileSystem) -> None:
    file = lab.put("a", b"one")
    assert fs.ukey("fsx/a") == file.etag
    assert fs.checksum("fsx/a") == int(hashlib.md5(b"one").hexdigest(), 16)
    modified = fs.modified("fsx/a")
    assert modified == file.last_modified
    assert modified.tzinfo is timezone.utc
    assert isinstance(modified, datetime)
    before = fs.checksum("fsx/a")
    lab.put("a", b"two")
    assert fs.checksum("fsx/a") != before
    lab.put("b", b"one")
    assert fs.checksum("fsx/b") == before  # same contents, same checksum
    lab.put("dir/x", b"1")
    with pytest.raises(IsADirectoryError):
        fs.modified("fsx/dir")


def test_mkdir_and_makedirs_are_no_ops_but_mkdir_of_a_name_creates_the_storage(
    lab: SyncMemoryStorage, fs: MemstoreFileSystem
) -> None:
    fs.mkdir("fsx/new/folder")
    fs.makedirs("fsx/new/folder", exist_ok=False)
    assert lab.usage.file_count == 0
    assert not fs.exists("fsx/new")
    fs.mkdir("memstore://fsx-made")
    made = _registry.lookup("fsx-made")
    assert made is not None
    assert fs.info("fsx-made")["type"] == "directory"
    MemoryStorage.named("fsx-made")._engine.close()


def test_writing_to_a_new_name_creates_the_storage(fs: MemstoreFileSystem) -> None:
    fs.pipe_file("memstore://fsx-created/a", b"1")
    storage = SyncMemoryStorage.named("fsx-created")
    try:
        assert storage.get_bytes("a") == b"1"
    finally:
        storage.close()
    with pytest.raises(IsADirectoryError):
        fs.pipe_file("memstore://fsx-created", b"1")


def test_put_and_get_files(lab: SyncMemoryStorage, fs: MemstoreFileSystem, tmp_path: object) -> None:
    from pathlib import Path

    local = Path(str(tmp_path))
    (local / "in.bin").write_bytes(b"local data")
    fs.put_file(str(local / "in.bin"), "fsx/in.bin")
    assert lab.get_bytes("in.bin") == b"local data"
    fs.get_file("fsx/in.bin", str(local / "out.bin"))
    assert (local / "out.bin").read_bytes() == b"local data"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # fsspec's async filesystems run on asyncio
async def test_the_async_api(anyio_backend: str) -> None:
    fs = MemstoreFileSystem(asynchronous=True, skip_instance_cache=True)
    storage = MemoryStorage.named("fsx-async")
    try:
        await fs._pipe_file("fsx-async/a/b", b"abc")
        assert await storage.get_bytes("a/b") == b"abc"
        assert await fs._cat_file("memstore://fsx-async/a/b", start=1) == b"bc"
        assert await fs._ls("fsx-async", detail=False) == ["fsx-async/a"]
        assert await fs._exists("fsx-async/a")
        await fs._rm("fsx-async/a", recursive=True)
        assert await storage.count() == 0
    finally:
        await storage.close()


def test_discard_and_dropping_an_unclosed_file_store_nothing(
    lab: SyncMemoryStorage, fs: MemstoreFileSystem
) -> None:
    f = fs.open("fsx/discarded.bin", "wb", block_size=100)
    f.write(b"d" * 500)  # blocks streamed, reserved against the quota
    f.discard()
    f.close()
    assert not lab.exists("discarded.bin")
    g = fs.open("fsx/dropped.bin", "wb", block_size=100)
    g.write(b"d" * 500)
    del g  # never closed: never committed
    gc.collect()
    assert not lab.exists("dropped.bin")
    assert lab.usage.used_bytes == 0
    lab.put("ok.bin", b"still writable")  # no reservation was left behind
    assert lab.usage.used_bytes == 14


def test_a_reader_reads_in_the_callers_thread_and_lets_go_on_close(
    lab: SyncMemoryStorage, fs: MemstoreFileSystem
) -> None:
    lab.put("r.bin", b"abcdef")
    with fs.open("fsx/r.bin", "rb") as f:
        assert f.read(2) == b"ab"
        lab.delete("r.bin")  # gone while open: the next read says so
        with pytest.raises(FileNotFoundError):
            f.read()
    assert f.closed
    lab.close()
    with pytest.raises(FileNotFoundError):  # the storage is closed: its name is gone
        fs.open("fsx/r.bin", "rb")
