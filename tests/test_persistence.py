"""Keeping your data: save/load to a file, snapshots and restore, pickling (docs/guides/persistence.md)."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import pickle
import tarfile
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

import anyio
import pytest

import memstore._archive as archive
from memstore import (
    MemoryConfig,
    MemoryStorage,
    SaveInfo,
    Snapshot,
    StorageClosedError,
    StorageError,
    StorageEvent,
    StorageFormatError,
    StorageQuotaExceededError,
    StoredFile,
    SyncMemoryStorage,
)
from tests.faces import AsyncOverSync, Make, unwrap

pytestmark = [
    pytest.mark.anyio,
    # The memory backend's save/load (modification times kept, a new storage, names),
    # snapshot/restore and pickling with contents. Redis saves and loads the same archives
    # with its own guarantees: tests/test_redis_generic.py.
    pytest.mark.memory_only(reason="the memory backend's persistence (Redis: test_redis_generic.py)"),
]


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


async def load_like(storage: Any, path: Path, config: MemoryConfig | None = None) -> Any:
    """``load`` on the class of the face under test, returned with the async API."""
    held = unwrap(storage)
    if isinstance(held, SyncMemoryStorage):
        return AsyncOverSync(type(held).load(path, config))
    return await type(held).load(path, config)


async def files_of(storage: Any) -> list[StoredFile]:
    return [f async for f in storage.list()]


async def contents_of(storage: Any) -> dict[str, bytes]:
    return {f.key: await storage.get_bytes(f.key) async for f in storage.list()}


async def fill(storage: Any) -> dict[str, bytes]:
    """A mix of files: nested keys, non-ASCII, empty, metadata, a multi-part file, a stream."""

    async def stream() -> AsyncIterator[bytes]:
        for i in range(5):
            yield bytes([i]) * 100_000

    data = {
        "a.txt": b"hello",
        "docs/r\u00e9sum\u00e9 2024.pdf": b"%PDF-1.4 ...",
        "empty": b"",
        "deep/er/still/x.json": b'{"x": 1}',
        "big.bin": bytes(range(256)) * 12_000,  # 3 MiB from a bytearray: stored in parts
        "streamed.bin": b"".join(bytes([i]) * 100_000 for i in range(5)),
    }
    await storage.put("a.txt", data["a.txt"], metadata={"owner": "ana", "note": "caf\u00e9"})
    await storage.put("docs/r\u00e9sum\u00e9 2024.pdf", data["docs/r\u00e9sum\u00e9 2024.pdf"])
    await storage.put("empty", b"", content_type="application/x-custom")
    await storage.put("deep/er/still/x.json", data["deep/er/still/x.json"])
    await storage.put("big.bin", bytearray(data["big.bin"]))
    await storage.put("streamed.bin", stream())
    return data


# -------------------------------------------------------------- round trips
async def test_save_and_load_round_trip_every_field(make: Make, tmp_path: Path) -> None:
    storage = make()
    data = await fill(storage)
    before = await files_of(storage)
    newest = await storage.list_page(order="newest")
    info = await storage.save(tmp_path / "store.tar")
    assert info == SaveInfo(str(tmp_path / "store.tar"), 6, os.path.getsize(tmp_path / "store.tar"))
    loaded = await load_like(storage, tmp_path / "store.tar")
    assert type(unwrap(loaded)) is type(unwrap(storage))
    after = await files_of(loaded)
    assert after == before  # key, size, content type, etag, last-modified, metadata
    assert [f.etag for f in after] == [md5_etag(data[f.key]) for f in after]
    assert await contents_of(loaded) == data
    assert await loaded.list_page(order="newest") == newest  # modification order too
    assert loaded.usage == storage.usage
    assert loaded.prefix_usage() == storage.prefix_usage()
    assert await loaded.get_bytes("big.bin", start=-5) == data["big.bin"][-5:]
    # the loaded storage is an ordinary, independent one
    await loaded.put("a.txt", b"changed")
    assert await storage.get_bytes("a.txt") == b"hello"


async def test_metadata_of_any_size_round_trips(make: Make, tmp_path: Path) -> None:
    storage = make()
    await storage.put("k", b"v", metadata={"big": "\u00e9\n" * 200_000, "": ""})
    await storage.save(tmp_path / "s.tar")
    loaded = await load_like(storage, tmp_path / "s.tar")
    assert await files_of(loaded) == await files_of(storage)


async def test_an_empty_storage_round_trips(make: Make, tmp_path: Path) -> None:
    storage = make()
    info = await storage.save(str(tmp_path / "empty.tar"))
    assert info.file_count == 0
    loaded = await load_like(storage, tmp_path / "empty.tar")
    assert await files_of(loaded) == []
    assert loaded.usage.used_bytes == 0


async def test_save_replaces_a_previous_file_and_keeps_its_permissions(make: Make, tmp_path: Path) -> None:
    storage = make()
    target = tmp_path / "store.tar"
    target.write_bytes(b"old")
    target.chmod(0o640)
    await storage.put("k", b"v")
    await storage.save(target)
    assert target.stat().st_mode & 0o777 == 0o640
    assert await contents_of(await load_like(storage, target)) == {"k": b"v"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.tar"]  # no temporary file left


async def test_a_new_file_is_readable_by_its_owner_only(make: Make, tmp_path: Path) -> None:
    await make().save(tmp_path / "new.tar")
    assert (tmp_path / "new.tar").stat().st_mode & 0o777 == 0o600


def test_100k_small_files_round_trip(tmp_path: Path) -> None:
    with SyncMemoryStorage() as storage:
        for i in range(100_000):
            storage.put(f"d{i % 100:02d}/{i:06d}.txt", str(i).encode())
        storage.save(tmp_path / "many.tar")
        loaded = SyncMemoryStorage.load(tmp_path / "many.tar")
        assert list(loaded.list()) == list(storage.list())
        assert loaded.get_bytes("d42/099942.txt") == b"99942"
        assert loaded.usage == storage.usage
        loaded.close()


@pytest.mark.slow
def test_a_1_gib_file_round_trips(tmp_path: Path) -> None:
    size = 1 << 30
    with SyncMemoryStorage() as storage:
        stored = storage.put("huge.bin", bytes(range(256)) * (size // 256))
        info = storage.save(tmp_path / "huge.tar")
        assert info.bytes_written > size
        loaded = SyncMemoryStorage.load(tmp_path / "huge.tar")
        # load verified the contents against their SHA-256 and MD5; compare what a user sees
        assert loaded.info("huge.bin") == stored
        assert loaded.get_bytes("huge.bin", start=size // 2, end=size // 2 + 300) == bytes(
            range(256)
        ) + bytes(range(44))
        assert loaded.usage.used_bytes == size
        loaded.close()


async def test_load_checks_the_config(make: Make, tmp_path: Path) -> None:
    storage = make()
    await storage.put("k", b"0123456789")
    await storage.save(tmp_path / "s.tar")
    exact = await load_like(storage, tmp_path / "s.tar", MemoryConfig(max_size=10))
    assert exact.usage.free_bytes == 0
    with pytest.raises(StorageQuotaExceededError, match=r"loading .*s\.tar.*10 bytes") as info:
        await load_like(storage, tmp_path / "s.tar", MemoryConfig(max_size=9))
    assert info.value.requested_bytes == 10
    assert info.value.max_size == 9
    with pytest.raises(TypeError, match="config must be a MemoryConfig"):
        await type(unwrap(storage)).load(tmp_path / "s.tar", {"max_size": 9})


async def test_bad_paths_and_closed_storages(make: Make, tmp_path: Path) -> None:
    storage = make()
    with pytest.raises(TypeError, match="path must be a str"):
        await storage.save(b"x.tar")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path must be a str"):
        await type(unwrap(storage)).load(42)
    with pytest.raises(FileNotFoundError):
        await load_like(storage, tmp_path / "missing.tar")
    with pytest.raises(FileNotFoundError):
        await storage.save(tmp_path / "no" / "such" / "dir.tar")
    assert list(tmp_path.iterdir()) == []
    await storage.close()
    with pytest.raises(StorageClosedError):
        await storage.save(tmp_path / "x.tar")
    with pytest.raises(StorageClosedError):
        storage.snapshot()


# -------------------------------------------------------- all or nothing
class FailingFile(io.FileIO):
    """A file that fails like a full disk once ``budget`` bytes were written."""

    budget = 0

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        if n > FailingFile.budget:
            raise OSError(28, "No space left on device (test)")
        FailingFile.budget -= n
        return super().write(data)


async def test_a_failed_save_leaves_the_previous_file_intact(
    make: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = make()
    await storage.put("old", b"previous contents")
    target = tmp_path / "store.tar"
    await storage.save(target)
    previous = target.read_bytes()
    await storage.put("big", bytes(4 << 20))
    FailingFile.budget = 2 << 20  # fail halfway through the big file

    def opener(fd: int) -> IO[bytes]:
        return FailingFile(fd, "wb")

    monkeypatch.setattr(archive, "_open_fd", opener)
    with pytest.raises(OSError, match="No space left"):
        await storage.save(target)
    assert target.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.tar"]  # the temporary file is gone
    assert await contents_of(await load_like(storage, target)) == {"old": b"previous contents"}


def saved(tmp_path: Path, files: dict[str, bytes] | None = None) -> Path:
    path = tmp_path / "store.tar"
    with SyncMemoryStorage() as storage:
        for key, value in (files or {"a.txt": b"alpha", "b/c.bin": bytes(range(256)) * 40}).items():
            storage.put(key, value, metadata={"m": "1"})
        storage.save(path)
    return path


def load_error(path: Path) -> StorageFormatError:
    with pytest.raises(StorageFormatError) as info:
        SyncMemoryStorage.load(path)
    assert str(path) in str(info.value)
    assert info.value.path == str(path)
    return info.value


def data_regions(path: Path) -> list[tuple[str, int, int, int]]:
    """(member name, header offset, data offset, size) of each member."""
    with tarfile.open(path, "r:") as tar:
        return [(m.name, m.offset, m.offset_data, m.size) for m in tar.getmembers()]


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    path = saved(tmp_path)
    whole = path.read_bytes()
    regions = data_regions(path)
    cuts = [0, 100, 511, 513]
    for _, header, data, _ in regions:
        cuts += [header + 200, data + 3]
    for cut in cuts:
        (tmp_path / "cut.tar").write_bytes(whole[:cut])
        error = load_error(tmp_path / "cut.tar")
        assert error.problem, cut


def test_a_corrupted_byte_anywhere_that_matters_is_refused(tmp_path: Path) -> None:
    path = saved(tmp_path)
    whole = path.read_bytes()
    for name, header, data, size in data_regions(path):
        # the mode and size fields of the tar header, the first and the last byte of the contents
        for position in (header + 100, header + 130, data, data + size - 1):
            damaged = bytearray(whole)
            damaged[position] ^= 0x01
            (tmp_path / "bad.tar").write_bytes(bytes(damaged))
            with pytest.raises(StorageFormatError) as info:
                SyncMemoryStorage.load(tmp_path / "bad.tar")
            assert "bad.tar" in str(info.value), (name, position)


def test_a_corrupted_content_names_its_key(tmp_path: Path) -> None:
    path = saved(tmp_path)
    offsets = {name: data for name, _, data, _ in data_regions(path)}
    damaged = bytearray(path.read_bytes())
    damaged[offsets["files/00000001"] + 1000] ^= 0xFF
    path.write_bytes(bytes(damaged))
    assert "'b/c.bin' do not match their SHA-256" in load_error(path).problem


def test_foreign_compressed_and_newer_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "text.tar"
    path.write_text("not an archive at all" * 100)
    assert "not an uncompressed tar archive" in load_error(path).problem
    gz = tmp_path / "store.tar.gz"
    with tarfile.open(gz, "w:gz") as tar:
        tar.add(saved(tmp_path), arcname="store.tar")
    assert "not an uncompressed tar" in load_error(gz).problem
    newer = rewrite(saved(tmp_path), header=lambda h: h.update(version=2))
    problem = load_error(newer).problem
    assert "format version 2" in problem
    assert "upgrade memstore" in problem
    other = rewrite(saved(tmp_path), header=lambda h: h.update(format="zip-of-cats"))
    assert "does not describe a memstore-archive" in load_error(other).problem


# ------------------------------------------------------------- hostile files
Members = list[tuple[tarfile.TarInfo, bytes]]


def read_members(path: Path) -> Members:
    with tarfile.open(path, "r:") as tar:
        out = []
        for member in tar.getmembers():
            stream = tar.extractfile(member)
            out.append((member, stream.read() if stream else b""))
        return out


def write_members(path: Path, members: Members) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in members:
            member.size = len(data) if member.isreg() else 0
            tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return path


def rewrite(
    path: Path,
    *,
    header: Callable[[dict[str, Any]], Any] | None = None,
    manifest: Callable[[dict[str, Any]], Any] | None = None,
    members: Callable[[Members], Any] | None = None,
) -> Path:
    """Edit a saved archive, then make every checksum agree again: only the intended lie is left."""
    items = read_members(path)
    by_name = {m.name: i for i, (m, _) in enumerate(items)}
    head = json.loads(items[by_name["memstore.json"]][1])
    if header:
        header(head)
    head_raw = json.dumps(head).encode()
    items[by_name["memstore.json"]] = (items[by_name["memstore.json"]][0], head_raw)
    lines = items[by_name["manifest.jsonl"]][1].decode().splitlines()
    man = {**json.loads(lines[0]), "files": [json.loads(line) for line in lines[1:]]}
    man["header_sha256"] = hashlib.sha256(head_raw).hexdigest()
    if manifest:
        manifest(man)
    files = man.pop("files")
    man_raw = "".join(json.dumps(line) + "\n" for line in [man, *files]).encode()
    items[by_name["manifest.jsonl"]] = (items[by_name["manifest.jsonl"]][0], man_raw)
    check = f"{hashlib.sha256(man_raw).hexdigest()}  manifest.jsonl\n".encode()
    items[by_name["manifest.jsonl.sha256"]] = (items[by_name["manifest.jsonl.sha256"]][0], check)
    if members:
        members(items)
    return write_members(path.with_name("hostile.tar"), items)


def test_the_rewrite_helper_alone_keeps_a_valid_archive(tmp_path: Path) -> None:
    path = rewrite(saved(tmp_path))
    with SyncMemoryStorage.load(path) as loaded:
        assert loaded.get_bytes("a.txt") == b"alpha"


def first_file(change: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    return lambda manifest: change(manifest["files"][0])


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (first_file(lambda f: f.update(key="../../etc/passwd")), "invalid key: key must not contain '.'"),
        (
            first_file(lambda f: f.update(key="a\x00b")),
            "invalid key: key contains the control character",
        ),
        (first_file(lambda f: f.update(key=7)), "field 'key' is missing or of the wrong type"),
        (lambda m: m["files"][1].update(key="a.txt"), "the key 'a.txt' appears twice"),
        (first_file(lambda f: f.update(size=4)), "declares 4 bytes but its member files/00000000 holds 5"),
        (first_file(lambda f: f.update(etag=md5_etag(b"other"))), "declares the ETag"),
        (first_file(lambda f: f.update(sha256="0" * 64)), "'a.txt' do not match their SHA-256"),
        (first_file(lambda f: f.update(member="files/00000001")), "names member 'files/00000001'"),
        (first_file(lambda f: f.update(metadata={"m": 1})), "invalid metadata"),
        (first_file(lambda f: f.update(metadata=[["m", "1"]])), "field 'metadata' is missing"),
        (first_file(lambda f: f.update(last_modified="2024-01-01T00:00:00")), "without a UTC offset"),
        (first_file(lambda f: f.update(last_modified="yesterday")), "invalid last_modified"),
        (first_file(lambda f: f.update(content_type=["text/plain"])), "content_type must be a string"),
        (lambda m: m["files"].pop(), "manifest.jsonl ends before its last line"),
        (lambda m: m["files"].append(m["files"][0]), "manifest.jsonl has more lines than the 2 files"),
        (lambda m: m.update(file_count=3), "manifest.jsonl lists 3 files, memstore.json declares 2"),
        (lambda m: m["files"].__setitem__(0, [1]), "manifest.jsonl line 2 is not a JSON object"),
        (lambda m: m.update(version=9), "format version 9"),
        (lambda m: m.update(header_sha256="0" * 64), "memstore.json does not match the checksum"),
    ],
)
def test_a_manifest_that_lies_is_refused(
    tmp_path: Path, edit: Callable[[dict[str, Any]], Any], problem: str
) -> None:
    assert problem in load_error(rewrite(saved(tmp_path), manifest=edit)).problem


def test_a_member_bigger_than_declared_is_refused(tmp_path: Path) -> None:
    def grow(items: Members) -> None:
        info, data = items[1]
        items[1] = (info, data + b"more")

    assert (
        "holds 9 bytes, more than the 5 allowed"
        in load_error(rewrite(saved(tmp_path, {"a.txt": b"alpha"}), members=grow)).problem
    )
    assert (
        "declares 10 bytes but the files hold 5"
        in load_error(
            rewrite(saved(tmp_path, {"a.txt": b"alpha"}), header=lambda h: h.update(total_bytes=10))
        ).problem
    )


@pytest.mark.parametrize("name", ["../../evil.sh", "/etc/cron.d/evil", "files/../../evil", "files/00000001"])
def test_traversal_and_unexpected_member_names_are_refused(tmp_path: Path, name: str) -> None:
    def rename(items: Members) -> None:
        items[1][0].name = name

    problem = load_error(rewrite(saved(tmp_path), members=rename)).problem
    assert "unexpected member" in problem
    assert "where files/00000000 should be" in problem


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE])
def test_links_folders_and_devices_are_refused(tmp_path: Path, kind: bytes) -> None:
    def relink(items: Members) -> None:
        info, _ = items[1]
        info.type = kind
        info.linkname = "/etc/passwd"
        items[1] = (info, b"")

    assert "is not a regular file" in load_error(rewrite(saved(tmp_path), members=relink)).problem


def test_duplicate_members_and_extra_members_are_refused(tmp_path: Path) -> None:
    def duplicate(items: Members) -> None:
        items.insert(2, items[1])

    assert (
        "unexpected member 'files/00000000' where files/00000001"
        in load_error(rewrite(saved(tmp_path), members=duplicate)).problem
    )

    def extra(items: Members) -> None:
        info = tarfile.TarInfo("payload.py")
        items.append((info, b"import os"))

    assert (
        "unexpected member 'payload.py' after" in load_error(rewrite(saved(tmp_path), members=extra)).problem
    )


def test_bomb_like_ratios_are_refused_before_reading(tmp_path: Path) -> None:
    huge = rewrite(saved(tmp_path), header=lambda h: h.update(total_bytes=1 << 50))
    assert "a bomb-like ratio" in load_error(huge).problem
    many = rewrite(saved(tmp_path), header=lambda h: h.update(file_count=10**9))
    assert "a bomb-like ratio" in load_error(many).problem

    def sparse(items: Members) -> None:  # a GNU sparse member can claim any size
        items[1][0].type = tarfile.GNUTYPE_SPARSE

    sparse_path = rewrite(saved(tmp_path), members=sparse)
    with pytest.raises(
        StorageFormatError, match=r"member files/00000000 is not a regular file \(type b'S'\)"
    ):
        SyncMemoryStorage.load(sparse_path)


def test_oversized_json_and_garbage_are_refused(tmp_path: Path) -> None:
    def fat_header(items: Members) -> None:
        items[0] = (items[0][0], b" " * (archive._HEADER_LIMIT + 1))

    assert "more than the 65,536 allowed" in load_error(rewrite(saved(tmp_path), members=fat_header)).problem

    def garbage(items: Members) -> None:
        items[0] = (items[0][0], b"\xff\xfe[[[")

    assert "memstore.json is not valid JSON" in load_error(rewrite(saved(tmp_path), members=garbage)).problem

    def nested(items: Members) -> None:
        items[0] = (items[0][0], b"[" * 30_000 + b"]" * 30_000)

    assert "is not valid JSON" in load_error(rewrite(saved(tmp_path), members=nested)).problem


def test_loading_never_unpickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("load must not unpickle")

    path = saved(tmp_path)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    with SyncMemoryStorage.load(path) as loaded:
        assert loaded.get_bytes("a.txt") == b"alpha"


# ------------------------------------------------------------ snapshots
async def test_restore_brings_back_every_field(make: Make) -> None:
    storage = make()
    data = await fill(storage)
    before = await files_of(storage)
    snapshot = storage.snapshot()
    assert snapshot.file_count == len(snapshot) == 6
    assert snapshot.total_bytes == storage.usage.used_bytes
    assert [f.key for f in snapshot.files] == list(data)  # modification order
    await storage.put("a.txt", b"overwritten")
    await storage.delete("big.bin")
    await storage.put("new/file", b"x")
    await storage.restore(snapshot)
    assert await files_of(storage) == before
    assert await contents_of(storage) == data
    assert storage.usage.used_bytes == sum(len(v) for v in data.values())
    assert {p.prefix: p.file_count for p in storage.prefix_usage()} == {"": 4, "docs/": 1, "deep/": 1}
    assert await storage.count("deep/er/") == 1
    assert [f.key for f in (await storage.list_dir("deep/")).files] == []
    assert (await storage.list_dir("deep/")).prefixes == ("deep/er/",)
    await storage.restore(snapshot)  # a snapshot can be restored again
    assert await files_of(storage) == before


async def test_a_snapshot_copies_no_contents_and_is_immutable(make: Make) -> None:
    storage = make()
    await storage.put("k", b"v" * 1000)
    snapshot = storage.snapshot()
    other = make()
    await other.restore(snapshot)
    assert await other.get_bytes("k") is await storage.get_bytes("k")  # the very same bytes object
    with pytest.raises(AttributeError, match="immutable"):
        snapshot.file_count = 3
    with pytest.raises(AttributeError, match="immutable"):
        del snapshot.total_bytes
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(snapshot)
    assert repr(snapshot) == "Snapshot(file_count=1, total_bytes=1000)"


async def test_lazy_etags_stay_right_across_snapshots(make: Make) -> None:
    storage = make()
    await storage.put("small", b"one")  # its ETag is computed when first read
    snapshot = storage.snapshot()
    await storage.put("small", b"two")
    other = make()
    await other.restore(snapshot)
    assert (await other.info("small")).etag == md5_etag(b"one")
    assert snapshot.files[0].etag == md5_etag(b"one")
    assert (await storage.info("small")).etag == md5_etag(b"two")
    await storage.restore(snapshot)
    assert (await storage.info("small")).etag == md5_etag(b"one")


async def test_restore_sends_one_event(make: Make) -> None:
    storage = make()
    await storage.put("a", b"1")
    await storage.put("b", b"2")
    snapshot = storage.snapshot()
    await storage.clear()
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    await storage.restore(snapshot)
    assert events == [StorageEvent("restore", None, None, None, 2)]


async def test_a_snapshot_from_another_storage_is_accepted_if_it_fits(make: Make) -> None:
    source = make()
    await source.put("a", b"x" * 60)
    await source.put("b", b"y" * 40)
    snapshot = source.snapshot()
    small = make(MemoryConfig(max_size=99))
    await small.put("keep", b"z")
    with pytest.raises(
        StorageQuotaExceededError, match="restoring a snapshot of 2 files: it needs 100 bytes"
    ):
        await small.restore(snapshot)
    assert await contents_of(small) == {"keep": b"z"}  # nothing changed
    assert small.usage.used_bytes == 1
    exact = make(MemoryConfig(max_size=100))
    await exact.put("gone", b"z" * 100)
    await exact.restore(snapshot)
    assert await contents_of(exact) == {"a": b"x" * 60, "b": b"y" * 40}
    assert exact.usage.free_bytes == 0
    with pytest.raises(StorageQuotaExceededError):
        await exact.put("c", b"!")
    await source.close()
    await exact.restore(snapshot)  # the snapshot outlives its storage
    assert (await exact.info("a")).etag == md5_etag(b"x" * 60)


async def test_restore_checks_its_argument_and_the_storage(make: Make) -> None:
    storage = make()
    with pytest.raises(TypeError, match="snapshot must be a Snapshot"):
        await storage.restore([])  # type: ignore[arg-type]
    snapshot = storage.snapshot()
    await storage.close()
    with pytest.raises(StorageClosedError):
        await storage.restore(snapshot)


async def test_a_big_restore_is_prepared_off_the_event_loop(make: Make) -> None:
    storage = make()
    for i in range(5000):
        await storage.put(f"k{i:05d}", b"v")
    snapshot = storage.snapshot()
    await storage.clear()
    await storage.restore(snapshot)
    assert await storage.count() == 5000
    assert (await storage.info("k04999")).etag == md5_etag(b"v")


async def test_a_concurrent_reader_sees_the_old_or_the_new_set_never_a_mix(make: Make) -> None:
    storage = make()
    for i in range(300):
        await storage.put(f"a/{i:03d}", b"a")
    old = storage.snapshot()
    await storage.clear()
    for i in range(500):
        await storage.put(f"b/{i:03d}", b"bb")
    new = storage.snapshot()
    held = unwrap(storage)
    reader = SyncMemoryStorage.wrap(held.async_storage if isinstance(held, SyncMemoryStorage) else held)
    old_keys = {f.key for f in old.files}
    new_keys = {f.key for f in new.files}
    seen: list[str] = []
    mixes: list[object] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            keys = {f.key for f in reader.list_page(limit=10_000)}
            usage = reader.usage
            listing = reader.list_dir()
            if keys not in (old_keys, new_keys):
                mixes.append(sorted(keys)[:3])
            if (usage.file_count, usage.used_bytes) not in ((300, 300), (500, 1000)):
                mixes.append(usage)
            if listing.prefixes not in (("a/",), ("b/",)):
                mixes.append(listing.prefixes)
            seen.append("old" if keys == old_keys else "new")

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for round_ in range(200):
            await storage.restore(old if round_ % 2 else new)
    finally:
        done.set()
        thread.join(timeout=60)
    reader.close()
    assert not mixes
    assert seen  # the reader did read meanwhile


# --------------------------------------------------------------- pickling
async def test_pickling_carries_contents_and_config(make: Make) -> None:
    config = MemoryConfig(max_size=10_000_000, chunk_size=1000)
    storage = make(config)
    data = await fill(storage)
    before = await files_of(storage)
    held = unwrap(storage)
    clone = pickle.loads(pickle.dumps(held))
    assert type(clone) is type(held)
    assert clone.config == config
    assert not clone.closed
    twin: Any = AsyncOverSync(clone) if isinstance(clone, SyncMemoryStorage) else clone
    assert await files_of(twin) == before
    assert await contents_of(twin) == data
    await twin.put("a.txt", b"only in the clone")
    assert await storage.get_bytes("a.txt") == b"hello"  # independent
    await storage.close()
    with pytest.raises(StorageClosedError, match=r"cannot pickle this .*MemoryStorage: it is closed"):
        pickle.dumps(held)
    await twin.close()


def test_a_wrapped_facade_pickles_into_its_own_storage() -> None:
    core = MemoryStorage()
    facade = SyncMemoryStorage.wrap(core)
    facade.put("k", b"v")
    clone = pickle.loads(pickle.dumps(facade))
    assert clone.get_bytes("k") == b"v"
    assert clone.async_storage is not core
    clone.close()
    assert facade.get_bytes("k") == b"v"  # closing the clone leaves the original alone
    facade.close()
    with pytest.raises(StorageClosedError, match="cannot pickle this SyncMemoryStorage"):
        pickle.dumps(facade)


def worker(storage: Any) -> tuple[dict[str, bytes], Any]:
    """Runs in a spawned process: read everything, write one file, hand the storage back."""
    if isinstance(storage, SyncMemoryStorage):
        contents = {f.key: storage.get_bytes(f.key) for f in storage.list()}
        storage.put("from-worker", b"hi")
        return contents, storage

    async def go() -> dict[str, bytes]:
        contents = {f.key: await storage.get_bytes(f.key) async for f in storage.list()}
        await storage.put("from-worker", b"hi")
        return contents

    return anyio.run(go), storage


@pytest.mark.slow
@pytest.mark.parametrize("cls", [MemoryStorage, SyncMemoryStorage])
def test_a_storage_travels_to_a_spawned_worker_and_back(cls: Any) -> None:
    storage = cls(MemoryConfig(max_size=1 << 20))
    data = {"a.txt": b"alpha", "nested/b.bin": bytes(range(256)) * 100}
    sync = storage if isinstance(storage, SyncMemoryStorage) else storage.as_sync()
    for key, value in data.items():
        sync.put(key, value)
    pool = multiprocessing.get_context("spawn").Pool(1)
    try:
        back: Any
        contents, back = pool.apply(worker, (storage,))
    finally:
        pool.close()  # let the worker exit on its own (terminating it could cut short its coverage data)
        pool.join()
    assert contents == data
    assert type(back) is cls
    assert back.config == MemoryConfig(max_size=1 << 20)
    back_sync = back if isinstance(back, SyncMemoryStorage) else back.as_sync()
    assert back_sync.get_bytes("from-worker") == b"hi"
    assert not sync.exists("from-worker")  # the worker had its own copy
    assert [f.key for f in back_sync.list()] == ["a.txt", "from-worker", "nested/b.bin"]
    assert back_sync.info("a.txt") == sync.info("a.txt")


def test_write_archive_is_usable_by_any_backend(tmp_path: Path) -> None:
    """The format module takes (file, chunks) pairs: chunks of any size, an ETag or none."""
    file = StoredFile("k/v.bin", 10, "application/x-test", None, None, {"a": "b"})
    target, size = archive.write_archive(tmp_path / "x.tar", [(file, [b"01234", memoryview(b"56789")])])
    assert size == os.path.getsize(target)
    [(loaded, data)] = archive.read_archive(target)
    assert data == b"0123456789"
    assert loaded.etag == md5_etag(b"0123456789")
    assert (loaded.key, loaded.size, loaded.content_type, dict(loaded.metadata)) == (
        "k/v.bin",
        10,
        "application/x-test",
        {"a": "b"},
    )
    with pytest.raises(ValueError, match="hold 3 bytes, not the 10 announced"):
        archive.write_archive(tmp_path / "y.tar", [(file, [b"abc"])])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tar"]


def test_the_garbage_collector_pause_nests_and_restores_the_setting() -> None:
    import gc

    assert gc.isenabled()
    with archive.gc_paused():
        assert not gc.isenabled()
        with archive.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with archive.gc_paused():
            pass
        assert not gc.isenabled()  # the user's choice is kept
    finally:
        gc.enable()


def test_the_format_error_pickles_and_is_a_storage_error() -> None:
    error = StorageFormatError("/tmp/x.tar", "the archive ends before files/00000000 (truncated?)")
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.path, clone.problem, str(clone)) == (error.path, error.problem, str(error))
    assert str(error) == "Cannot load '/tmp/x.tar': the archive ends before files/00000000 (truncated?)"
    assert isinstance(error, StorageError)


def test_snapshot_is_exported() -> None:
    with SyncMemoryStorage() as storage:
        assert isinstance(storage.snapshot(), Snapshot)


# ------------------------------------------------------------ load(..., name=)
async def test_load_with_a_name_registers_the_storage(tmp_path: Path) -> None:
    from memstore import ConfigurationError

    source = MemoryStorage()
    await source.put("data/a.csv", b"x,y\n")
    path = tmp_path / "lab.tar"
    await source.save(path)
    loaded = await MemoryStorage.load(path, name="loaded-lab")
    try:
        assert loaded.name == "loaded-lab"
        assert MemoryStorage.named("loaded-lab") is loaded
        assert await MemoryStorage.named("loaded-lab").get_bytes("data/a.csv") == b"x,y\n"
        sync_view = SyncMemoryStorage.named("loaded-lab")
        assert sync_view.get_bytes("data/a.csv") == b"x,y\n"
        # The name is taken: a second load under it fails and leaves the first as it was.
        with pytest.raises(ConfigurationError, match="'loaded-lab' is open"):
            await MemoryStorage.load(path, name="loaded-lab")
        assert MemoryStorage.named("loaded-lab") is loaded
    finally:
        await loaded.close()
    # Closing frees the name.
    fresh = MemoryStorage.named("loaded-lab")
    assert await fresh.count() == 0
    await fresh.close()


async def test_load_checks_the_name_before_reading(tmp_path: Path) -> None:
    from memstore import ConfigurationError

    with pytest.raises(ConfigurationError, match="invalid storage name 'Not A Host'"):
        await MemoryStorage.load(tmp_path / "missing.tar", name="Not A Host")


def test_the_sync_load_registers_its_core(tmp_path: Path) -> None:
    source = SyncMemoryStorage()
    source.put("k", b"v")
    path = tmp_path / "s.tar"
    source.save(path)
    loaded = SyncMemoryStorage.load(path, name="sync-loaded")
    try:
        assert loaded.name == "sync-loaded"
        assert MemoryStorage.named("sync-loaded") is loaded.async_storage
    finally:
        loaded.close()
    again = MemoryStorage.named("sync-loaded")  # the facade owned the core: closing it freed the name
    assert await_count(again) == 0


def await_count(storage: MemoryStorage) -> int:
    async def go() -> int:
        n = await storage.count()
        await storage.close()
        return n

    return anyio.run(go)
