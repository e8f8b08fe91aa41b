"""The memory backend's storage class, written once for both faces.

``_async.py`` is the source (:class:`~memstore.MemoryStorage`); ``_sync.py`` beside it
(:class:`~memstore.SyncMemoryStorage`) is generated from it by ``tools/async_to_sync.py``
(docs/guides/design.md, "One async→sync path"). Each method is a thin shell: it checks
and normalises its arguments with :mod:`memstore._ops`, waits only where it must (a big
hash or copy goes to a worker thread, a stream is read chunk by chunk), and then changes
the engine in one step (invariant 1).
"""

from __future__ import annotations

import builtins
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from memstore import _archive
from memstore import _ops as ops
from memstore._concurrency import aclose_quietly, aiter_chunks, apaced, checkpoint, offload
from memstore._keys import validate_key
from memstore._ops import ASYNC, PageOrder, PutData
from memstore.base import BaseStorage
from memstore.memory._config import MemoryConfig
from memstore.memory._engine import Data, Engine, Entry, Prepared, entries_of
from memstore.memory._faces import AsyncFace
from memstore.memory._registry import validate_name
from memstore.types import (
    EMPTY_METADATA,
    LAZY_ETAG_LIMIT,
    DirListing,
    PrefixUsage,
    SaveInfo,
    Snapshot,
    StorageEvent,
    StorageUsage,
    StoredFile,
)

if TYPE_CHECKING:
    from typing_extensions import Self

    if ASYNC:
        from memstore.memory._sync import SyncMemoryStorage

__all__ = ["MemoryConfig", "MemoryStorage"]

_MANY = 2048  # snapshots of (and restores to or from) this many files are handled in a worker thread
_PAGE = 256  # list() reads the sorted index in consistent pages of this many keys


def _prepare_loaded(engine: Engine, items: builtins.list[tuple[StoredFile, Data]], action: str) -> Prepared:
    """The state of a loaded storage, built (and the loaded pairs freed) in one worker-thread call."""
    return engine.prepare(entries_of(items), action)


class MemoryStorage(AsyncFace, BaseStorage):
    """An object storage that keeps files in process memory.

    Files are kept in key order with an exact quota ledger; every write happens in one
    atomic step after all its waiting is done, so an error or a cancellation never
    leaves a half-written file or a wrong byte count. It is safe to use from several
    event loops and threads at once.

    memstore's memory storage has two faces over one engine: the async
    ``memstore.MemoryStorage`` and the synchronous ``memstore.SyncMemoryStorage``,
    generated from the async source, which runs each call right in the calling thread
    (for notebooks, scripts and threads). Both have the same methods, parameters and
    documentation.

    Example:
        >>> storage = MemoryStorage()
        >>> await storage.put("test.txt", b"hello world")
        StoredFile(key='test.txt', size=11, ...)
        >>> assert await storage.exists("test.txt")
        >>> await storage.get_bytes("test.txt")
        b'hello world'

    Args:
        config: Limits and tuning (:class:`~memstore.MemoryConfig`); defaults to no limit.

    Raises:
        TypeError: If ``config`` is not a :class:`~memstore.MemoryConfig` or ``None``.
    """

    # ------------------------------------------------------------------ writes
    async def put(
        self,
        key: str,
        data: PutData,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        if_none_match: Literal["*"] | None = None,
        if_match: str | None = None,
    ) -> StoredFile:
        """Store data at the given key, replacing any file there.

        Args:
            key: Storage path/key for the file.
            data: File contents: ``bytes``, ``bytearray``, ``memoryview`` or any other
                C-contiguous buffer (``array.array``, a NumPy array ...), an async
                iterable of bytes-like chunks, or a blocking binary file object (read in
                a worker thread on the async face). Mutable inputs are copied once. The
                sync face also takes any iterable of bytes.
            content_type: MIME type; guessed from the key's extension when ``None``.
            metadata: Additional ``str`` to ``str`` metadata to store with the file.
            if_none_match: ``"*"``: create only, fail if ``key`` exists (S3 ``If-None-Match``).
            if_match: Store only if ``key`` exists with this ETag (S3 ``If-Match``): a
                compare-and-swap. Both conditions are decided at the commit step, after
                a stream was read, atomically with the write.

        Returns:
            StoredFile with metadata about the stored file.

        Raises:
            StorageFileExistsError: If ``if_none_match="*"`` and ``key`` exists.
            StoragePreconditionFailedError: If ``if_match`` is not the stored ETag.
            StorageQuotaExceededError: If ``max_size`` would be exceeded (nothing is stored).
            InvalidKeyError: If ``key`` is not a valid key.
            TypeError: If an argument has the wrong type.
            ValueError: If a file object given as data is non-blocking.
            StorageClosedError: If the storage is closed.
        """
        engine = self._open()
        key = validate_key(key)
        if content_type is None:
            content_type = ops.guess_content_type(key)
        elif type(content_type) is not str:
            content_type = ops.content_type_for(key, content_type)
        meta = EMPTY_METADATA if metadata is None else ops.freeze_metadata(metadata)
        create_only = False
        expected = None
        if if_none_match is not None or if_match is not None:
            create_only, expected = ops.check_conditions(if_none_match, if_match)
        if type(data) is bytes:
            size = len(data)
            if size <= LAZY_ETAG_LIMIT:  # hashed when the ETag is first read, if ever
                return engine.commit_put(
                    key, data, size, content_type, None, meta, create_only=create_only, if_match=expected
                )
            engine.check_fits(key, size)
            etag = await offload(ops.etag_of, data, when=size >= self.config.offload_threshold)
            return engine.commit_put(
                key, data, size, content_type, etag, meta, create_only=create_only, if_match=expected
            )
        view = ops.buffer_view(data)
        if view is None:
            if not ASYNC:  # noqa: SIM102 - the generator keeps this block's body in the sync face
                if ops.is_async_iterable(data):  # only an event loop can read it
                    return self._runner.run_put(
                        self._core,
                        key,
                        data,
                        content_type,
                        meta,
                        if_none_match=if_none_match,
                        if_match=expected,
                    )
            stream = aiter_chunks(data, self.config.chunk_size)
            return await self._put_stream(engine, key, stream, content_type, meta, create_only, expected)
        with view:  # pins a bytearray's size while it is measured and copied
            size = view.nbytes
            engine.check_fits(key, size)
            if size >= self.config.offload_threshold:
                parts, etag = await offload(ops.copy_and_hash, view)
                return engine.commit_put(
                    key, parts, size, content_type, etag, meta, create_only=create_only, if_match=expected
                )
            payload = view.tobytes()
        lazy = size <= LAZY_ETAG_LIMIT
        return engine.commit_put(
            key,
            payload,
            size,
            content_type,
            None if lazy else ops.etag_of(payload),
            meta,
            create_only=create_only,
            if_match=expected,
        )

    async def _put_stream(
        self,
        engine: Engine,
        key: str,
        stream: AsyncIterable[ops.BytesLike],
        content_type: str,
        meta: Mapping[str, str],
        create_only: bool,
        expected: str | None,
    ) -> StoredFile:
        """Read ``stream`` into a writer, reserving quota as it goes, then commit once."""
        res = engine.reservation(key)
        writer = ops.StreamWriter(key, self.config.chunk_size, lambda n: engine.reserve(res, n))
        done = False
        try:
            async for chunk in stream:
                await offload(writer.feed, chunk, when=writer.measure(chunk) >= self.config.offload_threshold)
                if writer.checkpoint_due(self.config.offload_threshold):
                    await checkpoint()
            data, size, etag = writer.finish()
            file = engine.commit_put(
                key, data, size, content_type, etag, meta, res, create_only=create_only, if_match=expected
            )
            done = True
            return file
        finally:
            engine.release(res)
            if not done:
                await aclose_quietly(stream)

    async def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete a file.

        Args:
            key: Storage path/key for the file.
            if_match: Delete only this version: the ETag the file must have (S3
                ``If-Match``), decided atomically with the delete.

        Raises:
            StorageFileNotFoundError: If the file does not exist.
            StoragePreconditionFailedError: If ``if_match`` is given and the file is
                missing or has another ETag (nothing is deleted).
            InvalidKeyError: If ``key`` is not a valid key.
            StorageClosedError: If the storage is closed.
        """
        engine = self._open()
        key = validate_key(key)
        engine.delete(key, ops.check_etag("if_match", if_match))

    async def copy(self, source: str, destination: str, *, overwrite: bool = True) -> StoredFile:
        """Copy a file within the storage (the copy counts against the quota).

        Args:
            source: Source key to copy from.
            destination: Destination key to copy to.
            overwrite: Replace ``destination`` if it exists (default); with ``False`` an
                existing destination fails, decided atomically with the copy.

        Returns:
            StoredFile metadata for the new copy.

        Raises:
            StorageFileNotFoundError: If the source file does not exist.
            StorageFileExistsError: If ``overwrite=False`` and ``destination`` exists.
            StorageQuotaExceededError: If the copy does not fit (nothing changes).
            InvalidKeyError: If a key is not valid.
            StorageClosedError: If the storage is closed.
        """
        engine = self._open()
        source = validate_key(source, "source")
        destination = validate_key(destination, "destination")
        overwrite = ops.check_overwrite(overwrite)
        return engine.transfer(source, destination, remove_source=False, overwrite=overwrite)

    async def move(self, source: str, destination: str, *, overwrite: bool = True) -> StoredFile:
        """Move/rename a file within the storage, in one atomic step.

        Args:
            source: Source key to move from.
            destination: Destination key to move to.
            overwrite: Replace ``destination`` if it exists (default); with ``False`` an
                existing destination fails, decided atomically with the move.

        Returns:
            StoredFile metadata for the moved file.

        Raises:
            StorageFileNotFoundError: If the source file does not exist.
            StorageFileExistsError: If ``overwrite=False`` and ``destination`` exists.
            InvalidKeyError: If a key is not valid.
            StorageClosedError: If the storage is closed.
        """
        engine = self._open()
        source = validate_key(source, "source")
        destination = validate_key(destination, "destination")
        overwrite = ops.check_overwrite(overwrite)
        return engine.transfer(source, destination, remove_source=True, overwrite=overwrite)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every file whose key starts with ``prefix``, in one atomic step.

        A concurrent listing sees all of them or none; their bytes are freed at once and
        one ``"delete_prefix"`` event reports the prefix and the count. O(k log n) for k
        files.

        Args:
            prefix: A non-empty key prefix, such as a folder (``"logs/2024/"``).

        Returns:
            How many files were deleted.

        Raises:
            ValueError: If ``prefix`` is ``""`` (call ``clear()`` to delete everything).
            TypeError: If ``prefix`` is not a ``str``.
            StorageClosedError: If the storage is closed.
        """
        engine = self._open()
        prefix = ops.check_folder_prefix(prefix)
        # One engine step; the async face runs a big one in a worker thread.
        return await offload(engine.delete_prefix, prefix, when=engine.count_prefix(prefix) >= ops.BULK_KEYS)

    async def clear(self) -> None:
        """Delete every file (one ``"clear"`` event)."""
        engine = self._open()
        await offload(engine.clear, when=engine.count_prefix("") >= ops.BULK_KEYS)

    # ------------------------------------------------------------- persistence
    async def save(self, path: str | os.PathLike[str]) -> SaveInfo:
        """Save every file (contents, content type, metadata, ETag, modification time) to ``path``.

        Writes a memstore archive (an uncompressed tar file with a JSON Lines manifest;
        see the "Keeping your data" guide for the format) from one consistent snapshot
        of the storage, so writes made meanwhile are not in it. The file is written one
        chunk at a time (on the async face, in a worker thread) to a temporary file
        beside ``path``, and renamed into place when complete: a failed save leaves any
        previous file at ``path`` intact. A file it replaces keeps its permissions; a
        new one is readable by its owner only.

        Args:
            path: Where to write the archive (a ``str`` or path-like object).

        Returns:
            SaveInfo with the absolute path, the number of files and the bytes written.

        Raises:
            TypeError: If ``path`` is not a ``str`` or path-like object.
            OSError: If the file cannot be written (nothing changed at ``path``).
            StorageClosedError: If the storage is closed.
        """
        where = _archive.check_path(path)
        engine = self._open()
        snapshot = await offload(_archive.paused, engine.snapshot, when=engine.usage().file_count >= _MANY)
        target, size = await offload(_archive.save_snapshot, where, snapshot)
        return SaveInfo(target, snapshot.file_count, size)

    @classmethod
    async def load(
        cls, path: str | os.PathLike[str], config: MemoryConfig | None = None, *, name: str | None = None
    ) -> Self:
        """A new storage holding the files saved at ``path`` by :meth:`save`.

        Every key, its contents, content type, metadata, ETag and modification time
        come back as they were saved. The whole file is read and verified (its
        structure, every key, every checksum; on the async face, in a worker thread)
        before anything is returned: a truncated, corrupted or hostile file raises and
        gives nothing. Loading never unpickles or runs anything from the file.

        Args:
            path: A file written by :meth:`save`.
            config: The new storage's configuration (default: no limit).
            name: Register the new storage under this name, as :meth:`named` would
                (``memstore://NAME/...`` URLs then reach it). No open storage may have
                that name already.

        Returns:
            A new, open storage of this class.

        Raises:
            StorageFormatError: If the file is not a valid memstore archive: truncated,
                corrupted, hostile, or written by a newer format version. It names the
                path and the problem.
            StorageQuotaExceededError: If the files do not fit ``config.max_size``.
            ConfigurationError: If ``name`` is not a valid name, or an open storage has it.
            TypeError: If ``path``, ``config`` or ``name`` has the wrong type.
            OSError: If the file cannot be read (``FileNotFoundError`` ...).
        """
        where = _archive.check_path(path)
        if name is not None:
            name = validate_name(name)  # before reading a byte
        if config is not None and not isinstance(config, MemoryConfig):
            raise TypeError(f"config must be a MemoryConfig or None, not {type(config).__name__}")
        max_size = None if config is None else config.max_size
        items = await offload(_archive.read_archive, where, max_size)
        storage = cls(config)
        try:
            engine = storage._open()
            prepared = await offload(_archive.paused, _prepare_loaded, engine, items, f"loading {where!r}")
            engine.install(prepared)
            if name is not None:
                storage._register(name)
        except BaseException:
            storage._discard()
            raise
        return storage

    def snapshot(self) -> Snapshot:
        """The whole contents at this moment, immutable, for :meth:`restore`.

        Costs O(number of files) and copies no contents: stored contents never change,
        so the snapshot shares them (their memory is held while the snapshot is).

        Raises:
            StorageClosedError: If the storage is closed.
        """
        return self._open().snapshot()

    async def restore(self, snapshot: Snapshot) -> None:
        """Replace the whole contents by ``snapshot``'s, in one atomic step.

        A concurrent reader sees the old files or the snapshot's, never a mix; the
        quota stays exact, and one ``"restore"`` event is sent. The files come back
        with their ETag and modification time. A snapshot of another storage of this
        backend is accepted if it fits.

        Raises:
            StorageQuotaExceededError: If the snapshot holds more than ``max_size`` bytes
                (nothing changes).
            TypeError: If ``snapshot`` is not a :class:`~memstore.Snapshot`.
            StorageClosedError: If the storage is closed.
        """
        if not isinstance(snapshot, Snapshot):
            raise TypeError(f"snapshot must be a Snapshot (from snapshot()), not {type(snapshot).__name__}")
        engine = self._open()
        action = f"restoring a snapshot of {snapshot.file_count:,} files"
        items = _archive.snapshot_items(snapshot)
        prepared = await offload(_archive.paused, engine.prepare, items, action, when=len(items) >= _MANY)
        old = engine.install(prepared)
        await offload(old.clear, when=len(old) >= _MANY)  # freeing many files takes a while

    # ------------------------------------------------------------------- reads
    def get(self, key: str, *, start: int | None = None, end: int | None = None) -> AsyncIterator[bytes]:
        """Retrieve file contents as a stream of ``bytes`` chunks.

        The file is looked up when ``get()`` is called, so a missing file, a bad key or
        a closed storage raises right there, and the stream reads the version current
        at that call even if the key is overwritten meanwhile.

        Args:
            key: Storage path/key for the file.
            start: First byte to read (Python slice semantics: negative counts from the
                end, out of range clamps); ``None`` for the beginning.
            end: Where to stop (exclusive, slice semantics); ``None`` for the end.

        Returns:
            An iterator over ``data[start:end]`` in chunks of ``bytes``: one chunk for a
            small range, chunks of ``MemoryConfig.chunk_size`` bytes (the last one
            shorter) for a large one. Only the stored parts that the range touches are
            copied.

        Raises:
            StorageFileNotFoundError: If the file does not exist.
            InvalidKeyError: If ``key`` is not a valid key.
            TypeError: If ``start`` or ``end`` is not an ``int`` or ``None``.
            StorageClosedError: If the storage is closed.
        """
        start = ops.check_bound("start", start)
        end = ops.check_bound("end", end)
        entry = self._open().entry(validate_key(key))
        return self._chunks(entry, start, end)

    async def _chunks(self, entry: Entry, start: int | None, end: int | None) -> AsyncIterator[bytes]:
        """The chunks of one stored version (what :meth:`get` returns)."""
        data = entry.data
        if start is None and end is None:
            async for chunk in apaced(ops.chunks_of(data, self.config.chunk_size)):
                yield chunk
            return
        lo, hi = ops.resolve_range(entry.file.size, start, end)
        async for chunk in apaced(ops.range_chunks(data, lo, hi, self.config.chunk_size, entry.offsets)):
            yield chunk

    async def get_bytes(self, key: str, *, start: int | None = None, end: int | None = None) -> bytes:
        """Retrieve the contents of a file (or ``data[start:end]`` of them) as bytes.

        Args:
            key: Storage path/key for the file.
            start: First byte to read (Python slice semantics); ``None`` for the beginning.
            end: Where to stop (exclusive, slice semantics); ``None`` for the end.

        Returns:
            The contents, or the range of them: reading 1 KiB of a 1 GiB file copies
            about 1 KiB.

        Raises:
            StorageFileNotFoundError: If the file does not exist.
            InvalidKeyError: If ``key`` is not a valid key.
            TypeError: If ``start`` or ``end`` is not an ``int`` or ``None``.
            StorageClosedError: If the storage is closed.
        """
        entry = self._engine.find(key) or self._open().entry(validate_key(key))  # stored keys are valid
        data = entry.data
        if start is None and end is None:
            if isinstance(data, bytes):
                return data
            return await offload(ops.join, data, when=entry.file.size >= self.config.offload_threshold)
        start = ops.check_bound("start", start)
        end = ops.check_bound("end", end)
        lo, hi = ops.resolve_range(entry.file.size, start, end)
        parts = ops.slice_data(data, lo, hi, entry.offsets)
        return await offload(ops.join, parts, when=hi - lo >= self.config.offload_threshold)

    async def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> builtins.list[bytes]:
        """Read several byte ranges of one file at once, all from the same version.

        Args:
            key: Storage path/key for the file.
            ranges: ``(start, end)`` pairs, each with the slice semantics of
                :meth:`get_bytes`.

        Returns:
            ``data[start:end]`` for each pair, in order.

        Raises:
            StorageFileNotFoundError: If the file does not exist.
            InvalidKeyError: If ``key`` is not a valid key.
            TypeError: If ``ranges`` is not a sequence of pairs of ``int`` (or ``None``).
            StorageClosedError: If the storage is closed.
        """
        pairs = ops.check_ranges(ranges)
        entry = self._open().entry(validate_key(key))  # one version for every range
        data = entry.data
        size = entry.file.size
        out: builtins.list[bytes] = []
        for start, end in pairs:
            lo, hi = ops.resolve_range(size, start, end)
            out.append(b"".join(ops.slice_data(data, lo, hi, entry.offsets)))
        return out

    async def exists(self, key: str) -> bool:
        """Check if a file exists.

        Args:
            key: Storage path/key for the file.

        Returns:
            True if the file exists, False otherwise.

        Raises:
            InvalidKeyError: If ``key`` is not a valid key.
            StorageClosedError: If the storage is closed.
        """
        if self._engine.find(key) is not None:
            return True
        return self._open().contains(validate_key(key))

    async def info(self, key: str) -> StoredFile:
        """Get metadata about a file without reading it.

        Args:
            key: Storage path/key for the file.

        Returns:
            StoredFile with metadata.

        Raises:
            StorageFileNotFoundError: If the file does not exist.
            InvalidKeyError: If ``key`` is not a valid key.
            StorageClosedError: If the storage is closed.
        """
        entry = self._engine.find(key)
        return (entry or self._open().entry(validate_key(key))).file

    async def list(self, prefix: str = "", *, limit: int | None = None) -> AsyncIterator[StoredFile]:
        """List files with optional prefix filter, in key order.

        Costs O(log n + k) for k results; ``limit`` stops early. The sorted index is
        read in pages of 256 keys, each a consistent snapshot: a file written while the
        listing runs appears in it when its key sorts after the page being read.

        Args:
            prefix: Filter results to keys starting with this prefix.
            limit: Maximum number of results to return (``None``: all).

        Yields:
            StoredFile metadata for each matching file.

        Raises:
            TypeError: If ``prefix`` is not a ``str`` or ``limit`` not an ``int``.
            ValueError: If ``limit`` is negative.
            StorageClosedError: If the storage is closed, also when it closes while the
                listing runs.
        """
        prefix = ops.check_prefix(prefix)
        remaining = ops.check_limit(limit)
        self._open()
        after: str | None = None
        while remaining is None or remaining > 0:
            count = _PAGE if remaining is None else min(_PAGE, remaining)
            page = self._open().list_page(prefix, after, count)
            for file in page:
                yield file
            if len(page) < count:
                return
            await checkpoint()  # between pages: a listing of a million keys never holds the loop
            after = page[-1].key
            if remaining is not None:
                remaining -= len(page)

    async def list_dir(self, prefix: str = "") -> DirListing:
        """One "folder" level under ``prefix``: S3's ListObjectsV2 with ``Delimiter="/"``.

        ``files`` are the keys that start with ``prefix`` and have no further ``/``;
        ``prefixes`` are the distinct ``prefix + segment + "/"`` that hold at least one
        file; both sorted, from one consistent snapshot. Costs O((1 + k) log n) for k
        results: each sub-folder is skipped through the sorted index, never walked.

        Example:
            >>> storage = MemoryStorage()
            >>> for key in ["a.txt", "logs/1.txt", "logs/2.txt", "img/x/1.png"]:
            ...     _ = await storage.put(key, b"")
            >>> listing = await storage.list_dir()
            >>> listing.prefixes, [f.key for f in listing.files]
            (('img/', 'logs/'), ['a.txt'])

        Raises:
            TypeError: If ``prefix`` is not a ``str``.
            StorageClosedError: If the storage is closed.
        """
        prefix = ops.check_prefix(prefix)
        engine = self._open()
        # One engine step (a consistent snapshot); the async face reads a big folder in a
        # worker thread, so its event loop keeps running.
        folders, files = await offload(
            engine.list_dir, prefix, when=engine.count_prefix(prefix) >= ops.BULK_KEYS
        )
        return DirListing(tuple(folders), tuple(files))

    async def url(self, key: str, *, expires_in: timedelta | None = None) -> str:
        """Generate a URL for accessing the file.

        Args:
            key: Storage path/key for the file.
            expires_in: Optional expiration time (ignored for memory storage).

        Returns:
            URL string in the format ``memory://{key}`` (not reachable from outside).

        Raises:
            InvalidKeyError: If ``key`` is not a valid key.
            TypeError: If ``expires_in`` is not a ``timedelta`` or ``None``.
            StorageClosedError: If the storage is closed.
        """
        self._open()
        key = validate_key(key)
        ops.check_expires_in(expires_in)
        return f"memory://{key}"

    # ----------------------------------------------------------------- queries
    async def get_usage(self) -> StorageUsage:
        """The file count, the bytes used and the limit, as one consistent snapshot (O(1))."""
        return self._open().usage()

    async def get_prefix_usage(self, prefix: str = "") -> builtins.list[PrefixUsage]:
        """Usage of each "folder" one level below ``prefix``, largest first, ties by name.

        With ``prefix=""``: the top-level folders, and ``""`` for the files at the top,
        in O(number of top-level folders) from counters kept on every write. Otherwise:
        each sub-folder of ``prefix`` (from the same counters, kept for every folder) and
        ``prefix`` itself for the files directly in it, in O((1 + k) log n).

        Raises:
            TypeError: If ``prefix`` is not a ``str``.
            StorageClosedError: If the storage is closed.
        """
        return self._open().folder_usage(ops.check_prefix(prefix))

    async def count(self, prefix: str = "") -> int:
        """The number of files whose key starts with ``prefix`` (O(log n)).

        Raises:
            TypeError: If ``prefix`` is not a ``str``.
            StorageClosedError: If the storage is closed.
        """
        prefix = ops.check_prefix(prefix)
        return self._open().count_prefix(prefix)

    async def list_page(
        self, prefix: str = "", *, offset: int = 0, limit: int = 50, order: PageOrder = "key"
    ) -> builtins.list[StoredFile]:
        """The files ``offset`` to ``offset + limit`` among those under ``prefix``, in ``order``.

        ``order`` is ``"key"`` (key order) or ``"newest"`` (most recently modified first).

        O(log n + limit) in key order: the sorted index is sliced by position. Newest
        first, O(offset + limit) when most keys are under ``prefix``: the entries are
        kept in modification order and read from the newest.

        Raises:
            TypeError: If an argument has the wrong type.
            ValueError: If ``offset`` is negative, ``limit`` is not in 0..10000 or ``order``
                is neither ``"key"`` nor ``"newest"``.
            StorageClosedError: If the storage is closed.
        """
        prefix = ops.check_prefix(prefix)
        offset = ops.check_offset(offset)
        if type(limit) is not int:
            raise TypeError(f"limit must be an int, not {type(limit).__name__}")
        if not 0 <= limit <= 10_000:
            raise ValueError(f"limit must be between 0 and 10000, got {limit}")
        if ops.check_order(order) == "newest":
            return self._open().recent_page(prefix, offset, limit)
        return self._open().list_slice(prefix, offset, limit)

    @property
    def usage(self) -> StorageUsage:
        """File count, bytes used and the limit, as one consistent snapshot (O(1)).

        Raises:
            StorageClosedError: If the storage is closed.
        """
        return self._open().usage()

    def prefix_usage(self) -> Sequence[PrefixUsage]:
        """Usage per top-level prefix ("folder"), largest first.

        Kept up to date on every write, so this costs O(number of prefixes), not a scan.

        Raises:
            StorageClosedError: If the storage is closed.
        """
        return self._open().prefix_usage()

    def subscribe(self, callback: Callable[[StorageEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after every change to the storage.

        The callback runs in whatever thread made the change, after the change is
        complete and outside the storage's lock; exceptions it raises are logged and
        ignored. Returns a function that unsubscribes (safe to call twice).

        Events from changes made in different threads at the same moment may arrive in
        either order: to mirror the storage, re-read it (``event.file``, ``usage``,
        ``info``) rather than replaying events. A put of an async stream through the
        sync face commits on memstore's portal thread, so its event is delivered there.
        ``close()`` sends one last ``"close"`` event, after every other.

        Raises:
            TypeError: If ``callback`` is not callable.
            StorageClosedError: If the storage is closed.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        return self._open().subscribe(callback)

    if ASYNC:

        def as_sync(self) -> SyncMemoryStorage:
            """The synchronous face over this storage (same files): ``SyncMemoryStorage.wrap(self)``."""
            from memstore.memory._sync import SyncMemoryStorage

            return SyncMemoryStorage.wrap(self)
