"""ETags: always the quoted MD5 of the contents, whether computed at put or on first read."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import threading
from datetime import datetime, timedelta, timezone

import pytest

from memstore import MemoryConfig, StoredFile
from memstore.types import LAZY_ETAG_LIMIT
from tests.faces import Make

pytestmark = pytest.mark.anyio


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


@pytest.mark.parametrize("size", [0, 1, 1024, LAZY_ETAG_LIMIT, LAZY_ETAG_LIMIT + 1, 3 * 1024 * 1024])
async def test_etag_is_the_md5_of_the_contents_at_every_size(size: int, make: Make) -> None:
    storage = make(MemoryConfig(offload_threshold=1024 * 1024))
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    stored = await storage.put("f.bin", data)
    assert stored.etag == md5_etag(data)
    assert (await storage.info("f.bin")).etag == md5_etag(data)


async def test_an_old_stored_file_keeps_the_etag_of_the_old_contents(make: Make) -> None:
    storage = make()
    first = await storage.put("a", b"one")
    await storage.put("a", b"two")
    await storage.delete("a")
    assert first.etag == md5_etag(b"one")  # read only now, after the overwrite and delete


async def test_copies_and_moves_carry_the_same_etag(make: Make) -> None:
    storage = make()
    await storage.put("a", b"payload")
    copied = await storage.copy("a", "b")
    moved = await storage.move("b", "c")
    assert copied.etag == moved.etag == md5_etag(b"payload")
    assert (await storage.info("c")).etag == md5_etag(b"payload")


async def test_equality_hash_repr_pickle_and_replace_see_the_etag(make: Make) -> None:
    storage = make()
    stored = await storage.put("a.txt", b"hi", metadata={"k": "v"})
    plain = StoredFile("a.txt", 2, "text/plain", md5_etag(b"hi"), stored.last_modified, {"k": "v"})
    assert stored == plain
    assert plain == stored
    assert hash(stored) == hash(plain)
    assert repr(stored) == repr(plain)
    assert md5_etag(b"hi") in repr(stored)
    assert pickle.loads(pickle.dumps(stored)) == plain
    renamed = dataclasses.replace(stored, key="b.txt")
    assert renamed.key == "b.txt"
    assert renamed.etag == md5_etag(b"hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        stored.etag = "x"  # type: ignore[misc]


async def test_many_threads_reading_a_fresh_etag_agree(make: Make) -> None:
    storage = make()
    stored = await storage.put("a", b"z" * 5000)
    seen: list[str | None] = []
    threads = [threading.Thread(target=lambda: seen.append(stored.etag)) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [md5_etag(b"z" * 5000)] * 16


async def test_a_modification_time_first_read_anywhere_is_the_same_utc_time(make: Make) -> None:
    # A small file keeps its time as microseconds until it is first read as a datetime
    # (docs/guides/design.md, invariant 3): pickling, replace() and listing read it too.
    storage = make()
    before = datetime.now(timezone.utc)
    stored = await storage.put("a.txt", b"hi")
    after = datetime.now(timezone.utc)
    copied = pickle.loads(pickle.dumps(stored))  # the first read of the time
    assert type(copied) is StoredFile
    assert copied.last_modified is not None
    assert before <= copied.last_modified <= after
    assert copied.last_modified.utcoffset() == timedelta(0)
    assert stored.last_modified == copied.last_modified
    assert stored.last_modified is stored.last_modified  # made once, then kept
    assert dataclasses.replace(stored, key="b.txt").last_modified == stored.last_modified
    listed = [f async for f in storage.list()]
    assert listed[0].last_modified == stored.last_modified
    assert (await storage.info("a.txt")).last_modified == stored.last_modified


async def test_copy_gets_a_new_time_and_keeps_the_sources(make: Make) -> None:
    storage = make()
    source = await storage.put("a.txt", b"hi")
    copy = await storage.copy("a.txt", "b.txt")  # neither time read yet
    moved = await storage.move("b.txt", "c.txt")
    assert source.last_modified is not None
    assert copy.last_modified is not None
    assert moved.last_modified is not None
    assert source.last_modified <= copy.last_modified <= moved.last_modified
    assert (await storage.info("a.txt")).last_modified == source.last_modified
    assert (await storage.info("c.txt")).last_modified == moved.last_modified
    assert moved.etag == copy.etag == md5_etag(b"hi")
