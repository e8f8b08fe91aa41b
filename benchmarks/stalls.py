"""Scenario ``stalls``: the longest event-loop stall of every call that can be big.

Invariant 7 of the design: no call holds the event loop for more than about 20 ms. A
heartbeat task sleeps 1 ms in a loop beside each call and records the longest gap between
its beats; the table reports the **largest gap over all trials** (the first trial of a
fresh process included, never a median), for memstore and for the peers that have the
call (the reference library, obstore's Rust ``MemoryStore`` through its async API).

The calls, at full size: ``put`` of 1 GiB given as ``bytes`` and streamed in 1 MiB chunks,
``get`` (iterated) and ``get_bytes`` of a streamed 1 GiB file, ``copy`` of it, ``delete`` of
the streamed file (nobody else holds its contents, so the delete frees them), ``list`` of
1M keys, ``list_dir`` of a folder of 1M files, ``delete_prefix`` and ``clear`` of 1M keys.
A call's result is kept until the heartbeat stopped: freeing a 1 GiB result is the
caller's cost, not the call's.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from benchmarks._model import Check, Config, ScenarioResult
from benchmarks._timing import Heartbeat

__all__ = ["run_stalls"]

GOAL_MS = 20.0
DELETE = "delete (the streamed file)"
TRIALS = 3


@dataclass(frozen=True)
class Sizes:
    """How big the calls are."""

    file_bytes: int
    chunk: int
    keys: int


def _sizes(config: Config) -> Sizes:
    if config.is_quick:
        return Sizes(file_bytes=64 << 20, chunk=1 << 20, keys=20_000)
    return Sizes(file_bytes=1 << 30, chunk=1 << 20, keys=1_000_000)


async def _gap(call: Callable[[], Awaitable[Any]]) -> float:
    """The longest heartbeat gap (ms) while ``call()`` runs."""
    heartbeat = Heartbeat(0.001)
    result: Any = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat.run)
        await anyio.sleep(0.005)  # the heartbeat is beating
        try:
            result = await call()
        finally:
            heartbeat.stop()
    del result  # freed after the measurement
    return heartbeat.max_gap_ms


async def _chunks(blob: memoryview, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(blob), size):
        yield bytes(blob[start : start + size])


class _Peer:
    """One store's version of each call (None where it has no such call)."""

    name = ""

    async def setup_file(self, key: str, blob: memoryview, chunk: int) -> None:
        raise NotImplementedError

    def calls(self, blob: memoryview, chunk: int) -> dict[str, Callable[[], Awaitable[Any]] | None]:
        raise NotImplementedError

    async def fill(self, prefix: str, n: int) -> None:
        raise NotImplementedError

    def key_calls(self, prefix: str) -> dict[str, Callable[[], Awaitable[Any]] | None]:
        raise NotImplementedError


class _Memstore(_Peer):
    name = "memstore"

    def __init__(self) -> None:
        from memstore import MemoryStorage

        self.storage = MemoryStorage()

    async def setup_file(self, key: str, blob: memoryview, chunk: int) -> None:
        await self.storage.put(key, _chunks(blob, chunk))

    def calls(self, blob: memoryview, chunk: int) -> dict[str, Callable[[], Awaitable[Any]] | None]:
        s = self.storage
        data = bytes_of(blob)

        async def iterate() -> int:
            n = 0
            async for part in s.get("file"):
                n += len(part)
            return n

        return {
            "put 1 file (bytes)": lambda: s.put("put-bytes", data),
            "put 1 file (streamed)": lambda: s.put("put-stream", _chunks(blob, chunk)),
            "get (iterated)": iterate,
            "get_bytes": lambda: s.get_bytes("file"),
            "copy": lambda: s.copy("file", "file-copy"),
            DELETE: lambda: s.delete("put-stream"),
        }

    async def fill(self, prefix: str, n: int) -> None:
        put = self.storage.put
        for i in range(n):
            await put(f"{prefix}k{i:08d}", b"x")

    def key_calls(self, prefix: str) -> dict[str, Callable[[], Awaitable[Any]] | None]:
        s = self.storage

        async def listing() -> int:
            n = 0
            async for _ in s.list(prefix):
                n += 1
            return n

        return {
            "list (every key)": listing,
            "list_dir (a folder of every key)": lambda: s.list_dir(prefix),
            "delete_prefix (every key)": lambda: s.delete_prefix(prefix),
            "clear (every key)": lambda: s.clear(),
        }


def bytes_of(blob: memoryview) -> bytes:
    """A fresh ``bytes`` copy of ``blob`` (made before the timed call)."""
    return blob.tobytes()


class _Reference(_Memstore):
    """The reference has the same API (its async put, get, get_bytes, copy, list)."""

    name = "reference"

    def __init__(self) -> None:
        from litestar_storages.backends.memory import MemoryStorage as ReferenceStorage

        self.storage: Any = ReferenceStorage()

    def key_calls(self, prefix: str) -> dict[str, Callable[[], Awaitable[Any]] | None]:
        calls = super().key_calls(prefix)
        # No list_dir, delete_prefix or clear in the reference's API.
        return {name: call if name == "list (every key)" else None for name, call in calls.items()}


class _Obstore(_Peer):
    name = "obstore"

    def __init__(self) -> None:
        from obstore.store import MemoryStore

        self.storage: Any = MemoryStore()

    async def setup_file(self, key: str, blob: memoryview, chunk: int) -> None:
        import obstore

        await obstore.put_async(self.storage, key, _chunks(blob, chunk))

    def calls(self, blob: memoryview, chunk: int) -> dict[str, Callable[[], Awaitable[Any]] | None]:
        import obstore

        s = self.storage
        data = bytes_of(blob)

        async def iterate() -> int:
            n = 0
            response = await obstore.get_async(s, "file")
            async for part in response.stream():
                n += len(part)
            return n

        async def whole() -> Any:
            response = await obstore.get_async(s, "file")
            return await response.bytes_async()

        return {
            "put 1 file (bytes)": lambda: obstore.put_async(s, "put-bytes", data),
            "put 1 file (streamed)": lambda: obstore.put_async(s, "put-stream", _chunks(blob, chunk)),
            "get (iterated)": iterate,
            "get_bytes": whole,
            "copy": lambda: obstore.copy_async(s, "file", "file-copy"),
            DELETE: lambda: obstore.delete_async(s, "put-stream"),
        }

    async def fill(self, prefix: str, n: int) -> None:
        import obstore

        for i in range(n):
            await obstore.put_async(self.storage, f"{prefix}k{i:08d}", b"x")

    def key_calls(self, prefix: str) -> dict[str, Callable[[], Awaitable[Any]] | None]:
        import obstore

        s = self.storage

        async def listing() -> int:
            n = 0
            async for batch in obstore.list(s, prefix):
                n += len(batch)
            return n

        return {
            "list (every key)": listing,
            "list_dir (a folder of every key)": lambda: obstore.list_with_delimiter_async(s, prefix),
            "delete_prefix (every key)": None,
            "clear (every key)": None,
        }


PEERS: tuple[type[_Peer], ...] = (_Memstore, _Reference, _Obstore)


async def run_stalls(config: Config) -> ScenarioResult:
    """The largest loop stall over every trial, per call and store."""
    sizes = _sizes(config)
    mib = sizes.file_bytes >> 20
    result = ScenarioResult(
        "stalls",
        f"largest event-loop stall over {TRIALS} trials (a 1 ms heartbeat beside the call): "
        f"{mib:,} MiB files, {sizes.keys:,} keys",
        anchor="memstore",
    )
    blob = memoryview(os.urandom(1 << 20) * (sizes.file_bytes >> 20))
    worst: dict[tuple[str, str], float] = {}
    for trial in range(TRIALS):
        for peer_cls in PEERS:
            peer = peer_cls()
            await peer.setup_file("file", blob, sizes.chunk)
            for call_name, call in peer.calls(blob, sizes.chunk).items():
                if call is None:
                    continue
                gc.collect()
                gap = await _gap(call)
                worst[call_name, peer.name] = max(worst.get((call_name, peer.name), 0.0), gap)
            del peer
            gc.collect()
            peer = peer_cls()
            started = time.perf_counter()
            await peer.fill("every/", sizes.keys)
            if trial == 0:
                result.notes.append(
                    f"{peer.name}: {sizes.keys:,} keys stored in {time.perf_counter() - started:.1f} s"
                )
            for call_name, call in peer.key_calls("every/").items():
                if call is None:
                    continue
                if call_name == "clear (every key)":
                    await peer.fill("every/", sizes.keys)  # delete_prefix emptied it
                gc.collect()
                gap = await _gap(call)
                worst[call_name, peer.name] = max(worst.get((call_name, peer.name), 0.0), gap)
            del peer
            gc.collect()
    for (call_name, store), gap in worst.items():
        result.add(call_name, store, gap, "ms")
    for call_name in dict.fromkeys(name for name, _ in worst):
        gap = worst[call_name, "memstore"]
        others = [store for c, store in worst if c == call_name and store != "memstore"]
        peers = ", ".join(f"{store} {worst[call_name, store]:.0f} ms" for store in others)
        result.checks.append(
            Check(
                f"stall of {call_name}: memstore, largest of {TRIALS} trials",
                gap,
                GOAL_MS,
                unit="ms",
                op="<=",
                detail=peers or "no peer has this call",
                issue=14,
            )
        )
    return result
