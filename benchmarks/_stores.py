"""Adapters giving every store the same small interface, and key generators.

Each adapter times its own loop (``put_batch`` and ``get_batch`` return nanoseconds), so
the loop is as tight as the store's own API allows: a bound method, pre-made keys, no
per-call indirection through this module. The async stores are awaited in a plain loop
inside the one event loop the scenario runs in; the sync stores just run their loop there.
The reference and the peers are imported when an adapter is made, so ``import benchmarks``
works without the ``bench`` extra.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from memstore import MemoryConfig, MemoryStorage, SyncMemoryStorage

__all__ = [
    "ALL_STORES",
    "CORE_STORES",
    "DictStore",
    "FsspecStore",
    "PUT_START",
    "KeySource",
    "MemstoreStore",
    "ObstoreStore",
    "OpendalStore",
    "ReferenceStore",
    "Store",
    "group_prefix",
    "scatter",
]

_perf = time.perf_counter_ns


def scatter(i: int) -> int:
    """A bijection of ``0 .. 2**32-1`` that scatters consecutive numbers over the range.

    Keys built from it arrive in an order unrelated to their sort order, as real keys
    do; a sorted index then pays for inserting in the middle, not just appending.
    """
    return (i * 2654435761) & 0xFFFFFFFF


PUT_START = 1 << 30
"""Where the timed puts' keys start, far from the ``KeySource()`` that filled the store."""


class KeySource:
    """Hands out fresh keys ``{prefix}{scatter(i):08x}-{i}`` for ``i = start, start+1 ...``.

    Two sources with the same prefix and far-apart starts (fill: 0, timed puts: 2**30)
    make keys that interleave all over one sorted range without ever colliding.
    """

    def __init__(self, prefix: str = "obj/", start: int = 0) -> None:
        self.prefix = prefix
        self._next = start

    def take(self, n: int) -> list[str]:
        """``n`` new keys."""
        start = self._next
        self._next += n
        p = self.prefix
        return [f"{p}{scatter(i):08x}-{i}" for i in range(start, start + n)]


def group_prefix(group: int) -> str:
    """The prefix of listing group ``group`` (each group holds 1,000 keys): ``p1a2b3c4d/``."""
    return f"p{scatter(group):08x}/"


class Store(abc.ABC):
    """The interface the scenarios drive. Keys are plain ``a/b/c`` strings."""

    name: ClassVar[str]
    library: ClassVar[str]
    """What it is, for the tables: the class or call that is measured."""
    traced: ClassVar[bool] = True
    """Whether its allocations are visible to ``tracemalloc`` (pure Python)."""
    supports_max_size: ClassVar[bool] = False

    @abc.abstractmethod
    async def put_batch(self, keys: Sequence[str], data: bytes) -> int:
        """Put ``data`` at every key; return the nanoseconds the loop took."""

    @abc.abstractmethod
    async def get_batch(self, keys: Sequence[str]) -> int:
        """Read every key's contents as bytes; return the nanoseconds the loop took."""

    @abc.abstractmethod
    async def list_prefix(self, prefix: str) -> int:
        """List the files under ``prefix`` (ending in ``/``) with their metadata; return how many."""

    @abc.abstractmethod
    async def delete(self, keys: Sequence[str]) -> None:
        """Remove the keys (untimed housekeeping)."""

    async def fill(self, keys: Sequence[str], data: bytes) -> None:
        """Store ``data`` at every key as fast as the public API allows (untimed)."""
        await self.put_batch(keys, data)

    async def close(self) -> None:  # noqa: B027 - most stores need nothing
        """Release what the store holds."""


class SpecApiStore(Store):
    """A store with the spec's async API (memstore and the reference share it)."""

    storage: Any

    async def put_batch(self, keys: Sequence[str], data: bytes) -> int:
        put = self.storage.put
        t0 = _perf()
        for key in keys:
            await put(key, data)
        return _perf() - t0

    async def get_batch(self, keys: Sequence[str]) -> int:
        get_bytes = self.storage.get_bytes
        t0 = _perf()
        for key in keys:
            await get_bytes(key)
        return _perf() - t0

    async def list_prefix(self, prefix: str) -> int:
        return len([f async for f in self.storage.list(prefix)])

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            await self.storage.delete(key)


class MemstoreStore(SpecApiStore):
    """memstore's async core."""

    name = "memstore"
    library = "memstore.MemoryStorage (async)"
    supports_max_size = True

    def __init__(self, max_size: int | None = None) -> None:
        self.storage = MemoryStorage(MemoryConfig(max_size=max_size))

    async def close(self) -> None:
        await self.storage.close()


class MemstoreSyncStore(Store):
    """memstore's generated sync face (the put table of issue 14 compares it to obstore's sync put)."""

    name = "memstore sync"
    library = "memstore.SyncMemoryStorage"
    supports_max_size = True

    def __init__(self, max_size: int | None = None) -> None:
        self.storage = SyncMemoryStorage(MemoryConfig(max_size=max_size))

    async def put_batch(self, keys: Sequence[str], data: bytes) -> int:
        put = self.storage.put
        t0 = _perf()
        for key in keys:
            put(key, data)
        return _perf() - t0

    async def get_batch(self, keys: Sequence[str]) -> int:
        get_bytes = self.storage.get_bytes
        t0 = _perf()
        for key in keys:
            get_bytes(key)
        return _perf() - t0

    async def list_prefix(self, prefix: str) -> int:
        return len(list(self.storage.list(prefix)))

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.storage.delete(key)

    async def close(self) -> None:
        self.storage.close()


class ReferenceStore(SpecApiStore):
    """litestar-storages' MemoryStorage: the reference the issue's targets are set against."""

    name = "reference"
    library = "litestar_storages MemoryStorage (async)"
    supports_max_size = True

    def __init__(self, max_size: int | None = None) -> None:
        from litestar_storages.backends.memory import MemoryConfig as ReferenceConfig
        from litestar_storages.backends.memory import MemoryStorage as ReferenceStorage

        self.storage: Any = ReferenceStorage(ReferenceConfig(max_size=max_size))

    async def fill(self, keys: Sequence[str], data: bytes) -> None:
        # With max_size set, every put sums all sizes: filling 100k keys would cost O(n^2)
        # (minutes). Fill without the limit, then restore it: the timed puts pay for it.
        config = self.storage.config
        limit, config.max_size = config.max_size, None
        try:
            await self.put_batch(keys, data)
        finally:
            config.max_size = limit


class DictStore(Store):
    """A plain dict: the floor (no validation, no metadata, no ordering, no lock).

    With ``max_size`` it also keeps an O(1) running total, as a quota needs.
    """

    name = "dict"
    library = "dict[str, bytes] (floor)"
    supports_max_size = True

    def __init__(self, max_size: int | None = None) -> None:
        self.data: dict[str, bytes] = {}
        self.max_size = max_size
        self.used = 0

    async def put_batch(self, keys: Sequence[str], data: bytes) -> int:
        d = self.data
        if self.max_size is None:
            t0 = _perf()
            for key in keys:
                d[key] = data
            return _perf() - t0
        limit, used, size, get = self.max_size, self.used, len(data), d.get
        t0 = _perf()
        for key in keys:
            old = get(key)
            grown = used + size - (0 if old is None else len(old))
            if grown > limit:
                raise MemoryError("quota")
            d[key] = data
            used = grown
        elapsed = _perf() - t0
        self.used = used
        return elapsed

    async def get_batch(self, keys: Sequence[str]) -> int:
        d = self.data
        t0 = _perf()
        for key in keys:
            d[key]
        return _perf() - t0

    async def list_prefix(self, prefix: str) -> int:
        return len([k for k in self.data if k.startswith(prefix)])

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.used -= len(self.data.pop(key))


class FsspecStore(Store):
    """fsspec's memory filesystem (``fsspec.filesystem("memory")``).

    Its store is one global dict shared by every instance: it is cleared when the
    adapter opens and closes, and only one adapter may be open at a time.
    """

    name = "fsspec"
    library = 'fsspec.filesystem("memory")'
    _open: ClassVar[bool] = False

    def __init__(self) -> None:
        import fsspec

        if FsspecStore._open:
            raise RuntimeError("fsspec's memory store is global: close the other FsspecStore first")
        FsspecStore._open = True
        self.fs: Any = fsspec.filesystem("memory")
        self._clear()

    def _clear(self) -> None:
        self.fs.store.clear()
        self.fs.pseudo_dirs.clear()
        self.fs.pseudo_dirs.append("")

    async def put_batch(self, keys: Sequence[str], data: bytes) -> int:
        pipe = self.fs.pipe_file
        t0 = _perf()
        for key in keys:
            pipe(key, data)
        return _perf() - t0

    async def get_batch(self, keys: Sequence[str]) -> int:
        cat = self.fs.cat_file
        t0 = _perf()
        for key in keys:
            cat(key)
        return _perf() - t0

    async def list_prefix(self, prefix: str) -> int:
        return len(self.fs.ls(prefix.rstrip("/"), detail=True))

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.fs.rm_file(key)

    async def close(self) -> None:
        if FsspecStore._open:
            self._clear()
            FsspecStore._open = False


class ObstoreStore(Store):
    """obstore's ``MemoryStore`` (Rust ``object_store``), through its sync functions."""

    name = "obstore"
    library = "obstore.store.MemoryStore (sync)"
    traced = False

    def __init__(self) -> None:
        import obstore
        from obstore.store import MemoryStore

        self._obstore: Any = obstore
        self.store: Any = MemoryStore()

    async def put_batch(self, keys: Sequence[str], data: bytes) -> int:
        put, store = self._obstore.put, self.store
        t0 = _perf()
        for key in keys:
            put(store, key, data)
        return _perf() - t0

    async def get_batch(self, keys: Sequence[str]) -> int:
        get, store = self._obstore.get, self.store
        t0 = _perf()
        for key in keys:
            get(store, key).bytes()
        return _perf() - t0

    async def list_prefix(self, prefix: str) -> int:
        return len(self._obstore.list(self.store, prefix=prefix.rstrip("/")).collect())

    async def delete(self, keys: Sequence[str]) -> None:
        self._obstore.delete(self.store, list(keys))


class OpendalStore(Store):
    """opendal's memory operator (``opendal.Operator("memory")``), sync API."""

    name = "opendal"
    library = 'opendal.Operator("memory") (sync)'
    traced = False

    def __init__(self) -> None:
        import opendal

        self.op: Any = opendal.Operator("memory")

    async def put_batch(self, keys: Sequence[str], data: bytes) -> int:
        write = self.op.write
        t0 = _perf()
        for key in keys:
            write(key, data)
        return _perf() - t0

    async def get_batch(self, keys: Sequence[str]) -> int:
        read = self.op.read
        t0 = _perf()
        for key in keys:
            read(key)
        return _perf() - t0

    async def list_prefix(self, prefix: str) -> int:
        return sum(1 for _ in self.op.list(prefix))

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.op.delete(key)


StoreFactory = Callable[[], Store]

CORE_STORES: tuple[type[Store], ...] = (MemstoreStore, ReferenceStore, DictStore)
"""The stores issue 2's targets compare."""

ALL_STORES: tuple[type[Store], ...] = (*CORE_STORES, FsspecStore, ObstoreStore, OpendalStore)
"""Every store, peers included (issue 5's comparison page)."""
