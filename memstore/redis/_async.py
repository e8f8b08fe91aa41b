"""The Redis backend's storage class, written once for both faces.

``_async.py`` is the source (:class:`~memstore.redis.RedisStorage`); ``_sync.py`` beside
it (:class:`~memstore.redis.SyncRedisStorage`) is generated from it by
``tools/async_to_sync.py`` (docs/guides/design.md, "One async→sync path"). Each method
checks and normalises its arguments with :mod:`memstore._ops` exactly as the memory
backend does, waits for what it must (a stream, a hash), and then changes the server in
one Lua script (invariant 1; the scripts and the key layout are in ``_scripts.py``).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from memstore import _archive
from memstore import _ops as ops
from memstore._concurrency import aclose_quietly, aiter_chunks, checkpoint, offload
from memstore._keys import validate_key
from memstore._ops import ASYNC, PutData
from memstore.base import BaseStorage
from memstore.exceptions import (
    ConfigurationError,
    StorageError,
    StorageFileExistsError,
    StorageFileNotFoundError,
    StoragePreconditionFailedError,
    StorageQuotaExceededError,
)
from memstore.redis._config import RedisConfig
from memstore.redis._faces import AsyncFace
from memstore.types import EMPTY_METADATA, DirListing, SaveInfo, StorageEvent, StorageUsage, StoredFile

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["RedisConfig", "RedisStorage"]

_Found = tuple[builtins.list[bytes], int, int, builtins.list[bytes]]
"""What :meth:`RedisStorage._read` found: a file's fields, the resolved range, its bytes if read."""
_PAGE = 256  # list() reads the sorted index in consistent pages of this many keys
_UTC = timezone.utc


class RedisStorage(AsyncFace, BaseStorage):
    """An object storage on a Redis (or Valkey) server, shared by every process that uses it.

    The same contract as :class:`~memstore.MemoryStorage`: files in key order with an
    exact quota ledger, and every write one atomic server-side step after all its
    waiting is done. Every client of the same server and ``namespace``, in any process
    or machine, sees the same files and shares the quota.

    Example:
        >>> storage = RedisStorage(RedisConfig(url, namespace="docs"))
        >>> await storage.put("test.txt", b"hello world")
        StoredFile(key='test.txt', size=11, ...)

    Args:
        config: The server, namespace and limits (:class:`~memstore.redis.RedisConfig`).

    Raises:
        TypeError: If ``config`` is not a :class:`~memstore.redis.RedisConfig` or ``None``.
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

        A file larger than ``chunk_size`` (and every stream) is staged chunk by chunk
        where no reader sees it, under a lease, and committed in one script; a writer
        that dies mid-stream leaves nothing visible, and its chunks and quota
        reservation are reclaimed once the lease runs out.

        Args:
            key: Storage path/key for the file.
            data: File contents: bytes-like data, an async iterable of bytes-like chunks,
                or a blocking binary file object. The sync face also takes any iterable
                of bytes.
            content_type: MIME type; guessed from the key's extension when ``None``.
            metadata: Additional ``str`` to ``str`` metadata to store with the file.
            if_none_match: ``"*"``: create only, fail if ``key`` exists (S3 ``If-None-Match``).
            if_match: Store only if ``key`` exists with this ETag (S3 ``If-Match``). Both
                conditions are decided by the server at the commit step.

        Returns:
            StoredFile with metadata about the stored file.

        Raises:
            StorageFileExistsError: If ``if_none_match="*"`` and ``key`` exists.
            StoragePreconditionFailedError: If ``if_match`` is not the stored ETag.
            StorageQuotaExceededError: If ``max_size`` would be exceeded (nothing is stored).
            StorageConnectionError: If the server cannot be reached in time.
            InvalidKeyError: If ``key`` is not a valid key.
            TypeError: If an argument has the wrong type.
            StorageClosedError: If the storage is closed.
        """
        self._check_open()
        key = validate_key(key)
        content_type = ops.content_type_for(key, content_type)
        meta = EMPTY_METADATA if metadata is None else ops.freeze_metadata(metadata)
        create_only, expected = ops.check_conditions(if_none_match, if_match)
        view = ops.buffer_view(data)
        if view is None:
            if not ASYNC:  # noqa: SIM102 - the generator keeps this block's body in the sync face
                if ops.is_async_iterable(data):  # only an event loop can read it
                    return self._put_async_stream(key, data, content_type, meta, if_none_match, expected)
            stream = aiter_chunks(data, self.config.chunk_size)
            return await self._put_stream(key, stream, content_type, meta, create_only, expected)
        with view:
            size = view.nbytes
            payload = view.tobytes()
        if size > self.config.chunk_size:
            return await self._put_stream(key, _one_chunk(payload), content_type, meta, create_only, expected)
        etag = await offload(ops.etag_of, payload, when=size >= self.config.offload_threshold)
        return await self._commit(
            key, "", size, etag, content_type, meta, 1 if size else 0, create_only, expected, payload
        )

    async def _commit(
        self,
        key: str,
        token: str,
        size: int,
        etag: str,
        content_type: str,
        meta: Mapping[str, str],
        chunks: int,
        create_only: bool,
        expected: str | None,
        payload: bytes = b"",
    ) -> StoredFile:
        """The commit step: one script stores the file, its chunks were staged (or are inline)."""
        args: builtins.list[str | bytes] = [
            key,
            token,
            str(size),
            etag,
            content_type,
            json.dumps(dict(meta)) if meta else "",
            str(chunks),
            str(self.config.chunk_size),
            "1" if create_only else "0",
            expected or "",
            self._limit(),
        ]
        if not token:
            args.append(payload)
        reply = await self._script("PUT", *args)
        self._raise_for(reply, key, size, expected)
        return StoredFile(key, size, content_type, etag, _time(reply[1]), meta)

    async def _put_stream(
        self,
        key: str,
        stream: AsyncIterable[Any],
        content_type: str,
        meta: Mapping[str, str],
        create_only: bool,
        expected: str | None,
        total: int = 0,
    ) -> StoredFile:
        """Stage the chunks of ``stream`` under a lease, reserving quota as they come, then commit.

        Quota is reserved for every chunk received (for ``total`` bytes at once when the
        size is known), before it is kept; the chunks are staged ``chunk_size`` bytes at
        a time.
        """
        chunk_size = self.config.chunk_size
        token = "s" + uuid.uuid4().hex
        hasher = hashlib.md5(usedforsecurity=False)
        pending: builtins.list[bytes] = []
        pending_len = received = staged = 0
        done = reserving = False
        try:
            async for chunk in stream:
                part = _chunk_bytes(key, chunk)
                if not part:
                    continue
                await offload(hasher.update, part, when=len(part) >= self.config.offload_threshold)
                pending.append(part)
                pending_len += len(part)
                reserved = max(received + pending_len, total)
                reserving = True  # from here on, a failure aborts the token (even mid-call)
                if pending_len < chunk_size:
                    await self._stage(key, token, -1, b"", reserved)
                while pending_len >= chunk_size:
                    whole = pending[0] if len(pending) == 1 else b"".join(pending)
                    piece, rest = whole[:chunk_size], whole[chunk_size:]
                    pending, pending_len = ([rest] if rest else []), len(rest)
                    received += len(piece)
                    await self._stage(key, token, staged, piece, reserved)
                    staged += 1
                await checkpoint()
            size = received + pending_len
            etag = f'"{hasher.hexdigest()}"'
            if pending_len:
                received += pending_len
                await self._stage(key, token, staged, b"".join(pending), received)
                staged += 1
            if not staged:  # an empty stream
                file = await self._commit(key, "", 0, etag, content_type, meta, 0, create_only, expected)
                done = True
                return file
            file = await self._commit(
                key, token, size, etag, content_type, meta, staged, create_only, expected
            )
            done = True
            return file
        finally:
            if not done:
                await aclose_quietly(stream)
                if staged or reserving:
                    await self._abort(token)

    async def _stage(self, key: str, token: str, index: int, part: bytes, received: int) -> None:
        """Stage one chunk of a stream (invisible to readers) and reserve the quota it needs."""
        reply = await self._script(
            "STAGE", token, str(index), part, str(received), key, self._limit(), self._lease()
        )
        self._raise_for(reply, key, received, None)

    async def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete a file.

        Args:
            key: Storage path/key for the file.
            if_match: Delete only this version: the ETag the file must have (S3
                ``If-Match``), decided by the server with the delete.

        Raises:
            StorageFileNotFoundError: If the file does not exist.
            StoragePreconditionFailedError: If ``if_match`` is given and the file is
                missing or has another ETag (nothing is deleted).
            InvalidKeyError: If ``key`` is not a valid key.
            StorageClosedError: If the storage is closed.
        """
        self._check_open()
        key = validate_key(key)
        expected = ops.check_etag("if_match", if_match)
        reply = await self._script("DELETE", key, expected or "")
        self._raise_for(reply, key, 0, expected)

    async def copy(self, source: str, destination: str, *, overwrite: bool = True) -> StoredFile:
        """Copy a file on the server, in one step (the copy counts against the quota).

        The copy shares the source's chunks (they never change), so it costs O(1)
        whatever the size.

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
        return await self._transfer(source, destination, overwrite, remove=False)

    async def move(self, source: str, destination: str, *, overwrite: bool = True) -> StoredFile:
        """Move/rename a file on the server, in one atomic step.

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
        return await self._transfer(source, destination, overwrite, remove=True)

    async def _transfer(self, source: str, destination: str, overwrite: bool, *, remove: bool) -> StoredFile:
        """Copy or move in one script; the destination shares the source's chunks."""
        self._check_open()
        source = validate_key(source, "source")
        destination = validate_key(destination, "destination")
        overwrite = ops.check_overwrite(overwrite)
        reply = await self._script(
            "TRANSFER", source, destination, "1" if remove else "0", "1" if overwrite else "0", self._limit()
        )
        if reply[0] == b"notfound":
            raise StorageFileNotFoundError(source)
        if reply[0] == b"quota":
            self._raise_for(reply, destination, int(reply[2]), None)
        self._raise_for(reply, destination, 0, None)
        _, mt, size, etag, ctype, meta = reply
        return _file(destination, [size, etag, ctype, mt, meta])

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every file whose key starts with ``prefix``, in one atomic step.

        A concurrent listing, in any process, sees all of them or none. O(k log n) for
        k files.

        Args:
            prefix: A non-empty key prefix, such as a folder (``"logs/2024/"``).

        Returns:
            How many files were deleted.

        Raises:
            ValueError: If ``prefix`` is ``""`` (call ``clear()`` to delete everything).
            TypeError: If ``prefix`` is not a ``str``.
            StorageClosedError: If the storage is closed.
        """
        self._check_open()
        prefix = ops.check_folder_prefix(prefix)
        lo, hi = _lex_range(prefix)
        reply = await self._script("DELETE_RANGE", lo, hi, prefix)
        return int(reply[1])

    async def clear(self) -> None:
        """Delete every file of the namespace, in one step."""
        self._check_open()
        await self._script("DELETE_RANGE", "-", "+", "")

    # ------------------------------------------------------------- persistence
    async def save(self, path: str | os.PathLike[str]) -> SaveInfo:
        """Save every file (contents, content type, metadata, ETag, modification time) to ``path``.

        Writes the same archive as :meth:`memstore.MemoryStorage.save` (the "Keeping
        your data" guide), which either backend can load. The files are read through
        the storage contract, in key order, one chunk at a time (on the async face, in a
        worker thread with its own connection). Each file is saved whole, as one
        version, with the metadata of that version; the save is not one moment across
        files: a file written or deleted by another client while the save runs may be
        in it or not. The archive is written beside ``path`` and renamed into place
        when complete: a failed save leaves any previous file at ``path`` intact.

        Args:
            path: Where to write the archive (a ``str`` or path-like object).

        Returns:
            SaveInfo with the absolute path, the number of files and the bytes written.

        Raises:
            TypeError: If ``path`` is not a ``str`` or path-like object.
            OSError: If the file cannot be written (nothing changed at ``path``).
            StorageError: If a file kept changing while it was read (other clients
                rewriting it without pause).
            StorageConnectionError: If the server cannot be reached in time.
            StorageClosedError: If the storage is closed.
        """
        where = _archive.check_path(path)
        self._check_open()
        if ASYNC:
            reader = self.as_sync()
            try:
                target, size, count = await offload(_archive.save_storage, reader, where)
            finally:
                reader.close()
        else:
            target, size, count = _archive.save_storage(self, where)
        return SaveInfo(target, count, size)

    @classmethod
    async def load(cls, path: str | os.PathLike[str], config: RedisConfig | None = None) -> Self:
        """A storage on the namespace of ``config``, filled with the files saved at ``path``.

        The whole archive is read and verified first (its structure, every key and
        checksum; on the async face, in a worker thread), so a truncated, corrupted or
        hostile file raises before the server is touched. The namespace must hold no
        files. The files are then put one by one, create-only, with their content
        type, metadata and ETag (the modification times are those of the load). If a
        put fails (the quota, another client writing one of the keys, the server), the
        files already put are deleted again and the error is raised. Other clients of
        the namespace may see the files appear one by one while it runs.

        Args:
            path: A file written by ``save()`` (of either backend).
            config: The server and namespace to load into (default: ``RedisConfig()``).

        Returns:
            A new, open storage of this class on that namespace.

        Raises:
            StorageFormatError: If the file is not a valid memstore archive.
            StorageQuotaExceededError: If the files do not fit ``config.max_size``.
            ConfigurationError: If the namespace already holds files.
            StorageFileExistsError: If another client created one of the keys meanwhile
                (nothing of the archive stays).
            StorageConnectionError: If the server cannot be reached in time.
            TypeError: If ``path`` or ``config`` has the wrong type.
            OSError: If the file cannot be read.
        """
        where = _archive.check_path(path)
        self = cls(config)  # named self: the generator translates calls on self
        try:
            items = await offload(_archive.read_archive, where, self.config.max_size)
            await self._fill(items, where)
        except BaseException:
            await self.close()
            raise
        return self

    async def _fill(self, items: builtins.list[tuple[StoredFile, Any]], where: str) -> None:
        """Put the loaded files into the empty namespace; undo the puts if one fails."""
        usage = await self.get_usage()
        if usage.file_count:
            raise ConfigurationError(
                f"cannot load {where!r} into namespace {self.config.namespace!r} at "
                f"{self.config.address}: it holds {usage.file_count:,} files "
                "(clear() it first, or choose another namespace)"
            )
        done: builtins.list[StoredFile] = []
        items.reverse()  # popped from the end, in order: each file's contents are freed once put
        try:
            while items:
                file, data = items.pop()
                body = data if isinstance(data, bytes) else _stream_parts(data)
                done.append(
                    await self.put(
                        file.key,
                        body,
                        content_type=file.content_type,
                        metadata=dict(file.metadata),
                        if_none_match="*",
                    )
                )
        except BaseException:
            for stored in done:
                with contextlib.suppress(StorageError):
                    await self.delete(stored.key, if_match=stored.etag)
            raise

    # ------------------------------------------------------------------- reads
    def get(self, key: str, *, start: int | None = None, end: int | None = None) -> AsyncIterator[bytes]:
        """Retrieve file contents as a stream of ``bytes`` chunks.

        A bad key, a bad bound or a closed storage raises when ``get()`` is called. The
        sync face also looks the file up right there (a missing file raises at the call,
        and the stream reads the version current at the call); a plain call of the async
        face cannot reach the server, so its stream looks the file up as its first step,
        before yielding anything. A range of at most ``chunk_size`` bytes is read in
        one round trip; a larger one is read chunk by chunk from the version found by
        that lookup, pinned under a lease: if it is idle longer than the lease, the
        stream raises :class:`~memstore.StorageError`.

        Args:
            key: Storage path/key for the file.
            start: First byte to read (Python slice semantics); ``None`` for the beginning.
            end: Where to stop (exclusive, slice semantics); ``None`` for the end.

        Returns:
            An iterator over ``data[start:end]`` in chunks of ``chunk_size`` bytes (the
            last one shorter).

        Raises:
            StorageFileNotFoundError: If the file does not exist (on the async face: when
                the stream is first iterated).
            InvalidKeyError: If ``key`` is not a valid key.
            TypeError: If ``start`` or ``end`` is not an ``int`` or ``None``.
            StorageClosedError: If the storage is closed.
        """
        start = ops.check_bound("start", start)
        end = ops.check_bound("end", end)
        self._check_open()
        key = validate_key(key)
        token = "r" + uuid.uuid4().hex
        found: _Found | None = None  # the async face looks the file up as the stream's first step
        if not ASYNC:  # a blocking face may reach the server here: the lookup is part of the call
            found = self._read(key, start, end, self.config.chunk_size, token)
        return self._chunks(key, start, end, token, found)

    async def _chunks(
        self, key: str, start: int | None, end: int | None, token: str, found: _Found | None
    ) -> AsyncIterator[bytes]:
        """The chunks of one version of ``key``: ``found`` by :meth:`_read` (or looked up now)."""
        step = self.config.chunk_size
        if found is None:
            found = await self._read(key, start, end, step, token)
        fields, lo, hi, pieces = found
        if hi - lo <= step:
            if hi > lo:
                yield b"".join(pieces)
            return
        version, stored_chunk, lease = fields[5].decode(), str(int(fields[7])), self._lease()
        try:
            for at in range(lo, hi, step):
                reply = await self._script(
                    "RANGE", version, stored_chunk, str(at), str(min(at + step, hi)), token, lease
                )
                if reply[0] == b"notfound":  # the reader was idle past its lease
                    raise StorageError(
                        f"reading {key!r:.80} was idle longer than its lease ({self.config.lease:g} s); "
                        "get() it again"
                    )
                yield b"".join(reply[1])
        finally:
            await self._abort(token)  # unpin the version (the lease does it if this never runs)

    async def _read(
        self, key: str, start: int | None, end: int | None, budget: int, token: str = ""
    ) -> _Found:
        """The fields of ``key``, the resolved range, and its bytes when at most ``budget``.

        A larger range pins the file's version for ``token`` (under a lease) instead.
        """
        reply = await self._script("READ", key, _bound(start), _bound(end), str(budget), token, self._lease())
        if reply[0] == b"notfound":
            raise StorageFileNotFoundError(key)
        return reply[1], int(reply[2]), int(reply[3]), reply[4]

    async def get_bytes(self, key: str, *, start: int | None = None, end: int | None = None) -> bytes:
        """Retrieve the contents of a file (or ``data[start:end]`` of them) as bytes, in one step.

        Args:
            key: Storage path/key for the file.
            start: First byte to read (Python slice semantics); ``None`` for the beginning.
            end: Where to stop (exclusive, slice semantics); ``None`` for the end.

        Returns:
            The contents, or the range of them (only the chunks the range touches are read).

        Raises:
            StorageFileNotFoundError: If the file does not exist.
            InvalidKeyError: If ``key`` is not a valid key.
            TypeError: If ``start`` or ``end`` is not an ``int`` or ``None``.
            StorageClosedError: If the storage is closed.
        """
        start = ops.check_bound("start", start)
        end = ops.check_bound("end", end)
        self._check_open()
        _, _, _, pieces = await self._read(validate_key(key), start, end, -1)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def exists(self, key: str) -> bool:
        """Check if a file exists.

        Raises:
            InvalidKeyError: If ``key`` is not a valid key.
            StorageClosedError: If the storage is closed.
        """
        self._check_open()
        key = validate_key(key)
        return bool(await self._command("EXISTS", self._prefix + "f:" + key))

    async def info(self, key: str) -> StoredFile:
        """Get metadata about a file without reading it.

        Raises:
            StorageFileNotFoundError: If the file does not exist.
            InvalidKeyError: If ``key`` is not a valid key.
            StorageClosedError: If the storage is closed.
        """
        self._check_open()
        key = validate_key(key)
        fields = await self._command("HMGET", self._prefix + "f:" + key, "size", "etag", "ct", "mt", "meta")
        if fields[0] is None:
            raise StorageFileNotFoundError(key)
        return _file(key, fields)

    async def list(self, prefix: str = "", *, limit: int | None = None) -> AsyncIterator[StoredFile]:
        """List files with optional prefix filter, in key order.

        Reads the server's sorted index (``ZRANGEBYLEX``) in consistent pages of 256
        keys: O(log n + k) for k results; ``limit`` stops early.

        Raises:
            TypeError: If ``prefix`` is not a ``str`` or ``limit`` not an ``int``.
            ValueError: If ``limit`` is negative.
            StorageClosedError: If the storage is closed.
        """
        prefix = ops.check_prefix(prefix)
        remaining = ops.check_limit(limit)
        self._check_open()
        lo, hi = _lex_range(prefix)
        while remaining is None or remaining > 0:
            count = _PAGE if remaining is None else min(_PAGE, remaining)
            reply = await self._script("LIST", lo, hi, str(count))
            page = _files(reply, 1)
            for file in page:
                yield file
            if len(page) < count:
                return
            lo = b"(" + page[-1].key.encode()
            if remaining is not None:
                remaining -= len(page)

    async def list_dir(self, prefix: str = "") -> DirListing:
        """One "folder" level under ``prefix``: S3's ListObjectsV2 with ``Delimiter="/"``.

        One script, one consistent snapshot; each sub-folder is skipped through the
        sorted index, never walked: O((1 + k) log n) for k results.

        Raises:
            TypeError: If ``prefix`` is not a ``str``.
            StorageClosedError: If the storage is closed.
        """
        prefix = ops.check_prefix(prefix)
        self._check_open()
        reply = await self._script("LIST_DIR", prefix)
        folders = tuple(folder.decode() for folder in reply[1])
        return DirListing(folders, tuple(_files(reply[2], 0)))

    async def url(self, key: str, *, expires_in: timedelta | None = None) -> str:
        """A ``redis://`` address of the file (no password; not fetchable by a browser).

        Raises:
            InvalidKeyError: If ``key`` is not a valid key.
            TypeError: If ``expires_in`` is not a ``timedelta`` or ``None``.
            StorageClosedError: If the storage is closed.
        """
        self._check_open()
        key = validate_key(key)
        ops.check_expires_in(expires_in)
        return f"{self.config.address}#{self.config.namespace}/{key}"

    # ----------------------------------------------------------------- queries
    async def get_usage(self) -> StorageUsage:
        """The file count, the bytes used and the limit, from the server's ledger (O(1))."""
        self._check_open()
        used, count = await self._command("HMGET", self._prefix + "st", "used", "count")
        return StorageUsage(int(count or 0), int(used or 0), self.config.max_size)

    async def count(self, prefix: str = "") -> int:
        """The number of files whose key starts with ``prefix`` (O(log n), ``ZLEXCOUNT``).

        Raises:
            TypeError: If ``prefix`` is not a ``str``.
            StorageClosedError: If the storage is closed.
        """
        prefix = ops.check_prefix(prefix)
        self._check_open()
        lo, hi = _lex_range(prefix)
        return int(await self._command("ZLEXCOUNT", self._prefix + "idx", lo, hi))

    async def check(self) -> builtins.list[str]:
        """Verify the namespace (fsck): index, file records, chunks, references and ledger agree.

        Also looks for chunks that belong to no file and no stream in progress (with
        ``SCAN``: this is a repair tool, O(n)). Returns the differences found, in words;
        an empty list means the namespace is consistent.

        Raises:
            StorageClosedError: If the storage is closed.
        """
        self._check_open()
        reply = await self._script("CHECK")
        problems = [problem.decode() for problem in reply[1]]
        versions = {v.decode() for v in (await self._command("HKEYS", self._prefix + "rc"))}
        staging = {t.decode() for t in (await self._command("HKEYS", self._prefix + "stg"))}
        cursor = "0"
        chunk_prefix = self._prefix + "c:"
        while True:
            cursor_reply, names = await self._command(
                "SCAN", cursor, "MATCH", chunk_prefix + "*", "COUNT", "1000"
            )
            for name in names:
                version = name.decode()[len(chunk_prefix) :].rsplit(":", 1)[0]
                if version not in versions and version not in staging:
                    problems.append(f"orphaned chunk {name.decode()}")
            cursor = cursor_reply.decode() if isinstance(cursor_reply, bytes) else str(cursor_reply)
            if cursor == "0":
                break
        return problems

    def subscribe(self, callback: Callable[[StorageEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after every change made by any client of the namespace.

        Changes made through this storage, another storage object, another process or
        another machine on the same server and ``namespace`` all arrive, as one
        :class:`~memstore.StorageEvent` each, with the same fields as on the memory
        backend. Every write script publishes its event on the namespace's pub/sub
        channel in the same atomic step as the change, so events arrive in the order
        the server committed the changes.

        The first subscriber opens a dedicated pub/sub connection and waits until the
        server confirms it (one round trip); the events then come from one background
        thread, shortly after each change committed: not in step with the write as on
        the memory backend (a write's own event may arrive just before or just after
        the write returns).
        Exceptions a callback raises are logged and ignored. Returns a function that
        unsubscribes (safe to call twice); the last one closes the connection.

        Delivery is at most once: Redis keeps no backlog, so events published while the
        event connection is down are lost (the client reconnects by itself). Events are
        numbered: the next one that arrives shows the gap, or, when none comes, the
        namespace's event counter does (checked after a second without events), and a
        ``"resync"`` event comes first: re-read the storage (the notebook browser does).
        ``close()`` delivers the events already on their way, then one last ``"close"``
        event.

        Raises:
            TypeError: If ``callback`` is not callable.
            StorageClosedError: If the storage is closed.
            StorageConnectionError: If the server cannot be reached in time.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        self._check_open()
        return self._events.subscribe(callback)

    # ---------------------------------------------------------------- helpers
    def _lease(self) -> str:
        return str(max(1, round(self.config.lease * 1000)))

    def _limit(self) -> str:
        return "-1" if self.config.max_size is None else str(self.config.max_size)

    def _raise_for(self, reply: builtins.list[Any], key: str, size: int, expected: str | None) -> None:
        """Raise the error a script's status stands for (``ok`` passes)."""
        status = reply[0]
        if status == b"ok":
            return
        if status == b"exists":
            raise StorageFileExistsError(key)
        if status == b"precond":
            actual = reply[1].decode() or None
            raise StoragePreconditionFailedError(key, expected=expected or "", actual=actual)
        if status == b"notfound":
            raise StorageFileNotFoundError(key)
        if status == b"quota":
            raise StorageQuotaExceededError(
                key, max_size=self.config.max_size or 0, used_bytes=int(reply[1]), requested_bytes=size
            )
        if status == b"lease":
            raise StorageError(
                f"the streamed put of {key!r:.80} was idle longer than its lease "
                f"({self.config.lease:g} s): its staged chunks were reclaimed, nothing was stored"
            )
        raise StorageError(f"unexpected reply from the Redis server at {self.config.address}: {status!r:.80}")

    if ASYNC:

        def as_sync(self) -> Any:
            """A synchronous storage on the same server and namespace (same files)."""
            from memstore.redis._sync import SyncRedisStorage

            return SyncRedisStorage(self.config)


async def _stream_parts(parts: tuple[bytes, ...]) -> AsyncIterator[bytes]:
    """A loaded file's parts as a stream (staged in chunks like any stream)."""
    for part in parts:
        yield part


async def _one_chunk(payload: bytes) -> AsyncIterator[bytes]:
    """A large bytes payload as a one-item stream (staged in chunks like any stream)."""
    yield payload


def _chunk_bytes(key: str, chunk: object) -> bytes:
    """A stream's chunk as immutable ``bytes`` (a mutable one copied), after checking its type."""
    if type(chunk) is bytes:
        return chunk
    if isinstance(chunk, (bytearray, memoryview, bytes)):
        with memoryview(chunk) as view:
            return view.tobytes()
    raise TypeError(f"the stream for {key!r:.60} must yield bytes-like chunks, not {type(chunk).__name__}")


def _bound(value: int | None) -> str:
    return "" if value is None else str(value)


def _lex_range(prefix: str) -> tuple[bytes, bytes]:
    """The ``ZRANGEBYLEX`` bounds of the keys that start with ``prefix``.

    Keys are UTF-8, where the byte 0xFF never occurs: every key under ``prefix`` sorts
    before ``prefix`` followed by that byte.
    """
    if not prefix:
        return b"-", b"+"
    raw = prefix.encode("utf-8", "surrogatepass")
    return b"[" + raw, b"[" + raw + b"\xff"


def _time(mt: bytes) -> datetime:
    micros = int(mt)
    return datetime.fromtimestamp(micros // 1_000_000, _UTC).replace(microsecond=micros % 1_000_000)


def _file(key: str, fields: builtins.list[Any]) -> StoredFile:
    size, etag, ctype, mt, meta = fields
    metadata = json.loads(meta) if meta else EMPTY_METADATA
    return StoredFile(key, int(size), ctype.decode(), etag.decode(), _time(mt), metadata)


def _files(items: builtins.list[Any], first: int) -> builtins.list[StoredFile]:
    """The files of a listing reply: 6 items each (key, size, etag, ct, mt, meta) from ``first``."""
    out = []
    for i in range(first, len(items), 6):
        out.append(_file(items[i].decode(), items[i + 1 : i + 6]))
    return out
