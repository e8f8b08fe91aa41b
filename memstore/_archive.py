"""The memstore archive: the file format of ``save()`` and ``load()``, for every backend.

Synchronous, no event loop: a backend's shell runs :func:`write_archive` and
:func:`read_archive` in a worker thread. An archive is an uncompressed POSIX tar file
(``tar tvf store.tar`` lists it) with these members, in this order:

``memstore.json``
    The header: ``{"format": "memstore-archive", "version": 1, "file_count": N,
    "total_bytes": T, "created": "<ISO 8601 UTC>"}``.
``files/00000000`` ... ``files/<N-1>``
    The contents of each stored file, in the storage's modification order.
``manifest.jsonl``
    JSON Lines: first ``{"format": ..., "version": 1, "file_count": N, "header_sha256":
    ...}``, then one object per file, in member order: ``key``, ``member``, ``size``,
    ``content_type``, ``metadata`` (``str`` to ``str``), ``etag`` (the quoted MD5 of the
    contents, as S3 reports it), ``last_modified`` (ISO 8601 with its UTC offset) and
    ``sha256`` (hex digest of the contents).
``manifest.jsonl.sha256``
    ``sha256sum`` output for the manifest (``sha256sum -c`` checks it).

Version rule: a reader accepts every version up to its own :data:`VERSION` and refuses a
newer one with :class:`~memstore.StorageFormatError`; the version changes whenever a
reader of the previous version would misread a file. Reading never unpickles or
executes anything: the members are data and JSON, every field is type-checked, every
key goes through :func:`memstore.validate_key`, and every content and the manifest are
checked against their SHA-256 (docs/guides/persistence.md).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import IO, Any, NoReturn, TypeVar

from memstore._keys import validate_key
from memstore._ops import Data, freeze_metadata
from memstore.exceptions import (
    InvalidKeyError,
    StorageError,
    StorageFileNotFoundError,
    StorageFormatError,
    StorageQuotaExceededError,
)
from memstore.types import Snapshot, StoredFile, new_stored_file

__all__ = [
    "FORMAT",
    "VERSION",
    "check_path",
    "gc_paused",
    "paused",
    "read_archive",
    "save_snapshot",
    "save_storage",
    "snapshot_items",
    "write_archive",
]

FORMAT = "memstore-archive"
"""The ``format`` field of every memstore archive."""

VERSION = 1
"""The newest archive version this memstore writes and reads."""

HEADER = "memstore.json"
MANIFEST = "manifest.jsonl"
CHECKSUM = "manifest.jsonl.sha256"
PART_SIZE = 1024 * 1024
"""Loaded contents are kept in parts of this size (small files in one piece)."""

_HEADER_LIMIT = 64 * 1024  # the header is a few hundred bytes
_YIELD_EVERY = 128  # files handled between two hand-overs of the GIL (about 1-3 ms of work)
_SHA256 = re.compile("[0-9a-f]{64}")
_ETAG = re.compile('"[0-9a-f]{32}"')
_UTC = timezone.utc


def member_name(index: int) -> str:
    """The tar member that holds the contents of file number ``index``."""
    return f"files/{index:08d}"


T = TypeVar("T")

_gc_lock = threading.Lock()
_gc_depth = 0
_gc_resume = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while many objects are made (thread-safe, nests).

    Building a store of many files makes hundreds of thousands of objects; each full
    collection they trigger walks every object of the process while holding the GIL,
    stalling the event loop for tens of milliseconds. Reference counting still frees
    memory meanwhile; the collector resumes (if it was enabled) when the last pause ends.
    """
    global _gc_depth, _gc_resume
    with _gc_lock:
        if _gc_depth == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_resume:
                gc.enable()


def paused(func: Callable[..., T], *args: object) -> T:
    """``func(*args)`` with the garbage collector paused (:func:`gc_paused`); for a worker thread."""
    with gc_paused():
        return func(*args)


def check_path(path: object) -> str:
    """``path`` as a ``str`` (a ``str`` or an ``os.PathLike`` of ``str``).

    Raises:
        TypeError: For anything else (``bytes`` paths included).
    """
    where = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not isinstance(where, str):
        raise TypeError(f"path must be a str or an os.PathLike of str, not {type(path).__name__}")
    return where


def snapshot_items(snapshot: Snapshot) -> tuple[Any, ...]:
    """The entries a :class:`~memstore.Snapshot` holds (each with ``file`` and ``data``)."""
    return snapshot._items


def save_snapshot(path: str, snapshot: Snapshot) -> tuple[str, int]:
    """Write the files of ``snapshot`` to ``path`` (:func:`write_archive`, meant for a worker thread)."""
    with gc_paused():
        return write_archive(path, [(item.file, pieces(item.data)) for item in snapshot._items])


# ---------------------------------------------------------------------- writing
def write_archive(
    path: str | os.PathLike[str],
    files: Sequence[tuple[StoredFile, Iterable[bytes | memoryview]]],
    *,
    opener: Callable[[int], IO[bytes]] | None = None,
) -> tuple[str, int]:
    """Write ``files`` (each a file's metadata and its contents as chunks) to ``path``.

    The archive is written to a temporary file beside ``path`` and renamed into place
    (``os.replace``) only when complete and flushed to disk, so a failure leaves any
    previous file at ``path`` as it was. A file it replaces keeps its permissions; a new
    one is readable by its owner only. Holds one chunk of contents at a time.

    Args:
        path: Where to write.
        files: ``(file, chunks)`` pairs; the chunks must add up to ``file.size`` bytes.
            The manifest records ``file.etag``, or the contents' MD5 ETag when it is ``None``.
        opener: Opens the temporary file from its descriptor (tests inject failures).

    Returns:
        The absolute path written and its size in bytes.

    Raises:
        OSError: If writing fails (nothing changed at ``path``).
        ValueError: If a file's chunks do not add up to its size.
    """
    target = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(target)
    fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        out = (opener or _open_fd)(fd)
        with out:
            size = _write_tar(out, files)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temp, os.stat(target).st_mode & 0o7777)  # keep the mode of the file replaced
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return target, size


def _open_fd(fd: int) -> IO[bytes]:
    return open(fd, "wb", buffering=PART_SIZE)


def _write_tar(out: IO[bytes], files: Sequence[tuple[StoredFile, Iterable[bytes | memoryview]]]) -> int:
    written = 0

    def write(data: bytes | memoryview) -> None:
        nonlocal written
        out.write(data)
        written += len(data)

    def add(name: str, size: int, mtime: float, chunks: Iterable[bytes | memoryview], md5: Any = None) -> str:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = int(mtime)  # a float would add a PAX header to every member
        info.mode = 0o644
        write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        hasher = hashlib.sha256()
        count = 0
        for chunk in chunks:
            hasher.update(chunk)
            if md5 is not None:
                md5.update(chunk)
            count += len(chunk)
            write(chunk)
        if count != size:
            raise ValueError(f"the contents of {name} hold {count} bytes, not the {size} announced")
        pad = -size % tarfile.BLOCKSIZE
        if pad:
            write(bytes(pad))
        return hasher.hexdigest()

    now = datetime.now(_UTC)
    total = sum(file.size for file, _ in files)
    header = _dump(
        {
            "format": FORMAT,
            "version": VERSION,
            "file_count": len(files),
            "total_bytes": total,
            "created": now.isoformat(),
        }
    )
    stamp = now.timestamp()
    add(HEADER, len(header), stamp, (header,))
    entries: list[bytes] = []  # each file's manifest entry, encoded at once: no dict per file kept
    for index, (file, chunks) in enumerate(files):
        if not index % _YIELD_EVERY:
            time.sleep(0)  # hand the GIL to the event loop's thread if it waits for it
        member = member_name(index)
        modified = file.last_modified or now
        etag = file.etag
        md5 = hashlib.md5(usedforsecurity=False) if etag is None else None  # a backend without ETags
        digest = add(member, file.size, modified.timestamp(), chunks, md5)
        if md5 is not None:
            etag = f'"{md5.hexdigest()}"'
        entries.append(_manifest_line(file, member, etag, modified, digest))
    head = {
        "format": FORMAT,
        "version": VERSION,
        "file_count": len(files),
        "header_sha256": hashlib.sha256(header).hexdigest(),
    }
    entries.insert(0, _dump(head))
    lines = [line + b"\n" for line in entries]
    del entries
    digest = add(MANIFEST, sum(map(len, lines)), stamp, lines)
    del lines
    check = f"{digest}  {MANIFEST}\n".encode()
    add(CHECKSUM, len(check), stamp, (check,))
    end = tarfile.BLOCKSIZE * 2  # the end-of-archive marker, then padding to a whole record
    end += -(written + end) % tarfile.RECORDSIZE
    write(bytes(end))
    return written


# ------------------------------------------------------- saving any storage
_HEADER_ROOM = 512  # bytes kept for the header of a streamed save, written once the totals are known
_ATTEMPTS = 5  # reads of one file that may find it changed (by another client) before a save gives up


def save_storage(storage: Any, path: str) -> tuple[str, int, int]:
    """Save every file of ``storage`` to ``path`` through the storage contract alone.

    For a backend that cannot take a snapshot of itself (the Redis backend): ``storage``
    is a synchronous storage (``list``, ``info`` and ``get``), called from this thread.
    Files are listed in key order and each is written whole from one version: its
    contents are checked against the size and ETag its ``info`` gave, and a file that
    another client replaced meanwhile is read again (deleted: left out). The header,
    whose totals are known only at the end, is written last into the room kept for it.
    Written beside ``path`` and renamed into place as :func:`write_archive` does.

    Returns:
        The absolute path written, its size in bytes and the number of files saved.

    Raises:
        StorageError: If a file kept changing while it was read.
        OSError: If writing fails (nothing changed at ``path``).
    """
    target = os.path.abspath(path)
    folder, name = os.path.split(target)
    fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with _open_fd(fd) as out:
            size, count = _save_streamed(out, storage)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temp, os.stat(target).st_mode & 0o7777)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return target, size, count


def _member_header(name: str, size: int, mtime: float) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o644
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _save_streamed(out: IO[bytes], storage: Any) -> tuple[int, int]:
    now = datetime.now(_UTC)
    stamp = now.timestamp()
    out.write(_member_header(HEADER, _HEADER_ROOM, stamp))
    header_at = out.tell()
    out.write(bytes(_HEADER_ROOM))
    entries: list[bytes] = []
    total = 0
    keys = (file.key for file in storage.list())
    for key in keys:
        index = len(entries)
        if not index % _YIELD_EVERY:
            time.sleep(0)
        member = member_name(index)
        start = out.tell()
        for _ in range(_ATTEMPTS):
            try:
                file = storage.info(key)
                digest, etag, matched = _write_member(out, member, file, storage.get(key))
            except StorageFileNotFoundError:
                file, digest, etag, matched = None, "", "", True  # deleted meanwhile: left out
            if matched:
                break
            out.seek(start)  # replaced while it was read: read it again
            out.truncate()
        else:
            raise StorageError(f"could not save {key!r:.100}: it kept changing while it was read")
        if file is None:
            out.seek(start)
            out.truncate()
            continue
        total += file.size
        modified = file.last_modified or now
        entries.append(_manifest_line(file, member, etag, modified, digest))
    count = len(entries)
    header = _dump(
        {
            "format": FORMAT,
            "version": VERSION,
            "file_count": count,
            "total_bytes": total,
            "created": now.isoformat(),
        }
    )
    header = header.ljust(_HEADER_ROOM)  # JSON allows the trailing spaces
    head = {
        "format": FORMAT,
        "version": VERSION,
        "file_count": count,
        "header_sha256": hashlib.sha256(header).hexdigest(),
    }
    lines = [line + b"\n" for line in [_dump(head), *entries]]
    del entries
    manifest = b"".join(lines)
    del lines
    out.write(_member_header(MANIFEST, len(manifest), stamp))
    out.write(manifest)
    out.write(bytes(-len(manifest) % tarfile.BLOCKSIZE))
    check = f"{hashlib.sha256(manifest).hexdigest()}  {MANIFEST}\n".encode()
    del manifest
    out.write(_member_header(CHECKSUM, len(check), stamp))
    out.write(check)
    out.write(bytes(-len(check) % tarfile.BLOCKSIZE))
    written = out.tell()
    end = tarfile.BLOCKSIZE * 2
    end += -(written + end) % tarfile.RECORDSIZE
    out.write(bytes(end))
    written += end
    out.seek(header_at)
    out.write(header)
    return written, count


def _write_member(
    out: IO[bytes], member: str, file: StoredFile, chunks: Iterator[bytes]
) -> tuple[str, str, bool]:
    """Write ``chunks`` as ``member``: their SHA-256 and ETag, and whether they match ``file``."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    count = 0
    out.write(_member_header(member, file.size, (file.last_modified or datetime.now(_UTC)).timestamp()))
    try:
        for chunk in chunks:
            count += len(chunk)
            if count > file.size:
                return "", "", False
            sha.update(chunk)
            md5.update(chunk)
            out.write(chunk)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    etag = f'"{md5.hexdigest()}"'
    if count != file.size or (file.etag is not None and etag != file.etag):
        return "", "", False
    out.write(bytes(-count % tarfile.BLOCKSIZE))
    return sha.hexdigest(), etag, True


def _manifest_line(file: StoredFile, member: str, etag: str | None, modified: datetime, digest: str) -> bytes:
    """The manifest's JSON line for ``file``, stored as ``member`` with SHA-256 ``digest``."""
    return _dump(
        {
            "key": file.key,
            "member": member,
            "size": file.size,
            "content_type": file.content_type,
            "metadata": dict(file.metadata),
            "etag": etag,
            "last_modified": modified.isoformat(),
            "sha256": digest,
        }
    )


def _dump(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------------- reading
class _Reader:
    """Reads one archive member by member, refusing anything unexpected."""

    def __init__(self, path: str, tar: tarfile.TarFile) -> None:
        self.path = path
        self.tar = tar

    def fail(self, problem: str) -> NoReturn:
        raise StorageFormatError(self.path, problem)

    def next(self, expected: str, limit: int) -> tarfile.TarInfo:
        """The next member, which must be the regular file ``expected`` of at most ``limit`` bytes."""
        try:
            info = self.tar.next()
        except tarfile.TarError as exc:
            self.fail(f"the archive is corrupted before {expected} ({exc})")
        # tarfile keeps a list of every member read (for getmembers()); one at a time is enough here
        self.tar.members = []  # type: ignore[attr-defined]
        if info is None:
            self.fail(f"the archive ends before {expected} (truncated?)")
        if info.name != expected:
            self.fail(
                f"unexpected member {info.name!r} where {expected} should be (a hostile or foreign archive)"
            )
        if not info.isreg() or info.issparse():
            self.fail(f"member {expected} is not a regular file (type {info.type!r})")
        if info.size > limit:
            self.fail(f"member {expected} holds {info.size:,} bytes, more than the {limit:,} allowed")
        return info

    def small(self, expected: str, limit: int) -> bytes:
        info = self.next(expected, limit)
        return b"".join(self.read(info))

    def read(self, info: tarfile.TarInfo, hashers: Sequence[Any] = ()) -> list[bytes]:
        """The contents of ``info`` in parts of :data:`PART_SIZE` bytes, fed to ``hashers``."""
        stream = self.tar.extractfile(info)
        if stream is None:  # pragma: no cover - regular files always have a stream
            self.fail(f"member {info.name} has no contents")
        parts: list[bytes] = []
        left = info.size
        try:
            while left:
                part = stream.read(min(left, PART_SIZE) if parts or left > PART_SIZE else left)
                if not part:
                    self.fail(f"member {info.name} is truncated")
                for hasher in hashers:
                    hasher.update(part)
                parts.append(part)
                left -= len(part)
        except (tarfile.TarError, OSError) as exc:
            self.fail(f"member {info.name} is truncated or unreadable ({exc})")
        return parts

    def json(self, name: str, raw: bytes) -> dict[str, Any]:
        """``raw`` parsed as a JSON object (one small document: never the whole manifest at once)."""
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            self.fail(f"{name} is not valid JSON ({exc})")
        if not isinstance(value, dict):
            self.fail(f"{name} is not a JSON object")
        return value

    def field(self, where: str, value: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
        item = value.get(name)
        if not isinstance(item, kind) or (isinstance(item, bool) and kind is int):
            self.fail(f"{where}: field {name!r} is missing or of the wrong type ({type(item).__name__})")
        return item

    def check_version(self, name: str, value: dict[str, Any]) -> None:
        if value.get("format") != FORMAT:
            self.fail(f"{name} does not describe a {FORMAT} (format {value.get('format')!r})")
        version = self.field(name, value, "version", int)
        if version > VERSION:
            self.fail(
                f"it was written in format version {version}, newer than the version {VERSION} "
                "this memstore reads: upgrade memstore to load it"
            )
        if version < 1:
            self.fail(f"{name} has an invalid format version {version}")


def read_archive(path: str | os.PathLike[str], max_size: int | None = None) -> list[tuple[StoredFile, Data]]:
    """Read and verify the archive at ``path``: every file's metadata and contents.

    Verifies everything before returning anything: the structure (the members, their
    names, types and order), the sizes declared against the archive's size and each
    other, every key, every field's type, every content's SHA-256 and ETag, and the
    manifest's own SHA-256. Holds the contents read so far plus one part.

    Args:
        path: The archive.
        max_size: Refuse (before reading any contents) an archive whose files add up to
            more than this many bytes.

    Returns:
        ``(file, contents)`` pairs in the archive's order; contents are ``bytes`` or a
        tuple of parts.

    Raises:
        StorageFormatError: If the file is not a valid archive (truncated, corrupted,
            hostile, or of a newer format version); it names the path and the problem.
        StorageQuotaExceededError: If the files add up to more than ``max_size``.
        OSError: If the file cannot be opened.
    """
    where = os.fspath(path)
    with open(where, "rb") as raw:
        archive_size = os.fstat(raw.fileno()).st_size
        try:
            tar = tarfile.open(fileobj=raw, mode="r:")  # noqa: SIM115 - closed below
        except tarfile.TarError as exc:
            raise StorageFormatError(where, f"not an uncompressed tar archive ({exc})") from None
        with tar, gc_paused():
            return _read(_Reader(where, tar), archive_size, max_size)


def _read(reader: _Reader, archive_size: int, max_size: int | None) -> list[tuple[StoredFile, Data]]:
    header_raw = reader.small(HEADER, _HEADER_LIMIT)
    header = reader.json(HEADER, header_raw)
    reader.check_version(HEADER, header)
    count = reader.field(HEADER, header, "file_count", int)
    total = reader.field(HEADER, header, "total_bytes", int)
    if count < 0 or total < 0:
        reader.fail(f"{HEADER} declares a negative file count or size")
    # Contents are stored uncompressed: an archive cannot hold more than its own size.
    if total > archive_size or count * tarfile.BLOCKSIZE > archive_size:
        reader.fail(
            f"it declares {count:,} files of {total:,} bytes in an archive of {archive_size:,} bytes "
            "(a bomb-like ratio): refused"
        )
    if max_size is not None and total > max_size:
        raise StorageQuotaExceededError(
            "", max_size=max_size, used_bytes=0, requested_bytes=total, action=f"loading {reader.path!r}"
        )
    left = total
    members: list[tuple[str, int, list[bytes], str, str]] = []
    for index in range(count):
        if not index % _YIELD_EVERY:
            time.sleep(0)  # hand the GIL to the event loop's thread if it waits for it
        name = member_name(index)
        info = reader.next(name, left)
        sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        parts = reader.read(info, (sha, md5))
        left -= info.size
        members.append((info.name, info.size, parts, sha.hexdigest(), f'"{md5.hexdigest()}"'))
    if left:
        reader.fail(f"{HEADER} declares {total:,} bytes but the files hold {total - left:,}")
    hasher = hashlib.sha256()
    # One line per file (with metadata of any size): only the archive's size bounds it.
    stream = io.BytesIO(b"".join(reader.read(reader.next(MANIFEST, archive_size))))
    out: list[tuple[StoredFile, Data]] = []
    seen: set[str] = set()
    head = reader.json(f"{MANIFEST} line 1", _line(reader, stream, hasher))
    reader.check_version(MANIFEST, head)
    if head.get("header_sha256") != hashlib.sha256(header_raw).hexdigest():
        reader.fail(f"{HEADER} does not match the checksum in {MANIFEST} (corrupted)")
    listed = reader.field(MANIFEST, head, "file_count", int)
    if listed != count:
        reader.fail(f"{MANIFEST} lists {listed:,} files, {HEADER} declares {count:,}")
    members.reverse()  # popped from the end, in order: each file's parts move to ``out``
    for index in range(count):
        if not index % _YIELD_EVERY:
            time.sleep(0)
        where = f"{MANIFEST} line {index + 2}"
        entry = reader.json(where, _line(reader, stream, hasher))
        name, size, parts, sha256, etag = members.pop()
        out.append((_file(reader, index, entry, name, size, sha256, etag, seen), _data(parts)))
    if stream.read(1):
        reader.fail(f"{MANIFEST} has more lines than the {count:,} files")
    check_raw = reader.small(CHECKSUM, 1024)
    try:
        extra = reader.tar.next()
    except tarfile.TarError:
        extra = None  # damage after the last member: everything needed was read and is verified
    if extra is not None:
        reader.fail(f"unexpected member {extra.name!r} after {CHECKSUM}")
    if check_raw != f"{hasher.hexdigest()}  {MANIFEST}\n".encode():
        reader.fail(f"the checksum of {MANIFEST} does not match {CHECKSUM} (corrupted)")
    return out


def _line(reader: _Reader, stream: IO[bytes], hasher: Any) -> bytes:
    """The next line of the manifest, fed to ``hasher``."""
    line = stream.readline()
    hasher.update(line)
    if not line.endswith(b"\n"):
        reader.fail(f"{MANIFEST} ends before its last line (truncated)")
    return line


def _file(
    reader: _Reader,
    index: int,
    entry: dict[str, Any],
    name: str,
    stored: int,
    sha256: str,
    etag: str,
    seen: set[str],
) -> StoredFile:
    where = f"{MANIFEST} file #{index}"
    key = reader.field(where, entry, "key", str)
    try:
        key = validate_key(key)
    except InvalidKeyError as exc:
        reader.fail(f"{where} has an invalid key: {exc.reason} ({exc})")
    where = f"{MANIFEST} file {key!r:.100}"
    if key in seen:
        reader.fail(f"the key {key!r:.100} appears twice")
    seen.add(key)
    if entry.get("member") != name:
        reader.fail(f"{where} names member {entry.get('member')!r}, not {name}")
    size = reader.field(where, entry, "size", int)
    if size != stored:
        reader.fail(f"{where} declares {size:,} bytes but its member {name} holds {stored:,}")
    declared_sha = reader.field(where, entry, "sha256", str)
    if not _SHA256.fullmatch(declared_sha):
        reader.fail(f"{where} has a malformed sha256 {declared_sha!r:.80}")
    if declared_sha != sha256:
        reader.fail(f"the contents of {key!r:.100} do not match their SHA-256 (corrupted)")
    declared_etag = reader.field(where, entry, "etag", str)
    if not _ETAG.fullmatch(declared_etag) or declared_etag != etag:
        reader.fail(f"{where} declares the ETag {declared_etag!r:.80}, but its contents have the ETag {etag}")
    content_type = entry.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        reader.fail(f"{where}: content_type must be a string or null")
    try:
        metadata = freeze_metadata(reader.field(where, entry, "metadata", dict))
    except (TypeError, ValueError) as exc:
        reader.fail(f"{where} has invalid metadata ({exc})")
    stamp = reader.field(where, entry, "last_modified", str)
    try:
        modified = datetime.fromisoformat(stamp)
    except ValueError:
        reader.fail(f"{where} has an invalid last_modified {stamp!r:.80}")
    if modified.tzinfo is None:
        reader.fail(f"{where} has a last_modified without a UTC offset ({stamp!r:.80})")
    return new_stored_file(key, size, content_type, etag, modified.astimezone(_UTC), metadata)


def _data(parts: list[bytes]) -> Data:
    if not parts:
        return b""
    if len(parts) == 1:
        return parts[0]
    return tuple(parts)


def pieces(data: Data) -> tuple[bytes, ...]:
    """The stored parts of ``data`` (what :func:`write_archive` takes as chunks)."""
    return (data,) if isinstance(data, bytes) else data
