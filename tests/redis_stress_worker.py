"""One process of the Redis stress test (tests/test_redis_stress.py).

``python -m tests.redis_stress_worker URL NAMESPACE MAX_SIZE MODE SEED OPS`` runs
workers that share one namespace with the other processes, each doing ``OPS`` random
operations (put, overwrite, streamed put, copy, move, delete, delete_prefix, reads) on a
small set of keys, near the quota. ``MODE`` says which workers:

* ``threads``: three threads on one :class:`~memstore.redis.SyncRedisStorage`;
* ``asyncio`` / ``trio``: three tasks on one :class:`~memstore.redis.RedisStorage`;
* ``mixed``: two threads on the sync face while three asyncio tasks use the async face.

Every file's contents describe themselves (:func:`contents`, :func:`verify`), so a read
that saw half of a write, or another file's bytes, is caught. At the end it prints one
JSON line: how many operations of each kind succeeded and how many failed with an
expected error (``quota``, ``notfound``). Any other error ends it with a traceback.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable

import anyio

from memstore import StorageFileNotFoundError, StorageQuotaExceededError
from memstore.redis import RedisConfig, RedisStorage, SyncRedisStorage

__all__ = ["CHUNK_SIZE", "FOLDERS", "KEYS", "contents", "verify"]

CHUNK_SIZE = 1024  # small, so that streams and larger puts are staged in several chunks
FOLDERS = [f"d{i}/" for i in range(4)]
KEYS = [folder + f"f{i}" for folder in FOLDERS for i in range(6)]
_HEADER = 14  # b"nnnnnnnn:sssss" (a seed, then the size)


def contents(seed: int, size: int) -> bytes:
    """``size`` bytes (at least a header's worth) that name their own seed and size."""
    size = max(size, _HEADER)
    header = b"%08d:%05d" % (seed, size)
    block = hashlib.sha256(header).digest()
    filler = (block * (size // len(block) + 1))[: size - _HEADER]
    return header + filler


def verify(data: bytes) -> None:
    """Raise ``AssertionError`` unless ``data`` is exactly what :func:`contents` made."""
    assert len(data) >= _HEADER, f"a torn file: {len(data)} bytes"
    seed, size = int(data[:8]), int(data[9:_HEADER])
    assert data == contents(seed, size), f"a torn or mixed file: {data[:_HEADER]!r}, {len(data)} bytes"


def _pieces(data: bytes, rng: random.Random) -> list[bytes]:
    """``data`` cut into pieces of uneven sizes (so chunks and pieces do not line up)."""
    out, at = [], 0
    while at < len(data):
        step = rng.randint(200, 1500)
        out.append(data[at : at + step])
        at += step
    return out


class Worker:
    """The random operations of one thread or task, and its counts."""

    def __init__(self, seed: int, ops: int) -> None:
        self.rng = random.Random(seed)
        self.ops = ops
        self.counts: Counter[str] = Counter()
        self.seed = seed

    def choose(self) -> tuple[str, str, str, bytes]:
        """The next operation: its name, two keys, and new contents."""
        rng = self.rng
        name = rng.choices(
            ["put", "stream", "copy", "move", "delete", "delete_prefix", "read"],
            weights=[30, 25, 12, 10, 10, 3, 10],
        )[0]
        self.seed += 1_000_003
        data = contents(self.seed % 10**8, rng.randint(100, 6000))
        return name, rng.choice(KEYS), rng.choice(KEYS), data

    def outcome(self, name: str, run: Callable[[], None]) -> None:
        """Run one operation and count how it ended."""
        try:
            run()
        except StorageQuotaExceededError:
            self.counts["quota"] += 1
        except StorageFileNotFoundError:
            self.counts["notfound"] += 1
        else:
            self.counts[name] += 1

    # the sync face ----------------------------------------------------------
    def run_sync(self, storage: SyncRedisStorage) -> None:
        """``ops`` operations on the sync face (a stream is an async or a sync iterator)."""
        for _ in range(self.ops):
            name, key, other, data = self.choose()

            def run(name: str = name, key: str = key, other: str = other, data: bytes = data) -> None:
                if name == "put":
                    storage.put(key, data)
                elif name == "stream":
                    pieces = _pieces(data, self.rng)
                    if self.rng.random() < 0.5:
                        storage.put(key, _async_stream(pieces))  # read on memstore's portal
                    else:
                        storage.put(key, iter(pieces))
                elif name == "copy":
                    storage.copy(key, other)
                elif name == "move":
                    storage.move(key, other)
                elif name == "delete":
                    storage.delete(key)
                elif name == "delete_prefix":
                    storage.delete_prefix(key.split("/")[0] + "/")
                else:
                    verify(b"".join(storage.get(key)))

            self.outcome(name, run)

    # the async face ---------------------------------------------------------
    async def run_async(self, storage: RedisStorage) -> None:
        """``ops`` operations on the async face."""
        for _ in range(self.ops):
            name, key, other, data = self.choose()
            try:
                if name == "put":
                    await storage.put(key, data)
                elif name == "stream":
                    await storage.put(key, _async_stream(_pieces(data, self.rng)))
                elif name == "copy":
                    await storage.copy(key, other)
                elif name == "move":
                    await storage.move(key, other)
                elif name == "delete":
                    await storage.delete(key)
                elif name == "delete_prefix":
                    await storage.delete_prefix(key.split("/")[0] + "/")
                elif self.rng.random() < 0.5:
                    verify(await storage.get_bytes(key))
                else:
                    verify(b"".join([chunk async for chunk in storage.get(key)]))
            except StorageQuotaExceededError:
                self.counts["quota"] += 1
            except StorageFileNotFoundError:
                self.counts["notfound"] += 1
            else:
                self.counts[name] += 1


async def _async_stream(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece
        await anyio.sleep(0)


class Threads:
    """Threads running sync workers on one shared :class:`~memstore.redis.SyncRedisStorage`."""

    def __init__(self, config: RedisConfig, workers: list[Worker]) -> None:
        self.storage = SyncRedisStorage(config)
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(w,)) for w in workers]
        for thread in self.threads:
            thread.start()

    def _run(self, worker: Worker) -> None:
        try:
            worker.run_sync(self.storage)
        except BaseException as exc:  # re-raised by join()
            self.errors.append(exc)

    def join(self) -> None:
        """Wait for every thread, close the storage, and re-raise the first error of a thread."""
        for thread in self.threads:
            thread.join()
        self.storage.close()
        if self.errors:
            raise self.errors[0]


async def _tasks(config: RedisConfig, workers: list[Worker]) -> None:
    async with RedisStorage(config) as storage, anyio.create_task_group() as group:
        for worker in workers:
            group.start_soon(worker.run_async, storage)


def main(argv: list[str]) -> None:
    """Run one process's workers and print their counts."""
    url, namespace, max_size, mode, seed, ops = argv
    config = RedisConfig(url, namespace=namespace, max_size=int(max_size), chunk_size=CHUNK_SIZE)
    base = int(seed) * 1000
    sync_workers = [Worker(base + i, int(ops)) for i in range({"threads": 3, "mixed": 2}.get(mode, 0))]
    async_workers = [Worker(base + 100 + i, int(ops)) for i in range(0 if mode == "threads" else 3)]
    threads = Threads(config, sync_workers)
    try:
        if async_workers:
            anyio.run(_tasks, config, async_workers, backend="trio" if mode == "trio" else "asyncio")
    finally:
        threads.join()
    total: Counter[str] = Counter()
    for worker in [*sync_workers, *async_workers]:
        total.update(worker.counts)
    print(json.dumps(dict(total)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
