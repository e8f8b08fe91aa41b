"""The async in-memory storage: :class:`MemoryConfig` and :class:`MemoryStorage`."""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from memstore._concurrency import checkpoint, offload
from memstore._engine import Data, Engine, Reservation
from memstore._keys import validate_key
from memstore.base import BaseStorage, PutData
from memstore.exceptions import ConfigurationError, StorageClosedError
from memstore.types import (
    EMPTY_METADATA,
    LAZY_ETAG_LIMIT,
    PrefixUsage,
    StorageEvent,
    StorageUsage,
    StoredFile,
    new_lazy_file,
    new_stored_file,
)

if TYPE_CHECKING:
    from memstore.notebook import StorageBrowser

__all__ = ["MemoryConfig", "MemoryStorage"]

_UTC = timezone.utc
_md5 = hashlib.md5
_ENCODING_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}
_DEFAULT_TYPE = "application/octet-stream"
_content_types: dict[str, str] = {}  # raw extension (".CSV", ".gz" ...) -> type


def guess_content_type(key: str) -> str:
    """Guess a MIME type from the extension of ``key`` (``application/octet-stream`` if unknown)."""
    dot = key.rfind(".")
    if dot < 0:
        return _DEFAULT_TYPE
    ext = key[dot:]
    found = _content_types.get(ext)
    if found is None:
        if "/" in ext:  # the dot is in a folder name: no extension
            return _DEFAULT_TYPE
        ctype, encoding = mimetypes.guess_type("file" + ext.lower())
        found = ctype or _ENCODING_TYPES.get(encoding or "", _DEFAULT_TYPE)
        if len(_content_types) < 10_000:
            _content_types[ext] = found
    return found


def _etag(data: bytes) -> str:
    return f'"{_md5(data, usedforsecurity=False).hexdigest()}"'


def _check_int(name: str, value: object, minimum: int) -> int:
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, not {type(value).__name__} ({value!r:.40})")
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """Configuration of a :class:`MemoryStorage`.

    Attributes:
        max_size: Maximum total bytes stored (``None`` for unlimited). Overwriting a
            key counts only the difference in size; copies count in full.
        chunk_size: Size of the chunks ``get`` yields for large files, and the size
            small chunks of a streamed ``put`` are gathered into.
        offload_threshold: Payloads (or stream chunks) at least this large are hashed
            and copied in a worker thread, so the event loop never stalls on them.

    Raises:
        TypeError: If a value is not an ``int`` (``max_size`` may also be ``None``).
        ConfigurationError: If a value is out of range (a ``ValueError``).
    """

    max_size: int | None = None
    chunk_size: int = 64 * 1024
    offload_threshold: int = 1024 * 1024

    def __post_init__(self) -> None:
        """Validate the settings."""
        if self.max_size is not None:
            _check_int("max_size", self.max_size, 0)
        _check_int("chunk_size", self.chunk_size, 1)
        _check_int("offload_threshold", self.offload_threshold, 0)


def _freeze_metadata(metadata: object) -> Mapping[str, str]:
    if metadata is None:
        return EMPTY_METADATA
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict[str, str] or None, not {type(metadata).__name__}")
    if not metadata:
        return EMPTY_METADATA
    copy = dict(metadata)
    for k, v in copy.items():
        if type(k) is not str or type(v) is not str:
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(
                    f"metadata must map str to str; got {type(k).__name__} {k!r:.40} -> "
                    f"{type(v).__name__} {v!r:.40}"
                )
            # str subclasses (enums): keep their plain values, then check the rest again
            plain = {
                (str.__str__(a) if isinstance(a, str) else a): (str.__str__(b) if isinstance(b, str) else b)
                for a, b in copy.items()
            }
            return _freeze_metadata(plain)
    return MappingProxyType(copy)


_COPY_SLICE = 1024 * 1024


def _copy_and_hash(data: bytearray | memoryview) -> tuple[Data, str]:
    """Copy a large mutable buffer into immutable 1 MiB parts and hash them (in a worker thread).

    Copying a buffer holds the GIL for the whole copy; slicing it lets the event loop's
    thread take the GIL between parts, so the loop keeps running.
    """
    view = memoryview(data)
    if not view.c_contiguous:
        whole = view.tobytes()
        return whole, _etag(whole)
    view = view.cast("B")
    hasher = _md5(usedforsecurity=False)
    parts: list[bytes] = []
    for start in range(0, len(view), _COPY_SLICE):
        part = view[start : start + _COPY_SLICE].tobytes()
        hasher.update(part)
        parts.append(part)
    data_out: Data = parts[0] if len(parts) == 1 else tuple(parts)  # () for an empty buffer
    return (data_out or b""), f'"{hasher.hexdigest()}"'


class MemoryStorage(BaseStorage):
    """An object storage that keeps files in process memory.

    Files are kept in key order with an exact quota ledger; every write happens in one
    atomic step after all its awaiting is done, so an error or a cancellation never
    leaves a half-written file or a wrong byte count. It is safe to use from several
    event loops and threads at once.

    Example:
        >>> storage = MemoryStorage()
        >>> await storage.put("test.txt", b"hello world")
        StoredFile(key='test.txt', size=11, ...)
        >>> assert await storage.exists("test.txt")
        >>> await storage.get_bytes("test.txt")
        b'hello world'

    Args:
        config: Limits and tuning (:class:`MemoryConfig`); defaults to no limit.

    Raises:
        TypeError: If ``config`` is not a :class:`MemoryConfig` or ``None``.
    """

    def __init__(self, config: MemoryConfig | None = None) -> None:
        """Create an empty storage."""
        if config is None:
            config = MemoryConfig()
        elif not isinstance(config, MemoryConfig):
            raise TypeError(f"config must be a MemoryConfig or None, not {type(config).__name__}")
        self.config = config
        self._engine = Engine(config.max_size)
        self._chunk_size = config.chunk_size
        self._offload_at = config.offload_threshold

    def __repr__(self) -> str:
        """``MemoryStorage(files=3, used_bytes=1024, max_size=None)``."""
        if self._engine.closed:
            return "MemoryStorage(closed)"
        u = self._engine.usage()
        return f"MemoryStorage(files={u.file_count}, used_bytes={u.used_bytes}, max_size={u.max_size})"

    def _repr_html_(self) -> str:
        """An HTML summary for notebooks: totals, quota and the first files (escaped)."""
        from memstore._html import storage_html

        if self._engine.closed:
            return "<div class='memstore-storage'><b>MemoryStorage</b> (closed)</div>"
        files = self._engine.list_page("", None, 10)
        return storage_html("MemoryStorage", self._engine.usage(), files, len(files))

    def _check_open(self) -> None:
        if self._engine.closed:
            raise StorageClosedError("this MemoryStorage is closed")

    @property
    def _live(self) -> Engine:
        engine = self._engine
        if engine.closed:
            raise StorageClosedError("this MemoryStorage is closed")
        return engine

    # ------------------------------------------------------------------ writes
    async def put(
        self,
        key: str,
        data: PutData,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> StoredFile:
        """Store data at the given key, replacing any file there.

        Args:
            key: Storage path/key for the file.
            data: File contents as ``bytes``/``bytearray``/``memoryview`` or an async
                iterable of bytes-like chunks. Mutable inputs are copied once. The sync
                facade also takes any iterable of bytes and binary file objects.
            content_type: MIME type; guessed from the key's extension when ``None``.
            metadata: Additional ``str`` to ``str`` metadata to store with the file.

        Returns:
            StoredFile with metadata about the stored file.

        Raises:
            StorageQuotaExceededError: If ``max_size`` would be exceeded (nothing is stored).
            InvalidKeyError: If ``key`` is not a valid key.
            TypeError: If an argument has the wrong type.
            StorageClosedError: If the storage is closed.
        """
        engine = self._engine
        if engine.closed:
            raise StorageClosedError("this MemoryStorage is closed")
        key = validate_key(key)
        if content_type is None:
            content_type = guess_content_type(key)
        elif type(content_type) is not str:
            if not isinstance(content_type, str):
                raise TypeError(f"content_type must be a str or None, not {type(content_type).__name__}")
            content_type = str.__str__(content_type)  # a str subclass (enum): its plain value
        meta = EMPTY_METADATA if metadata is None else _freeze_metadata(metadata)
        if type(data) is bytes:
            payload = data
        elif isinstance(data, (bytes, bytearray, memoryview)):
            # The view pins a bytearray's size while we measure and copy it.
            with memoryview(data) as view:
                size = view.nbytes
                engine.check_fits(key, size)
                if size >= self._offload_at and not isinstance(data, bytes):
                    parts, etag = await offload(_copy_and_hash, view)
                    file = StoredFile(key, size, content_type, etag, datetime.now(_UTC), meta)
                    return engine.commit_put(file, parts)
                payload = view.tobytes()
        elif hasattr(data, "__aiter__"):
            return await self._put_stream(engine, key, data, content_type, meta)
        else:
            raise TypeError(
                "data must be bytes, bytearray, memoryview or an async iterable of bytes, "
                f"not {type(data).__name__}"
            )
        size = len(payload)
        if size <= LAZY_ETAG_LIMIT:  # hashed when the ETag is first read, if ever
            file = new_lazy_file(key, size, content_type, payload, datetime.now(_UTC), meta)
        else:
            engine.check_fits(key, size)
            if size >= self._offload_at:
                etag = await offload(_etag, payload)
            else:
                etag = _etag(payload)
            file = new_stored_file(key, size, content_type, etag, datetime.now(_UTC), meta)
        return engine.commit_put(file, payload)

    async def _put_stream(
        self,
        engine: Engine,
        key: str,
        stream: Any,
        content_type: str,
        meta: Mapping[str, str],
    ) -> StoredFile:
        chunk_size = self._chunk_size
        offload_at = self._offload_at
        hasher = _md5(usedforsecurity=False)
        chunks: list[bytes] = []  # kept as received (no join: one copy of the payload)
        pending: list[bytes] = []  # small chunks waiting to be gathered into one
        pending_len = 0
        since_checkpoint = 0
        res: Reservation = engine.reservation(key)
        done = False
        try:
            async for chunk in stream:
                if type(chunk) is not bytes:
                    if not isinstance(chunk, (bytes, bytearray, memoryview)):
                        raise TypeError(
                            f"the stream for {key!r:.60} must yield bytes-like chunks, "
                            f"not {type(chunk).__name__}"
                        )
                    with memoryview(chunk) as view:  # pins a bytearray's size while it is copied
                        size = view.nbytes
                        engine.reserve(res, size)
                        chunk = await offload(view.tobytes) if size >= offload_at else view.tobytes()
                else:
                    engine.reserve(res, len(chunk))
                n = len(chunk)
                if not n:
                    continue
                if n >= offload_at:
                    await offload(hasher.update, chunk)
                else:
                    hasher.update(chunk)
                    since_checkpoint += n
                    if since_checkpoint >= offload_at:
                        since_checkpoint = 0
                        await checkpoint()
                if n >= chunk_size:
                    if pending:
                        chunks.append(b"".join(pending))
                        pending, pending_len = [], 0
                    chunks.append(chunk)
                else:
                    pending.append(chunk)
                    pending_len += n
                    if pending_len >= chunk_size:
                        chunks.append(b"".join(pending))
                        pending, pending_len = [], 0
            if pending:
                chunks.append(b"".join(pending))
            data: Data = chunks[0] if len(chunks) == 1 else (tuple(chunks) if chunks else b"")
            size = res.received
            etag = f'"{hasher.hexdigest()}"'
            file = new_stored_file(key, size, content_type, etag, datetime.now(_UTC), meta)
            result = engine.commit_put(file, data, res)
            done = True
            return result
        finally:
            engine.release(res)
            if not done:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):  # the original error matters more
                        await aclose()

    async def delete(self, key: str) -> None:
        """Delete a file.

        Args:
            key: Storage path/key for the file.

        Raises:
            StorageFileNotFoundError: If the file does not exist.
            InvalidKeyError: If ``key`` is not a valid key.
        """
        self._live.delete(validate_key(key))

    async def copy(self, source: str, destination: str) -> StoredFile:
        """Copy a file within the storage (the copy counts against the quota).

        Args:
            source: Source key to copy from.
            destination: Destination key to copy to (replaced if it exists).

        Returns:
            StoredFile metadata for the new copy.

        Raises:
            StorageFileNotFoundError: If the source file does not exist.
            StorageQuotaExceededError: If the copy does not fit (nothing changes).
            InvalidKeyError: If a key is not valid.
        """
        source = validate_key(source, "source")
        destination = validate_key(destination, "destination")
        return self._live.transfer(source, destination, remove_source=False)

    async def move(self, source: str, destination: str) -> StoredFile:
        """Move/rename a file within the storage, in one atomic step.

        Args:
            source: Source key to move from.
            destination: Destination key to move to (replaced if it exists).

        Returns:
            StoredFile metadata for the moved file.

        Raises:
            StorageFileNotFoundError: If the source file does not exist.
            InvalidKeyError: If a key is not valid.
        """
        source = validate_key(source, "source")
        destination = validate_key(destination, "destination")
        return self._live.transfer(source, destination, remove_source=True)

    async def clear(self) -> None:
        """Delete every file (one ``"clear"`` event)."""
        self._live.clear()

    # ------------------------------------------------------------------- reads
    async def get(self, key: str) -> AsyncIterator[bytes]:
        """Retrieve file contents as a stream of ``bytes`` chunks.

        Args:
            key: Storage path/key for the file.

        Yields:
            The contents in chunks of ``bytes``, one chunk for small files and chunks of
            ``MemoryConfig.chunk_size`` bytes (the last one shorter) for large ones.

        Raises:
            StorageFileNotFoundError: If the file does not exist.
            InvalidKeyError: If ``key`` is not a valid key.
        """
        data = self._live.entry(validate_key(key)).data
        step = self._chunk_size
        if isinstance(data, bytes) and len(data) <= step:
            yield data
            return
        # Cut the stored parts (a streamed put keeps them as received) into chunks of
        # exactly ``step`` bytes, only the last one shorter.
        carry = b""
        parts: tuple[bytes, ...] = (data,) if isinstance(data, bytes) else data
        for part in parts:
            if not carry and len(part) == step:
                yield part
                continue
            view = memoryview(part)
            start = 0
            if carry:
                start = step - len(carry)
                carry += view[:start].tobytes()
                if len(carry) < step:
                    continue
                yield carry
                carry = b""
            end = len(part)
            while end - start >= step:
                yield view[start : start + step].tobytes()
                start += step
            if start < end:
                carry = view[start:].tobytes()
        if carry:
            yield carry

    async def get_bytes(self, key: str) -> bytes:
        """Retrieve entire file contents as bytes.

        Args:
            key: Storage path/key for the file.

        Returns:
            Complete file contents as bytes.

        Raises:
            StorageFileNotFoundError: If the file does not exist.
            InvalidKeyError: If ``key`` is not a valid key.
        """
        entry = self._engine.find(key)  # a stored key was validated when it was put
        data = (entry or self._live.entry(validate_key(key))).data
        if isinstance(data, bytes):
            return data
        if sum(map(len, data)) >= self._offload_at:
            return await offload(b"".join, data)
        return b"".join(data)

    async def exists(self, key: str) -> bool:
        """Check if a file exists.

        Args:
            key: Storage path/key for the file.

        Returns:
            True if the file exists, False otherwise.

        Raises:
            InvalidKeyError: If ``key`` is not a valid key.
        """
        if self._engine.find(key) is not None:
            return True
        return self._live.contains(validate_key(key))

    async def info(self, key: str) -> StoredFile:
        """Get metadata about a file without reading it.

        Args:
            key: Storage path/key for the file.

        Returns:
            StoredFile with metadata.

        Raises:
            StorageFileNotFoundError: If the file does not exist.
            InvalidKeyError: If ``key`` is not a valid key.
        """
        entry = self._engine.find(key)
        return (entry or self._live.entry(validate_key(key))).file

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
        """
        if type(prefix) is not str:
            raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
        if limit is not None:
            if type(limit) is not int:
                raise TypeError(f"limit must be an int or None, not {type(limit).__name__}")
            if limit < 0:
                raise ValueError(f"limit must be >= 0, got {limit}")
        engine = self._live
        remaining = limit
        after: str | None = None
        while remaining is None or remaining > 0:
            count = 256 if remaining is None else min(256, remaining)
            page = engine.list_page(prefix, after, count)
            for file in page:
                yield file
            if len(page) < count:
                return
            after = page[-1].key
            if remaining is not None:
                remaining -= len(page)

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
        """
        key = validate_key(key)
        if expires_in is not None and not isinstance(expires_in, timedelta):
            raise TypeError(f"expires_in must be a timedelta or None, not {type(expires_in).__name__}")
        self._check_open()
        return f"memory://{key}"

    # ----------------------------------------------------- beyond the spec
    @property
    def usage(self) -> StorageUsage:
        """File count, bytes used and the limit, as one consistent snapshot (O(1))."""
        return self._live.usage()

    def prefix_usage(self) -> Sequence[PrefixUsage]:
        """Usage per top-level prefix ("folder"), largest first.

        Kept up to date on every write, so this costs O(number of prefixes), not a scan.
        """
        return self._live.prefix_usage()

    def subscribe(self, callback: Callable[[StorageEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after every change to the storage.

        The callback runs in whatever thread made the change, after the change is
        complete and outside the storage's lock; exceptions it raises are logged and
        ignored. Returns a function that unsubscribes (safe to call twice).

        Events from changes made in different threads at the same moment may arrive in
        either order: to mirror the storage, re-read it (``event.file``, ``usage``,
        ``info``) rather than replaying events. A put of an async stream through
        :class:`~memstore.SyncMemoryStorage` commits on memstore's portal thread, so its
        event is delivered there: read ``event.file`` and synchronous members there, not
        the facade's blocking methods. ``close()`` sends one last ``"close"`` event.

        Raises:
            TypeError: If ``callback`` is not callable.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        return self._live.subscribe(callback)

    def browse(self, *, page_size: int = 50) -> StorageBrowser:
        """Open a live :class:`memstore.notebook.StorageBrowser` on this storage (needs ipywidgets)."""
        from memstore.notebook import StorageBrowser

        return StorageBrowser(self, page_size=page_size)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._engine.closed

    async def close(self) -> None:
        """Drop all contents and refuse further use (idempotent)."""
        self._engine.close()
