"""Backend-neutral, synchronous helpers that both faces of every backend import.

Nothing here does I/O, awaits or knows a backend: argument checks, input
normalisation, content types, metadata, ETags, the stream writer of a streamed put
(feed, then finish; the backend commits or aborts), the chunking of stored parts, and
the iteration of synchronous inputs (iterables and binary files).

``ASYNC`` marks code that differs between the two faces: the async source writes
``if ASYNC: ... else: ...`` and ``tools/async_to_sync.py`` keeps only the ``else``
branch in the generated synchronous file (``if not ASYNC:`` blocks exist only there).
See docs/guides/design.md, "One async→sync path".
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import hashlib
import mimetypes
import os
import re
import sys
from bisect import bisect_right
from collections.abc import AsyncIterable, Callable, Generator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, TypeGuard, runtime_checkable

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12
elif sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:  # pragma: no cover - Python < 3.12: the alias only documents what is accepted
    Buffer = bytes | bytearray | memoryview

from memstore.exceptions import ConfigurationError, StorageClosedError
from memstore.types import EMPTY_METADATA, FrozenMetadata, StoredFile

__all__ = [
    "ASYNC",
    "BinaryReader",
    "BytesLike",
    "Data",
    "PageOrder",
    "PutData",
    "StreamWriter",
    "SyncPutData",
    "buffer_view",
    "check_bound",
    "check_conditions",
    "check_etag",
    "check_expires_in",
    "check_folder_prefix",
    "check_int",
    "check_limit",
    "check_offset",
    "check_order",
    "check_overwrite",
    "check_ranges",
    "check_prefix",
    "chunks_of",
    "close_quietly",
    "closed_error",
    "unexpected_keywords",
    "content_type_for",
    "copy_and_hash",
    "dir_listing",
    "etag_of",
    "freeze_metadata",
    "glob_matcher",
    "guess_content_type",
    "is_async_iterable",
    "iter_chunks",
    "join",
    "modified_of",
    "paced",
    "range_chunks",
    "resolve_range",
    "slice_data",
    "size_of",
]

ASYNC = True
"""True in the async source; the generator keeps the ``else`` branch of ``if ASYNC:``."""

BytesLike = bytes | bytearray | memoryview
"""A bytes-like value. ``put`` also takes any other C-contiguous buffer (``array.array``,
a NumPy array, ``mmap``); mutable ones are copied once."""


@runtime_checkable
class BinaryReader(Protocol):
    """Anything with a ``read(size)`` method returning bytes: an open binary file, BytesIO ..."""

    def read(self, size: int = -1, /) -> bytes:
        """Read up to ``size`` bytes (``b""`` at the end)."""
        ...


PutData = Buffer | AsyncIterable[BytesLike] | IO[bytes] | BinaryReader
"""What the async ``put`` accepts: bytes-like data (any C-contiguous buffer), an async
iterable of bytes-like chunks, or a blocking binary file object."""


SyncPutData = Buffer | Iterable[BytesLike] | IO[bytes] | BinaryReader | AsyncIterable[BytesLike]
"""What the sync ``put`` accepts: bytes-like data, any iterable of bytes chunks (a
generator, a list), a blocking binary file object, or an async iterable of bytes (run on
memstore's blocking portal)."""

Data = bytes | tuple[bytes, ...]
"""Stored contents: one immutable ``bytes`` or a tuple of immutable parts."""

_md5 = hashlib.md5
_DEFAULT_TYPE = "application/octet-stream"
_ENCODING_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}
_content_types: dict[str, str] = {}  # raw extension (".CSV", ".gz" ...) -> type
_COPY_SLICE = 1024 * 1024


# ------------------------------------------------------------------ arguments
def closed_error(storage: object) -> StorageClosedError:
    """The one error every face raises once closed, naming the class the caller holds."""
    return StorageClosedError(f"this {type(storage).__name__} is closed")


def check_int(name: str, value: object, minimum: int, maximum: int) -> int:
    """``value`` if it is an ``int`` in ``[minimum, maximum]``.

    Raises:
        TypeError: If it is not an ``int`` (``bool`` included).
        ConfigurationError: If it is out of range (a ``ValueError``).
    """
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, not {type(value).__name__} ({value!r:.40})")
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
    if value > maximum:
        shown = f"{value:,}" if value < 10**30 else f"a {value.bit_length()}-bit number"
        raise ConfigurationError(f"{name} must be <= {maximum:,}, got {shown}")
    return value


def check_prefix(prefix: object) -> str:
    """``prefix`` as a plain ``str`` (str subclasses such as str enums by their value)."""
    if type(prefix) is str:
        return prefix
    if isinstance(prefix, str):
        return str.__str__(prefix)
    raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")


def check_limit(limit: object) -> int | None:
    """``limit`` if it is ``None`` or an ``int`` >= 0."""
    if limit is None:
        return None
    if type(limit) is not int:
        raise TypeError(f"limit must be an int or None, not {type(limit).__name__}")
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return limit


def check_offset(offset: object) -> int:
    """``offset`` if it is an ``int`` >= 0."""
    if type(offset) is not int:
        raise TypeError(f"offset must be an int, not {type(offset).__name__}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    return offset


PageOrder = Literal["key", "newest"]
"""The order of ``list_page``: key order, or the most recently modified first."""

_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def check_order(order: object) -> PageOrder:
    """``order`` if it is ``"key"`` or ``"newest"``."""
    if order == "key" or order == "newest":
        return order
    raise ValueError(f"order must be 'key' or 'newest', not {order!r:.40}")


def modified_of(file: StoredFile) -> datetime:
    """The sort key of "newest first" (with ``reverse=True``): unknown times sort last."""
    return file.last_modified or _EPOCH


def check_expires_in(expires_in: object) -> None:
    """Refuse anything but a ``timedelta`` or ``None``."""
    if expires_in is not None and not isinstance(expires_in, timedelta):
        raise TypeError(f"expires_in must be a timedelta or None, not {type(expires_in).__name__}")


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


def content_type_for(key: str, content_type: object) -> str:
    """The content type to store: ``content_type`` as a plain ``str``, or guessed from ``key``."""
    if content_type is None:
        return guess_content_type(key)
    if type(content_type) is str:
        return content_type
    if isinstance(content_type, str):
        return str.__str__(content_type)  # a str subclass (enum): its plain value
    raise TypeError(f"content_type must be a str or None, not {type(content_type).__name__}")


def freeze_metadata(metadata: object) -> Mapping[str, str]:
    """A read-only private copy of ``metadata`` (``str`` to ``str``; ``None`` gives an empty one)."""
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
            return freeze_metadata(plain)
    return FrozenMetadata(copy)


# -------------------------------------------------------------------- ranges
def check_bound(name: str, value: object) -> int | None:
    """A range bound: ``None`` or an ``int`` (``bool`` refused), negative ones from the end."""
    if value is None or type(value) is int:
        return value
    raise TypeError(f"{name} must be an int or None, not {type(value).__name__} ({value!r:.40})")


def resolve_range(size: int, start: int | None, end: int | None) -> tuple[int, int]:
    """``(lo, hi)`` such that ``data[lo:hi] == data[start:end]`` for ``size`` bytes of data.

    Python slice semantics: a negative bound counts from the end, bounds out of range
    clamp, and an empty range has ``lo == hi``.
    """
    lo, hi, _ = slice(start, end).indices(size)
    return lo, max(lo, hi)


def check_ranges(ranges: object) -> list[tuple[int | None, int | None]]:
    """``ranges`` as a list of ``(start, end)`` pairs of ints (or ``None``)."""
    if isinstance(ranges, (str, bytes, Mapping)) or not isinstance(ranges, Iterable):
        raise TypeError(f"ranges must be a sequence of (start, end) pairs, not {type(ranges).__name__}")
    out: list[tuple[int | None, int | None]] = []
    for i, pair in enumerate(ranges):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"ranges[{i}] must be a (start, end) pair, not {pair!r:.40}")
        out.append((check_bound(f"ranges[{i}] start", pair[0]), check_bound(f"ranges[{i}] end", pair[1])))
    return out


def slice_data(data: Data, lo: int, hi: int, ends: Sequence[int] | None = None) -> list[bytes]:
    """The bytes ``lo`` to ``hi`` of stored contents, copying only the parts they touch.

    ``ends`` (where each part ends, cumulated) lets a range find its first part by
    bisection: reading 1 KiB from the middle of 1,024 parts touches one or two.
    """
    if hi <= lo:
        return []
    if isinstance(data, bytes):
        return [data if (lo == 0 and hi == len(data)) else data[lo:hi]]
    out: list[bytes] = []
    first = bisect_right(ends, lo) if ends is not None else 0
    offset = ends[first - 1] if ends is not None and first else 0
    for i in range(first, len(data)):
        part = data[i]
        end = offset + len(part)
        if end > lo:
            if offset >= hi:
                break
            a, b = max(lo - offset, 0), min(hi - offset, len(part))
            out.append(part if (a == 0 and b == len(part)) else part[a:b])
        offset = end
    return out


def range_chunks(
    data: Data, lo: int, hi: int, step: int, ends: Sequence[int] | None = None
) -> Iterator[bytes]:
    """The bytes ``lo`` to ``hi`` of stored contents in chunks of ``step`` bytes (the last shorter)."""
    if lo == 0 and hi >= size_of(data):
        yield from chunks_of(data, step)
        return
    pieces = slice_data(data, lo, hi, ends)
    yield from chunks_of(pieces[0] if len(pieces) == 1 else tuple(pieces), step) if pieces else iter(())


# ------------------------------------------------------------- conditional writes
def check_conditions(if_none_match: object, if_match: object) -> tuple[bool, str | None]:
    """``(create_only, etag)`` from a write's S3 conditions.

    Raises:
        ValueError: If ``if_none_match`` is not ``"*"`` or ``None``, or both are given.
        TypeError: If ``if_match`` is not a ``str``.
    """
    if if_none_match is not None and if_none_match != "*":
        raise ValueError(f"if_none_match must be '*' or None, not {if_none_match!r:.40}")
    etag = check_etag("if_match", if_match)
    if if_none_match is not None and etag is not None:
        raise ValueError("give if_none_match or if_match, not both")
    return if_none_match is not None, etag


def check_etag(name: str, etag: object) -> str | None:
    """``etag`` (quoted as S3 reports it) if it is a non-empty ``str``, or ``None``."""
    if etag is None:
        return None
    if not isinstance(etag, str):
        raise TypeError(f"{name} must be an ETag str or None, not {type(etag).__name__} ({etag!r:.40})")
    if not etag.strip('"'):
        raise ValueError(f"{name} must be a non-empty ETag, got {etag!r}")
    return etag if etag.startswith('"') else f'"{etag}"'


def check_overwrite(overwrite: object) -> bool:
    """``overwrite`` if it is a ``bool``."""
    if type(overwrite) is not bool:
        raise TypeError(f"overwrite must be a bool, not {type(overwrite).__name__}")
    return overwrite


# --------------------------------------------------------------------- folders
def check_folder_prefix(prefix: object) -> str:
    """A ``delete_prefix`` prefix: a non-empty ``str`` (``""`` would delete everything)."""
    prefix = check_prefix(prefix)
    if not prefix:
        raise ValueError("delete_prefix('') would delete every file: call clear() to do that")
    return prefix


def dir_listing(prefix: str, files: Iterable[StoredFile]) -> tuple[list[str], list[StoredFile]]:
    """Group ``files`` (all under ``prefix``, in key order) into sub-folders and direct files."""
    prefixes: list[str] = []
    direct: list[StoredFile] = []
    n = len(prefix)
    for file in files:
        slash = file.key.find("/", n)
        if slash < 0:
            direct.append(file)
        else:
            folder = file.key[: slash + 1]
            if not prefixes or prefixes[-1] != folder:
                prefixes.append(folder)
    return prefixes, direct


def glob_matcher(pattern: object) -> tuple[str, Callable[[str], bool]]:
    """``(literal_prefix, match)`` for a glob over keys.

    ``*``, ``?`` and ``[...]`` (``[!...]`` negates) never match ``/``; ``**`` matches
    across any number of segments, and ``**/`` also matches no folder at all. Every key
    that matches starts with the literal prefix (the text before the first wildcard).

    Raises:
        TypeError: If ``pattern`` is not a ``str``.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str, not {type(pattern).__name__}")
    pattern = str.__str__(pattern)
    out: list[str] = []
    literal: list[str] = []
    in_literal = True
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            in_literal = False
            if pattern.startswith("**", i):
                if pattern.startswith("**/", i):
                    out.append("(?:.*/)?")
                    i += 3
                else:
                    out.append(".*")
                    i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            in_literal = False
            out.append("[^/]")
        elif c == "[" and (close := _class_end(pattern, i)) > 0:
            in_literal = False
            body = pattern[i + 1 : close]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"(?!/)[{'^' if negate else ''}{body}]")
            i = close
        else:
            if in_literal:
                literal.append(c)
            out.append(re.escape(c))
        i += 1
    regex = re.compile("".join(out), re.DOTALL)

    def match(key: str) -> bool:
        return regex.fullmatch(key) is not None

    return "".join(literal), match


def _class_end(pattern: str, start: int) -> int:
    """The index of the ``]`` closing the class opened at ``start``, or -1."""
    j = start + 1
    if j < len(pattern) and pattern[j] == "!":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    return pattern.find("]", j)


# --------------------------------------------------------------------- contents
def etag_of(data: bytes) -> str:
    """The ETag of ``data``: its quoted MD5 hex digest, as S3 reports it."""
    return f'"{_md5(data, usedforsecurity=False).hexdigest()}"'


def buffer_view(data: object) -> memoryview | None:
    """A flat byte view of ``data`` if it supports the buffer protocol, else ``None``.

    The view pins a ``bytearray``'s size while the caller measures and copies it; the
    caller releases it (``with view:``).

    Raises:
        TypeError: For ``str`` (encode it first).
    """
    if isinstance(data, str):
        raise TypeError("data must be bytes, not str: encode it first, e.g. text.encode('utf-8')")
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        return None
    if view.c_contiguous and view.format != "B":
        with view:
            return view.cast("B")
    return view


def copy_and_hash(view: memoryview) -> tuple[Data, str]:
    """Copy a large buffer into immutable 1 MiB parts and hash them (meant for a worker thread).

    Copying a buffer holds the GIL for the whole copy; copying it in slices lets the
    event loop's thread take the GIL between parts, so the loop keeps running.
    """
    if not view.c_contiguous:
        whole = view.tobytes()
        return whole, etag_of(whole)
    hasher = _md5(usedforsecurity=False)
    parts: list[bytes] = []
    for start in range(0, view.nbytes, _COPY_SLICE):
        part = view[start : start + _COPY_SLICE].tobytes()
        hasher.update(part)
        parts.append(part)
    data: Data = parts[0] if len(parts) == 1 else tuple(parts)  # () for an empty buffer
    return (data or b""), f'"{hasher.hexdigest()}"'


def join(data: Data | Sequence[bytes]) -> bytes:
    """The stored parts as one ``bytes`` object.

    ``b"".join`` copies while holding the GIL: joining 1 GiB in a worker thread still
    stopped the event loop for 80 ms here. From :data:`_RELEASED_JOIN` bytes on, the
    copy is made with the GIL released instead (see :func:`_join_released`).
    """
    if isinstance(data, bytes):
        return data
    if _NEW_BYTES is not None and sum(map(len, data)) >= _RELEASED_JOIN:
        return _join_released(data)
    return b"".join(data)


_RELEASED_JOIN = 8 << 20


def _new_bytes_function() -> Any:
    """CPython's ``PyBytes_FromStringAndSize``, or None where it is not available."""
    if sys.implementation.name != "cpython":  # pragma: no cover - CPython is what memstore supports
        return None
    function = ctypes.pythonapi.PyBytes_FromStringAndSize
    function.restype = ctypes.py_object
    function.argtypes = (ctypes.c_char_p, ctypes.c_ssize_t)
    return function


_NEW_BYTES = _new_bytes_function()


def _join_released(parts: Sequence[bytes]) -> bytes:
    """Join ``parts`` into a new ``bytes`` object, copying with the GIL released.

    The new object is allocated uninitialised (as CPython's own ``bytes.join`` does) and
    filled by ``ctypes.memmove``, a foreign call during which ctypes releases the GIL, so
    the event loop thread runs while the copy is made. Nobody else can see the object
    before it is returned.
    """
    total = sum(map(len, parts))
    out: bytes = _NEW_BYTES(None, total)
    address = ctypes.cast(ctypes.c_char_p(out), ctypes.c_void_p).value
    assert address is not None
    offset = 0
    for part in parts:
        ctypes.memmove(address + offset, part, len(part))
        offset += len(part)
    return out


def size_of(data: Data) -> int:
    """The number of bytes in the stored parts."""
    return len(data) if isinstance(data, bytes) else sum(map(len, data))


def chunks_of(data: Data, step: int) -> Iterator[bytes]:
    """The stored parts cut into chunks of exactly ``step`` bytes (the last one shorter).

    A small file is one chunk; a streamed put keeps its parts as received, so they are
    re-cut here.
    """
    if isinstance(data, bytes) and len(data) <= step:
        yield data
        return
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


# ---------------------------------------------------------------------- streams
class StreamWriter:
    """Gathers the chunks of a streamed put: checks each one, reserves, copies and hashes it.

    The shell feeds chunks (:meth:`feed`, in a worker thread for a big one, which
    :meth:`measure` tells), then :meth:`finish` gives the contents, size and ETag for the
    backend's single commit step. ``reserve(nbytes)`` is the backend's quota hook: it
    raises when ``nbytes`` more do not fit, and nothing is stored then.
    """

    __slots__ = ("_chunk_size", "_chunks", "_hasher", "_pending", "_pending_len", "_since", "key", "reserve")

    def __init__(self, key: str, chunk_size: int, reserve: Callable[[int], None]) -> None:
        """Start a stream for ``key``, gathering small chunks into parts of ``chunk_size`` bytes."""
        self.key = key
        self.reserve = reserve
        self._chunk_size = chunk_size
        self._hasher = _md5(usedforsecurity=False)
        self._chunks: list[bytes] = []  # kept as received (no join: one copy of the payload)
        self._pending: list[bytes] = []  # small chunks waiting to be gathered into one part
        self._pending_len = 0
        self._since = 0  # bytes taken since the last checkpoint

    def measure(self, chunk: object) -> int:
        """The size of ``chunk`` in bytes, after checking it is bytes-like."""
        if type(chunk) is bytes:
            return len(chunk)
        if isinstance(chunk, (bytearray, memoryview, bytes)):
            return memoryview(chunk).nbytes
        raise TypeError(
            f"the stream for {self.key!r:.60} must yield bytes-like chunks, not {type(chunk).__name__}"
        )

    def feed(self, chunk: BytesLike) -> None:
        """Check ``chunk``, reserve quota for it, then copy (if mutable) and hash it."""
        if type(chunk) is bytes:
            self.reserve(len(chunk))
            data = chunk
        else:
            self.measure(chunk)
            with memoryview(chunk) as view:  # pins a bytearray's size while it is copied
                self.reserve(view.nbytes)
                data = view.tobytes()
        n = len(data)
        if not n:
            return
        self._hasher.update(data)
        self._since += n
        if n >= self._chunk_size:
            if self._pending:
                self._chunks.append(b"".join(self._pending))
                self._pending, self._pending_len = [], 0
            self._chunks.append(data)
        else:
            self._pending.append(data)
            self._pending_len += n
            if self._pending_len >= self._chunk_size:
                self._chunks.append(b"".join(self._pending))
                self._pending, self._pending_len = [], 0

    def checkpoint_due(self, every: int) -> bool:
        """Whether ``every`` bytes were taken since the last time this said so."""
        if self._since >= every:
            self._since = 0
            return True
        return False

    def finish(self) -> tuple[Data, int, str]:
        """The gathered contents, their size and their ETag."""
        if self._pending:
            self._chunks.append(b"".join(self._pending))
            self._pending, self._pending_len = [], 0
        chunks = self._chunks
        data: Data = chunks[0] if len(chunks) == 1 else (tuple(chunks) if chunks else b"")
        return data, size_of(data), f'"{self._hasher.hexdigest()}"'


def is_async_iterable(data: object) -> TypeGuard[AsyncIterable[Any]]:
    """Whether ``data`` is an async iterable (which only an event loop can consume)."""
    return hasattr(type(data), "__aiter__")


def iter_chunks(data: object, chunk_size: int) -> Iterator[Any]:
    """``data`` as the stream of chunks the sync ``put`` reads: a binary file or an iterable.

    A binary file is read ``chunk_size`` bytes at a time. Non-blocking files are
    refused: their ``read()`` returns ``None`` when no data is ready, which would store
    a truncated file.

    Raises:
        TypeError: For ``str``, mappings, text files and other non-iterables.
        ValueError: For a non-blocking file.
    """
    if isinstance(data, Mapping):
        raise TypeError(f"data must be bytes or an iterable of bytes chunks, not {type(data).__name__}")
    if hasattr(data, "read"):
        _check_blocking(data)
        return _read_chunks(data, chunk_size)
    if isinstance(data, Iterable):
        return iter(data)
    raise TypeError(
        "data must be bytes, bytearray, memoryview (or another buffer), an iterable of bytes, a "
        f"binary file object or an async iterable of bytes, not {type(data).__name__}"
    )


def _check_blocking(reader: Any) -> None:
    fileno = getattr(reader, "fileno", None)
    if fileno is None:
        return
    try:
        fd = fileno()
        blocking = os.get_blocking(fd)
    except (OSError, ValueError, TypeError, AttributeError):  # no real descriptor (BytesIO ...)
        return
    if not blocking:
        raise ValueError(_nonblocking_message(reader))


def _nonblocking_message(reader: object) -> str:
    return (
        f"put() cannot read the non-blocking file {reader!r:.80}: its read() returns None when no "
        "data is ready, which would store a truncated file. Use a blocking file, or read the data first"
    )


def _read_chunks(reader: Any, chunk_size: int) -> Iterator[bytes]:
    while True:
        chunk = reader.read(chunk_size)
        if chunk is None:
            raise ValueError(_nonblocking_message(reader))
        if isinstance(chunk, str):
            raise TypeError("put() needs a file opened in binary mode ('rb'), got one that returns str")
        if not chunk:
            return
        yield chunk


PACE_BYTES = 4 << 20
"""How many bytes an async read hands out between two checkpoints (see ``apaced``)."""

BULK_KEYS = 20_000
"""From this many keys on, an async ``list_dir``, ``delete_prefix`` or ``clear`` runs its
engine step in a worker thread: about 20 ms of work on a 2-core machine."""


def paced(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks`` as they are: the sync twin of ``memstore._concurrency.apaced``.

    A sync caller has no event loop to let run, so there is nothing to pace.
    """
    return iter(chunks)


def close_quietly(stream: object) -> None:
    """Close a generator that a failed put was reading, so its ``finally`` blocks run now."""
    if isinstance(stream, Generator):
        with contextlib.suppress(Exception):  # the original error matters more
            stream.close()


def unexpected_keywords(owner: str, options: Mapping[str, object], config_type: type, what: str) -> TypeError:
    """The error for keyword arguments a storage constructor does not take, with the right call.

    Settings that belong in ``config_type`` (a dataclass) are shown as the call to make:
    ``SyncMemoryStorage(MemoryConfig(max_size=10))``; ``what`` says what goes there.
    """
    names = ("arguments " if len(options) > 1 else "argument ") + ", ".join(repr(name) for name in options)
    fields = {field.name for field in dataclasses.fields(config_type)}
    settings = {name: value for name, value in options.items() if name in fields}
    if not settings:
        return TypeError(f"{owner}() got an unexpected keyword {names}")
    config = config_type.__name__
    call = ", ".join(f"{name}={value!r}" for name, value in settings.items())
    return TypeError(
        f"{owner}() got an unexpected keyword {names}: {what} go in a {config}, {owner}({config}({call}))"
    )
