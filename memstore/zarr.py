"""A native zarr v3 store on memstore: :class:`MemstoreStore`.

Installed with ``pip install memstore[zarr]`` (zarr 3 needs Python 3.11+)::

    import zarr
    from memstore import MemoryStorage
    from memstore.zarr import MemstoreStore

    store = MemstoreStore(MemoryStorage.named("lab"), prefix="arrays")
    z = zarr.create_array(store, name="temperature", shape=(1000, 1000), chunks=(100, 100), dtype="f4")

The store speaks zarr's ``Store`` contract directly on memstore's async storage
contract, without fsspec: byte ranges are range reads of the storage,
``set_if_not_exists`` is a create-only put (``if_none_match="*"``), ``list_dir`` is the
storage's ``list_dir`` and ``delete_dir`` is one ``delete_prefix``. Arrays count
against the storage's quota and appear in its browser. ``import memstore`` never
imports zarr.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

from memstore._cores import async_core, identity
from memstore.base import BaseStorage
from memstore.exceptions import StorageFileExistsError, StorageFileNotFoundError
from memstore.memory import MemoryStorage

__all__ = ["MemstoreStore"]


def _core(storage: object) -> tuple[BaseStorage, bool]:
    """The async storage behind ``storage`` (a storage, a sync face or a name); made here?"""
    if isinstance(storage, str):
        return MemoryStorage.named(storage), False
    try:
        return async_core(storage)
    except TypeError:
        raise TypeError(
            "storage must be a memstore storage (MemoryStorage, RedisStorage, or their sync faces) "
            f"or a storage name, not {type(storage).__name__}"
        ) from None


def _check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
    return prefix.strip("/")


def _bounds(byte_range: ByteRequest | None) -> tuple[int | None, int | None]:
    """The ``(start, end)`` slice of a zarr byte request."""
    if byte_range is None:
        return None, None
    if isinstance(byte_range, RangeByteRequest):
        return byte_range.start, byte_range.end
    if isinstance(byte_range, OffsetByteRequest):
        return byte_range.offset, None
    if isinstance(byte_range, SuffixByteRequest):
        return (-byte_range.suffix if byte_range.suffix else 0), (None if byte_range.suffix else 0)
    raise TypeError(f"Unexpected byte_range, got {byte_range!r}")


def _rebuild(storage: Any, prefix: str, read_only: bool) -> MemstoreStore:
    return MemstoreStore(storage, prefix=prefix, read_only=read_only)


class MemstoreStore(Store):
    """A zarr v3 store that keeps its keys in a memstore storage.

    Args:
        storage: The storage: a :class:`~memstore.MemoryStorage`, a
            :class:`~memstore.SyncMemoryStorage` (its async core is used), a
            :class:`~memstore.redis.RedisStorage` or a
            :class:`~memstore.redis.SyncRedisStorage` (the store makes an async twin,
            with its own connection, and closes it in :meth:`close`), any async memstore
            storage, or a name for :meth:`MemoryStorage.named
            <memstore.MemoryStorage.named>`.
        prefix: A folder inside the storage that holds the store's keys (``""``: the
            whole storage). Keys are ``prefix + "/" + zarr key``.
        read_only: Refuse writes and deletes (zarr's ``ValueError``).

    Two stores are equal when they use the same storage object (or two Redis storages
    of the same namespace), prefix and mode.
    Pickling a store over a named storage keeps the name: unpickled in the same
    process, it reaches the same storage (in another process, the storage of that name
    there). A store over an anonymous storage pickles the storage itself, so it
    pickles only where memstore storages do (a Redis storage pickles as its
    configuration: unpickled anywhere, it reaches the same namespace).

    Raises:
        TypeError: If ``storage`` or ``prefix`` has the wrong type.
        ConfigurationError: If ``storage`` is a name that breaks the naming rule.
    """

    supports_writes: bool = True
    supports_deletes: bool = True
    supports_listing: bool = True

    def __init__(self, storage: Any, *, prefix: str = "", read_only: bool = False) -> None:
        prefix = _check_prefix(prefix)
        super().__init__(read_only=read_only)
        self.storage: BaseStorage
        self.storage, self._owned = _core(storage)
        self._given: Any = storage if self._owned else self.storage
        if self._owned:
            self._sync_face = storage  # the synchronous paths use the storage given
        self.prefix: str = prefix
        self._root = f"{self.prefix}/" if self.prefix else ""

    # --------------------------------------------------------------- identity
    def with_read_only(self, read_only: bool = False) -> MemstoreStore:
        """A new (unopened) store on the same storage and prefix, with ``read_only`` as given."""
        return type(self)(self._given, prefix=self.prefix, read_only=read_only)

    def __eq__(self, other: object) -> bool:
        """Equal when on the same storage (object, or Redis namespace), with the same prefix and mode."""
        return (
            isinstance(other, MemstoreStore)
            and identity(other._given) == identity(self._given)
            and other.prefix == self.prefix
            and other.read_only == self.read_only
        )

    def close(self) -> None:
        """Close the store, and the connections it made (an async twin of a synchronous storage)."""
        super().close()
        made = self.__dict__.get("_sync_face")
        if made is not None and made is not self._given and not isinstance(self.storage, MemoryStorage):
            del self._sync_face  # a connection of its own (Redis): closed, made again if used
            made.close()
        if self._owned and not self.storage.closed:
            from memstore._portal import run_blocking

            run_blocking(self.storage.close)

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        """``memstore://NAME/PREFIX`` for a named storage; the storage's class otherwise."""
        name = getattr(self.storage, "name", None)
        host = name if isinstance(name, str) else f"{type(self.storage).__name__}-{id(self.storage):x}"
        return f"memstore://{host}/{self.prefix}" if self.prefix else f"memstore://{host}"

    def __repr__(self) -> str:
        """``MemstoreStore('memstore://lab/arrays', read_only=False)``."""
        return f"MemstoreStore({str(self)!r}, read_only={self.read_only})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by storage name for a named storage, else with the storage itself."""
        name = getattr(self.storage, "name", None)
        target = name if isinstance(name, str) else self._given
        return (_rebuild, (target, self.prefix, self.read_only))

    def _key(self, key: str) -> str:
        return self._root + key

    # ------------------------------------------------------------------ reads
    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """The value at ``key`` (``byte_range`` of it: one range read), ``None`` if absent."""
        if prototype is None:
            prototype = default_buffer_prototype()
        start, end = _bounds(byte_range)
        if not self._is_open:
            await self._open()
        try:
            data = await self.storage.get_bytes(self._key(key), start=start, end=end)
        except StorageFileNotFoundError:
            return None
        buffer: Buffer = prototype.buffer.from_bytes(data)
        return buffer

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        """Several ranges; the ranges of one key are read from one version (``get_ranges``)."""
        requests = list(key_ranges)
        out: list[Buffer | None] = [None] * len(requests)
        groups: dict[str, list[int]] = {}
        for index, (key, _) in enumerate(requests):
            groups.setdefault(key, []).append(index)
        for key, indexes in groups.items():
            ranges = [_bounds(requests[i][1]) for i in indexes]
            try:
                parts = await self.storage.get_ranges(self._key(key), ranges)  # type: ignore[arg-type]
            except StorageFileNotFoundError:
                continue
            for index, part in zip(indexes, parts, strict=False):
                out[index] = prototype.buffer.from_bytes(part)
        return out

    async def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        return await self.storage.exists(self._key(key))

    async def getsize(self, key: str) -> int:
        """The size of the value at ``key``, without reading it.

        Raises:
            FileNotFoundError: If ``key`` is not stored.
        """
        try:
            return (await self.storage.info(self._key(key))).size
        except StorageFileNotFoundError:
            raise FileNotFoundError(key) from None

    async def getsize_prefix(self, prefix: str) -> int:
        """The total size of the values under ``prefix``, from one listing."""
        total = 0
        async for file in self.storage.list(self._key(prefix)):
            total += file.size
        return total

    # ----------------------------------------------------------------- writes
    async def set(self, key: str, value: Buffer) -> None:
        """Store ``value`` at ``key`` (one atomic put, counted against the quota).

        Raises:
            ValueError: If the store is read-only.
            TypeError: If ``value`` is not a zarr ``Buffer``.
            StorageQuotaExceededError: If the storage's quota would be exceeded.
        """
        self._check_writable()
        await self._ensure_open()
        if not isinstance(value, Buffer):
            raise TypeError(f"MemstoreStore.set(): value must be a zarr Buffer, not {type(value).__name__}")
        await self.storage.put(self._key(key), value.as_buffer_like())

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        """Store ``value`` at ``key`` only if it is free, decided at the commit (``if_none_match="*"``)."""
        self._check_writable()
        await self._ensure_open()
        with contextlib.suppress(StorageFileExistsError):
            await self.storage.put(self._key(key), value.as_buffer_like(), if_none_match="*")

    async def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error."""
        self._check_writable()
        with contextlib.suppress(StorageFileNotFoundError):
            await self.storage.delete(self._key(key))

    async def delete_dir(self, prefix: str) -> None:
        """Delete every key under the folder ``prefix`` in one step (``delete_prefix``)."""
        self._check_writable()
        folder = prefix.strip("/")
        if not folder:
            await self.clear()
            return
        await self.storage.delete_prefix(self._key(folder) + "/")

    async def clear(self) -> None:
        """Delete every key of the store (the whole storage when the prefix is ``""``)."""
        self._check_writable()
        if self._root:
            await self.storage.delete_prefix(self._root)
            return
        clear = getattr(self.storage, "clear", None)  # the memory backend's one-step clear
        if clear is not None:
            await clear()
            return
        keys = [file.key async for file in self.storage.list()]
        for key in keys:
            await self.storage.delete(key)

    # ------------------------------------------------ synchronous (zarr's SupportsSyncStore)
    def _sync(self) -> Any:
        """The storage's synchronous face (same files), made on first use."""
        face = self.__dict__.get("_sync_face")
        if face is None:
            face = self._sync_face = self.storage.as_sync()
        return face

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """:meth:`get` without an event loop, on the storage's synchronous face."""
        if prototype is None:
            prototype = default_buffer_prototype()
        start, end = _bounds(byte_range)
        self._is_open = True
        try:
            data = self._sync().get_bytes(self._key(key), start=start, end=end)
        except StorageFileNotFoundError:
            return None
        buffer: Buffer = prototype.buffer.from_bytes(data)
        return buffer

    def set_sync(self, key: str, value: Buffer) -> None:
        """:meth:`set` without an event loop, on the storage's synchronous face."""
        self._check_writable()
        self._is_open = True
        if not isinstance(value, Buffer):
            raise TypeError(f"MemstoreStore.set(): value must be a zarr Buffer, not {type(value).__name__}")
        self._sync().put(self._key(key), value.as_buffer_like())

    def delete_sync(self, key: str) -> None:
        """:meth:`delete` without an event loop; a missing key is not an error."""
        self._check_writable()
        self._is_open = True
        with contextlib.suppress(StorageFileNotFoundError):
            self._sync().delete(self._key(key))

    # ---------------------------------------------------------------- listing
    async def list(self) -> AsyncIterator[str]:
        """Every key of the store, in key order."""
        cut = len(self._root)
        async for file in self.storage.list(self._root):
            yield file.key[cut:]

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        """The keys that start with ``prefix``, in key order."""
        cut = len(self._root)
        async for file in self.storage.list(self._key(prefix)):
            yield file.key[cut:]

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        """The names one level below the folder ``prefix``: its files, then its sub-folders."""
        folder = prefix.strip("/")
        base = self._key(folder + "/") if folder else self._root
        listing = await self.storage.list_dir(base)
        cut = len(base)
        for file in listing.files:
            yield file.key[cut:]
        for sub in listing.prefixes:
            yield sub[cut:-1]
