"""``memstore://NAME/KEY``: an fsspec filesystem over named memory storages.

pandas, polars, pyarrow, xarray, dask, zarr and universal-pathlib open fsspec URLs, so
with this module (installed with ``pip install memstore[fsspec]``) they read and write
memstore directly::

    import pandas as pd
    from memstore import SyncMemoryStorage

    lab = SyncMemoryStorage.named("lab")          # the storage the browser shows
    df.to_parquet("memstore://lab/frames/df.parquet")
    pd.read_parquet("memstore://lab/frames/df.parquet")

The host part of a URL is a storage name (:meth:`memstore.MemoryStorage.named`), the
path is the key. A filesystem can also be made over one storage of any backend, such as a
:class:`~memstore.redis.RedisStorage` that several processes share; its paths are then
the keys (``memstore://frames/df.parquet`` is the key ``frames/df.parquet``)::

    shared = SyncRedisStorage(RedisConfig("redis://db:6379/0", namespace="team"))
    df.to_parquet("memstore://frames/df.parquet", storage_options={"storage": shared})
    fs = MemstoreFileSystem(storage=shared)

fsspec finds the protocol ``memstore`` through the ``fsspec.specs`` entry point of the
memstore distribution; ``import memstore`` never imports fsspec.

Object-store semantics, as with s3fs: "folders" are key prefixes (``ls`` reads them
with :meth:`~memstore.MemoryStorage.list_dir`), ``mkdir``/``makedirs`` do nothing
(except that ``mkdir("memstore://NAME")`` creates the storage, like a bucket), and a
folder exists while a file is below it. A file opened for writing is streamed into the
storage and committed when it is closed, in one step: nothing is visible before
``close()``, a write that would exceed the quota fails at the ``write`` that crosses it
(:class:`~memstore.StorageQuotaExceededError`), and an exception inside
``with fs.open(...)`` stores nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any

from fsspec.asyn import AsyncFileSystem, sync
from fsspec.spec import AbstractBufferedFile

from memstore._cores import async_core
from memstore.exceptions import StorageFileExistsError, StorageFileNotFoundError
from memstore.memory import MemoryStorage, _registry
from memstore.types import StoredFile

__all__ = ["MemstoreFile", "MemstoreFileSystem"]

IN_FLIGHT = 1
"""Blocks a written file hands to its put before waiting for the oldest to be stored.

One is enough for the put to hash and store block k while the writer produces block
k + 1; more would only let a runaway write run further past the quota before it fails.
"""


def _split(path: str) -> tuple[str, str]:
    """``"lab/a/b.txt"`` → ``("lab", "a/b.txt")``; ``"lab"`` → ``("lab", "")``."""
    name, _, key = path.partition("/")
    return name, key


def _join(name: str, key: str) -> str:
    """The fsspec path of ``key`` in the storage ``name`` (just ``key`` on a filesystem of one storage)."""
    return f"{name}/{key}" if name else key


def _file_info(name: str, file: StoredFile) -> dict[str, Any]:
    return {
        "name": _join(name, file.key),
        "size": file.size,
        "type": "file",
        "etag": file.etag,
        "last_modified": file.last_modified,
        "content_type": file.content_type,
        "metadata": dict(file.metadata),
    }


def _dir_info(path: str) -> dict[str, Any]:
    return {"name": path, "size": 0, "type": "directory"}


class _Bound:
    """A storage given to the filesystem, tokenized by its identity (never by its repr).

    fsspec caches filesystems by the ``repr`` of their arguments; a storage's repr shows
    its usage (and asks the server, for Redis), so the cache key is the storage object,
    or the namespace of a Redis storage (any handle on it reaches the same files).
    """

    def __init__(self, storage: object) -> None:
        self.storage = storage

    def __repr__(self) -> str:
        redis = sys.modules.get("memstore.redis")
        config = getattr(self.storage, "config", None)
        if redis is not None and isinstance(config, redis.RedisConfig):
            return f"{type(self.storage).__name__}({config!r}, {hash(config)})"
        return f"{type(self.storage).__name__}-{id(self.storage):x}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Bound, (self.storage,))


class _Cached(type(AsyncFileSystem)):  # type: ignore[misc]
    """fsspec's instance cache, keyed by a given storage's identity (see :class:`_Bound`)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        storage = kwargs.get("storage")
        if storage is not None and not isinstance(storage, _Bound):
            kwargs["storage"] = _Bound(storage)
        return super().__call__(*args, **kwargs)


class MemstoreFileSystem(AsyncFileSystem, metaclass=_Cached):  # type: ignore[misc]
    """An fsspec ``AsyncFileSystem`` for ``memstore://NAME/KEY`` URLs.

    ``NAME`` is a named storage (:meth:`memstore.MemoryStorage.named`), ``KEY`` a key
    in it. Writing to a name that is not registered yet creates the storage (with the
    default configuration; call ``MemoryStorage.named(name, config)`` first for a
    quota); reading from it raises ``FileNotFoundError``. Paths without the protocol
    are ``NAME/KEY``; the root ``""`` lists the open named storages as directories.

    With ``storage=`` (a storage of any backend, async or sync face), the filesystem
    is that one storage instead: paths are its keys, ``""`` is its root, and nothing
    is looked up by name. A :class:`~memstore.redis.SyncRedisStorage` is used through
    an async twin on the same namespace (its own connection). Filesystems are cached
    per storage (per namespace for Redis), as fsspec caches them per arguments.

    Everything runs on the async core: fsspec's synchronous methods (``cat_file``,
    ``ls``, ``open`` ...) run the ``async`` ones on fsspec's I/O thread. Missing keys
    raise ``FileNotFoundError``; a create-only write (``mode="create"``, ``"xb"``) that
    finds its key taken raises ``FileExistsError``; quota errors reach the caller as
    :class:`~memstore.StorageQuotaExceededError`.
    """

    protocol = "memstore"
    root_marker = ""
    async_impl = True
    cachable = True

    def __init__(self, *args: Any, storage: Any = None, **kwargs: Any) -> None:
        """Make the filesystem; see the class documentation.

        Args:
            storage: The one storage this filesystem is (any backend, either face);
                ``None`` (default): ``memstore://NAME/KEY`` over the named memory storages.
            *args: Passed to fsspec's ``AsyncFileSystem``.
            **kwargs: Passed to fsspec's ``AsyncFileSystem`` (``asynchronous``, ``loop`` ...).

        Raises:
            TypeError: If ``storage`` is not a memstore storage.
        """
        super().__init__(*args, **kwargs)
        given = storage.storage if isinstance(storage, _Bound) else storage
        self._bound: Any = None
        self._bound_sync: Any = None  # a synchronous storage given: reads of opened files use it
        if given is not None:
            self._bound, owned = async_core(given)
            if owned:
                self._bound_sync = given

    # ------------------------------------------------------------ storages
    def _split(self, path: str) -> tuple[str, str]:
        """``(name, key)`` of a stripped path; with a storage given, the path is the key."""
        if self._bound is not None:
            return "", path
        return _split(path)

    def _lookup(self, name: str) -> MemoryStorage | None:
        """The storage ``name`` (the one given, on a filesystem of one storage), or ``None``."""
        if self._bound is not None:
            bound: MemoryStorage = self._bound
            return bound
        return _registry.lookup(name)

    def _storage(self, name: str) -> MemoryStorage:
        """The open storage ``name``; ``FileNotFoundError`` if there is none."""
        if self._bound is not None:
            bound: MemoryStorage = self._bound
            return bound
        storage = _registry.lookup(name) if name else None
        if storage is None:
            raise FileNotFoundError(f"no storage named {name!r}: memstore://{name}")
        return storage

    def _target(self, path: str) -> tuple[MemoryStorage, str, str]:
        """The storage (created if needed), the name and the key a write to ``path`` goes to."""
        name, key = self._split(self._strip_protocol(path))
        if not key:
            raise IsADirectoryError(f"memstore://{name} is a storage, not a file")
        if self._bound is not None:
            return self._storage(name), name, key
        return MemoryStorage.named(name), name, key

    def _source(self, path: str) -> tuple[MemoryStorage, str, str]:
        """The storage, the name and the key a read of ``path`` comes from."""
        name, key = self._split(self._strip_protocol(path))
        if not key:
            raise FileNotFoundError(f"memstore://{name} is a storage, not a file")
        return self._storage(name), name, key

    # ------------------------------------------------------------ reads
    async def _cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        storage, _, key = self._source(path)
        try:
            return await storage.get_bytes(key, start=start, end=end)
        except StorageFileNotFoundError:
            raise FileNotFoundError(path) from None

    async def _cat_ranges(
        self,
        paths: list[str],
        starts: list[int | None] | int | None,
        ends: list[int | None] | int | None,
        max_gap: int | None = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list[bytes | Exception]:
        """Read byte ranges: the ranges of one file come from one version (``get_ranges``)."""
        count = len(paths)
        starts_ = starts if isinstance(starts, list) else [starts] * count
        ends_ = ends if isinstance(ends, list) else [ends] * count
        if not len(starts_) == len(ends_) == count:
            raise ValueError("paths, starts and ends must have the same length")
        groups: dict[str, list[int]] = {}
        for index, path in enumerate(paths):
            groups.setdefault(self._strip_protocol(path), []).append(index)
        out: list[bytes | Exception] = [b""] * count
        for path, indexes in groups.items():
            try:
                storage, _, key = self._source(path)
                ranges = [(_bound(starts_[i], 0), _bound(ends_[i], None)) for i in indexes]
                try:
                    parts: Iterable[bytes | Exception] = await storage.get_ranges(key, ranges)  # type: ignore[arg-type]
                except StorageFileNotFoundError:
                    raise FileNotFoundError(path) from None
            except Exception as error:
                if on_error != "return":
                    raise
                parts = [error] * len(indexes)
            for index, part in zip(indexes, parts, strict=False):
                out[index] = part
        return out

    async def _info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        name, key = self._split(path)
        if not name and self._bound is None:
            return _dir_info("")
        storage = self._storage(name)
        if not key:
            return _dir_info(name)
        entry = await _info_or_none(storage, key)
        if entry is not None:
            return _file_info(name, entry)
        if await storage.count(key + "/"):
            return _dir_info(path)
        raise FileNotFoundError(path)

    async def _exists(self, path: str, **kwargs: Any) -> bool:
        try:
            await self._info(path)
        except (FileNotFoundError, ValueError):  # ValueError: not a valid key
            return False
        return True

    async def _ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        name, key = self._split(path)
        if not name and self._bound is None:
            out = [_dir_info(n) for n in _registry.names()]
        else:
            storage = self._storage(name)
            folder = f"{key}/" if key else ""
            listing = await storage.list_dir(folder)
            out = [_dir_info(_join(name, prefix[:-1])) for prefix in listing.prefixes]
            out += [_file_info(name, file) for file in listing.files]
            out.sort(key=lambda info: info["name"])
            if not out and key:
                entry = await _info_or_none(storage, key)
                if entry is None:
                    raise FileNotFoundError(path)
                out = [_file_info(name, entry)]
        return out if detail else [info["name"] for info in out]

    async def _find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Every file below ``path`` (and the folders, with ``withdirs``), in one sorted listing."""
        if maxdepth is not None:  # depth-limited: fsspec's walk over ls
            return await super()._find(path, maxdepth=maxdepth, withdirs=withdirs, **kwargs)
        detail = kwargs.pop("detail", False)
        path = self._strip_protocol(path)
        name, key = self._split(path)
        out: dict[str, dict[str, Any]] = {}
        if not name and self._bound is None:
            for storage_name in _registry.names():
                if withdirs:
                    out[storage_name] = _dir_info(storage_name)
                found = await self._find(storage_name, withdirs=withdirs, detail=True)
                out.update(found)
        else:
            storage = self._lookup(name)
            if storage is None:
                return {} if detail else []
            prefix = f"{key}/" if key else ""
            if withdirs and key and await storage.count(prefix):
                out[path] = _dir_info(path)
            async for file in storage.list(prefix):
                info = _file_info(name, file)
                out[info["name"]] = info
                if withdirs:
                    parts = file.key[len(prefix) :].split("/")[:-1]
                    folder = _join(name, prefix)
                    for part in parts:
                        folder += part
                        out.setdefault(folder, _dir_info(folder))
                        folder += "/"
            if not out and key:
                entry = await _info_or_none(storage, key)
                if entry is not None:
                    out[path] = _file_info(name, entry)
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    async def _du(
        self, path: str, total: bool = True, maxdepth: int | None = None, **kwargs: Any
    ) -> int | dict[str, int]:
        path = self._strip_protocol(path)
        name, key = self._split(path)
        if total and maxdepth is None and (name or self._bound is not None) and not kwargs.get("withdirs"):
            storage = self._lookup(name)
            if storage is None:
                return 0
            if not key:
                return (await storage.get_usage()).used_bytes
            sizes = 0
            entry = await _info_or_none(storage, key)
            if entry is not None:
                sizes += entry.size
            async for file in storage.list(key + "/"):
                sizes += file.size
            return sizes
        return await super()._du(path, total=total, maxdepth=maxdepth, **kwargs)  # type: ignore[no-any-return]

    # ------------------------------------------------------------ writes
    async def _pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        storage, _, key = self._target(path)
        try:
            if mode == "create":
                await storage.put(key, value, if_none_match="*")
            elif mode == "overwrite":
                await storage.put(key, value)
            else:
                raise ValueError(f"mode must be 'overwrite' or 'create', not {mode!r}")
        except StorageFileExistsError:
            raise FileExistsError(path) from None

    async def _put_file(self, lpath: str, rpath: str, mode: str = "overwrite", **kwargs: Any) -> None:
        storage, _, key = self._target(rpath)
        with open(lpath, "rb") as file:  # noqa: ASYNC230 - put reads a file object in a worker thread
            try:
                await storage.put(key, file, if_none_match="*" if mode == "create" else None)
            except StorageFileExistsError:
                raise FileExistsError(rpath) from None

    async def _get_file(self, rpath: str, lpath: str, **kwargs: Any) -> None:
        if os.path.isdir(lpath):  # noqa: ASYNC240 - a folder, made by fsspec's get()
            return
        storage, _, key = self._source(rpath)
        try:
            stream = storage.get(key)
        except StorageFileNotFoundError:
            if await storage.count(key + "/"):  # a folder: make it locally
                os.makedirs(lpath, exist_ok=True)
                return
            raise FileNotFoundError(rpath) from None
        with open(lpath, "wb") as file:  # noqa: ASYNC230 - memory-speed local writes, chunk by chunk
            async for chunk in stream:
                file.write(chunk)

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        source, _source_name, source_key = self._source(path1)
        target, _target_name, target_key = self._target(path2)
        try:
            if source is target:
                await source.copy(source_key, target_key)
                return
            file = await source.info(source_key)
            data = await source.get_bytes(source_key)
        except StorageFileNotFoundError:
            if await source.count(source_key + "/"):  # a folder: it exists by its files, copied one by one
                return
            raise FileNotFoundError(path1) from None
        await target.put(target_key, data, content_type=file.content_type, metadata=dict(file.metadata))

    async def _mv_file(self, path1: str, path2: str) -> None:
        """Move one file: one atomic ``move`` within a storage, copy and delete across two."""
        source, _, source_key = self._source(path1)
        target, _, target_key = self._target(path2)
        if source is not target:
            await self._cp_file(path1, path2)
            await self._rm_file(path1)
            return
        try:
            await source.move(source_key, target_key)
        except StorageFileNotFoundError:
            raise FileNotFoundError(path1) from None

    def mv(
        self, path1: Any, path2: Any, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any
    ) -> None:
        """Move files; one existing file (no glob, not recursive) moves atomically."""
        if (
            isinstance(path1, str)
            and isinstance(path2, str)
            and not recursive
            and not has_magic(path1)
            and not path2.endswith("/")
            and self.isfile(path1)
            and not self.isdir(path2)
        ):
            if self._strip_protocol(path1) != self._strip_protocol(path2):
                sync(self.loop, self._mv_file, path1, path2)
            return
        super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)

    async def _rm_file(self, path: str, **kwargs: Any) -> None:
        storage, _, key = self._source(path)
        try:
            await storage.delete(key)
        except StorageFileNotFoundError:
            raise FileNotFoundError(path) from None

    async def _rm(
        self,
        path: str | list[str],
        recursive: bool = False,
        batch_size: int | None = None,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Delete files; a folder with ``recursive=True`` goes in one ``delete_prefix``."""
        paths = [path] if isinstance(path, str) else list(path)
        literal = [p for p in paths if not has_magic(p)]
        if recursive and maxdepth is None and len(literal) == len(paths):
            for p in literal:
                await self._rm_tree(self._strip_protocol(p))
            return
        expanded = await self._expand_path(paths, recursive=recursive, maxdepth=maxdepth)
        for p in sorted(expanded, reverse=True):
            storage, _, key = self._source(p)
            try:
                await storage.delete(key)
            except StorageFileNotFoundError:
                if not await storage.count(key + "/"):  # a folder has nothing of its own to delete
                    raise FileNotFoundError(p) from None

    async def _rm_tree(self, path: str) -> None:
        name, key = self._split(path)
        storage = self._storage(name)
        if not key:
            await storage.clear()
            return
        deleted = await storage.delete_prefix(key + "/")
        try:
            await storage.delete(key)
        except StorageFileNotFoundError:
            if not deleted:
                raise FileNotFoundError(path) from None

    async def _mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Object-store folders need no creation: ``mkdir("NAME")`` creates the storage only."""
        name, key = self._split(self._strip_protocol(path))
        if name and not key:
            MemoryStorage.named(name)

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        """As :meth:`_mkdir`: folders exist while a file is below them."""
        await self._mkdir(path)

    # ------------------------------------------------------------ metadata
    def ukey(self, path: str) -> str:
        """The file's ETag (the quoted MD5 of its contents), which changes with every new content."""
        etag = self.info(path)["etag"]
        return str(etag)

    def checksum(self, path: str) -> int:
        """The file's MD5 (its ETag) as an ``int``: equal checksums mean equal contents."""
        return int(self.ukey(path).strip('"'), 16)

    def modified(self, path: str) -> datetime:
        """When the file was last written (timezone-aware UTC)."""
        info = self.info(path)
        if info["type"] != "file":
            raise IsADirectoryError(path)
        modified: datetime = info["last_modified"]
        return modified

    # ------------------------------------------------------------ files
    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | str | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> MemstoreFile:
        path = self._strip_protocol(path)
        if mode == "rb":
            storage, _, key = self._source(path)
            # reads run in the caller's thread: no hop to fsspec's loop
            given = self._bound_sync
            reader = storage.as_sync() if given is None else given
            try:
                size = reader.info(key).size
            except StorageFileNotFoundError:
                if given is None:
                    reader.close()
                raise FileNotFoundError(path) from None
            except BaseException:
                if given is None:
                    reader.close()
                raise
            kwargs.setdefault("cache_type", "none")  # each read is one range read: nothing to cache
            file = MemstoreFile(
                self, path, mode=mode, block_size=block_size, cache_options=cache_options, size=size, **kwargs
            )
            file._reader, file._key, file._own_reader = reader, key, given is None
            return file
        if mode == "xb" and self.isfile(path):
            raise FileExistsError(path)
        if mode not in ("wb", "xb"):
            raise ValueError(f"memstore files open in 'rb', 'wb' or 'xb' mode, not {mode!r}")
        return MemstoreFile(
            self,
            path,
            mode=mode,
            block_size=block_size,
            autocommit=autocommit,
            cache_options=cache_options,
            **kwargs,
        )


def has_magic(path: str) -> bool:
    """Whether ``path`` is a glob pattern (has ``*``, ``?`` or ``[``), as fsspec decides it."""
    return any(char in path for char in "*?[")


def _bound(value: int | None, default: int | None) -> int | None:
    return default if value is None else value


async def _info_or_none(storage: MemoryStorage, key: str) -> StoredFile | None:
    """The file at ``key``, ``None`` if absent or not a valid key."""
    try:
        return await storage.info(key)
    except (StorageFileNotFoundError, ValueError):
        return None


class MemstoreFile(AbstractBufferedFile):  # type: ignore[misc]
    """A file of a :class:`MemstoreFileSystem`, opened with ``fs.open(path, mode)``.

    ``"rb"``: seekable; each read the cache misses is one range read of the storage.
    ``"wb"``/``"xb"``: each block is streamed into one ``put`` (its bytes reserved
    against the quota as they come), which commits when the file is closed; ``"xb"``
    commits only if the key is still free. Nothing is visible before ``close()``; an
    exception inside ``with`` (or :meth:`discard`, or dropping an unclosed file)
    cancels the put, and nothing is stored.
    """

    fs: MemstoreFileSystem

    def __init__(self, fs: MemstoreFileSystem, path: str, mode: str = "rb", **kwargs: Any) -> None:
        self._task: asyncio.Task[StoredFile] | None = None
        self._inbox: asyncio.Queue[tuple[bytes | None, asyncio.Future[None]]] | None = None
        self._in_flight: collections.deque[asyncio.Future[None]] = collections.deque()
        self._discarded = False
        self._reader: Any = None  # read mode: the storage's synchronous face
        self._own_reader = True  # made for this file (closed with it), not the one given to the filesystem
        self._key = ""
        super().__init__(fs, path, mode=mode, **kwargs)

    def _is_closed(self) -> bool:
        return bool(getattr(self, "_closed", True))

    def _fetch_range(self, start: int, end: int) -> bytes:
        if self._reader is None:
            data: bytes = sync(self.fs.loop, self.fs._cat_file, self.path, start, end)
            return data
        try:
            got: bytes = self._reader.get_bytes(self._key, start=start, end=end)
        except StorageFileNotFoundError:
            raise FileNotFoundError(self.path) from None
        return got

    def close(self) -> None:
        """Close the file: a write commits (see :meth:`commit`); a read lets go of the storage."""
        try:
            super().close()
        finally:
            reader, self._reader = self._reader, None
            if reader is not None and self._own_reader:
                reader.close()

    # --------------------------------------------------------- the streamed put
    def _initiate_upload(self) -> None:
        storage, _, key = self.fs._target(self.path)
        sync(self.fs.loop, self._start, storage, key)

    async def _start(self, storage: MemoryStorage, key: str) -> None:
        inbox: asyncio.Queue[tuple[bytes | None, asyncio.Future[None]]] = asyncio.Queue()

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                chunk, fed = await inbox.get()
                if chunk is None:
                    fed.set_result(None)
                    return
                yield chunk  # put reserves and stores it before asking for the next one
                fed.set_result(None)

        condition: Any = "*" if self.mode == "xb" else None
        self._inbox = inbox
        self._task = asyncio.ensure_future(storage.put(key, chunks(), if_none_match=condition))

    async def _send(self, chunk: bytes | None) -> None:
        """Hand ``chunk`` to the put (``None``: commit and wait for the result).

        :data:`IN_FLIGHT` blocks may be in flight: the put stores (hashes, reserves) block
        k in a worker thread while the writer produces block k + 1; handing over a block
        first waits until the oldest in flight is stored, and raises the put's error (the
        quota) if it failed.
        """
        assert self._inbox is not None
        assert self._task is not None
        in_flight = self._in_flight
        while in_flight and in_flight[0].done():
            in_flight.popleft()
        if len(in_flight) >= IN_FLIGHT:
            waiters: list[asyncio.Future[Any]] = [in_flight[0], self._task]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():  # failed (the quota): fail here; a finished put has no more chunks
            self._task.result()
        fed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait((chunk, fed))
        if chunk is not None:
            in_flight.append(fed)
            return
        try:
            await self._task
        except StorageFileExistsError:
            raise FileExistsError(self.path) from None

    def _upload_chunk(self, final: bool = False) -> bool:
        data = self.buffer.getvalue()
        if data:
            sync(self.fs.loop, self._send, data)
        if final and self.autocommit:
            self.commit()
        return True

    def commit(self) -> None:
        """Commit the streamed put: the file appears, whole, in one step."""
        if self._discarded:
            return
        if self._task is None:  # nothing was flushed yet: an empty file
            self._initiate_upload()
        sync(self.fs.loop, self._send, None)

    def discard(self) -> None:
        """Cancel the streamed put and close the file: nothing is stored, the reserved bytes are free."""
        task, self._task = self._task, None
        self._discarded = True
        self.closed = True
        if task is not None and not task.done():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                sync(self.fs.loop, _cancel, task)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close, committing a write; after an exception, discard it instead."""
        if exc_type is not None and self.mode != "rb" and not self._is_closed():
            self.discard()
            return
        self.close()

    def __del__(self) -> None:
        """An unclosed write that is dropped stores nothing (it is never committed half-way)."""
        if not self._is_closed() and self.mode != "rb":
            with contextlib.suppress(Exception):
                self.discard()
            return
        super().__del__()


async def _cancel(task: asyncio.Task[StoredFile]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
