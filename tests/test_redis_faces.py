"""How each face of the Redis backend reads and streams: get() at the call, async streams on the sync face."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from memstore import StorageFileNotFoundError
from memstore.redis import RedisConfig, RedisStorage, SyncRedisStorage
from tests.redis_server import RedisServer

_names = iter(range(10**9))


def config_for(server: RedisServer, **kwargs: object) -> RedisConfig:
    return RedisConfig(server.url, namespace=f"faces{os.getpid()}-{next(_names)}", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def storage(redis_server: RedisServer) -> Iterator[SyncRedisStorage]:
    with SyncRedisStorage(config_for(redis_server, chunk_size=4)) as storage:
        yield storage


def test_the_sync_get_looks_the_file_up_at_the_call_and_reads_that_version(storage: SyncRedisStorage) -> None:
    storage.put("k", b"old version")
    chunks = storage.get("k", start=1)  # pins this version of "k" ...
    storage.put("k", b"a newer and longer version")
    storage.delete("k")
    assert list(chunks) == [b"ld v", b"ersi", b"on"]  # ... which is the one read
    with pytest.raises(StorageFileNotFoundError):
        storage.get("k")
    assert storage.check() == []
    assert storage._command("HLEN", storage._prefix + "pin") == 0  # the pin was dropped


@pytest.mark.anyio
async def test_a_sync_put_of_an_async_stream_leaves_the_async_storages_of_a_loop_working(
    redis_server: RedisServer,
) -> None:
    # glide reads the replies of all the async clients of a process on one event loop;
    # the sync face's put of an async stream runs on memstore's portal, which stops
    # when the put returns: it must not leave this loop's storage waiting forever
    config = config_for(redis_server, chunk_size=4)
    staged, finish = threading.Event(), threading.Event()

    async def stream() -> AsyncIterator[bytes]:
        yield b"abcdef"
        staged.set()  # the first chunk went to the server
        while not finish.is_set():
            await anyio.sleep(0.01)
        yield b"gh"

    done: list[object] = []
    with SyncRedisStorage(config) as sync:
        thread = threading.Thread(target=lambda: done.append(sync.put("streamed", stream())))
        thread.start()
        assert await anyio.to_thread.run_sync(staged.wait, 60)
        storage = RedisStorage(config)
        await storage.put("async", b"1")  # connects while the portal is up
        finish.set()
        await anyio.to_thread.run_sync(thread.join, 60)
        assert len(done) == 1
        with anyio.fail_after(60):  # (a hang here is the bug)
            assert await storage.get_bytes("async") == b"1"
            assert await storage.get_bytes("streamed") == b"abcdefgh"
            assert await storage.check() == []
            await storage.close()
