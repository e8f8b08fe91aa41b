"""The state of a memory storage: a thread-safe, synchronous, sorted store.

The engine owns the files, the sorted key index, the quota ledger, the per-prefix
usage counters and the subscribers. Every mutation happens in one step under one
lock; events are delivered after the lock is released. There is no asyncio, anyio or
I/O here: both faces of :class:`~memstore.MemoryStorage` do all their waiting first and
then call one ``commit_*`` method (docs/guides/design.md, invariant 1).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from itertools import accumulate, islice

from sortedcontainers import SortedList

from memstore._keys import top_prefix
from memstore._ops import Data
from memstore._reaper import RELEASE_BYTES, release
from memstore.exceptions import (
    StorageClosedError,
    StorageFileExistsError,
    StorageFileNotFoundError,
    StoragePreconditionFailedError,
    StorageQuotaExceededError,
)
from memstore.types import (
    PrefixUsage,
    Snapshot,
    StorageEvent,
    StorageUsage,
    StoredFile,
    lazy_elsewhere,
    new_lazy_file,
    new_stored_file,
    retarget,
    settle_etag,
)

__all__ = ["Data", "Engine", "Entry", "PartsEntry", "Prepared", "Reservation", "entries_of", "top_prefix"]

logger = logging.getLogger("memstore")

Subscriber = Callable[[StorageEvent], None]

_UTC = timezone.utc
_time_ns = time.time_ns


class Entry:
    """One stored file: its metadata and its immutable contents (one ``bytes``).

    A file stored as several parts is a :class:`PartsEntry`, which also keeps where each
    part ends; a one-part entry has no slot for that (8 B less per file).
    """

    __slots__ = ("data", "file")
    offsets: list[int] | None = None
    """Where each stored part ends, for range reads that bisect to their parts (parts only)."""

    def __init__(self, data: Data) -> None:
        self.data = data
        self.file: StoredFile  # set right after (a lazy file finds its entry by key)

    @staticmethod
    def of(file: StoredFile, data: Data) -> Entry:
        """An entry holding ``data`` described by ``file``."""
        entry = Entry(data) if isinstance(data, bytes) else PartsEntry(data)
        entry.file = file
        return entry


class PartsEntry(Entry):
    """An entry whose contents are several immutable parts."""

    __slots__ = ("offsets",)

    def __init__(self, data: Data) -> None:
        self.data = data
        self.file: StoredFile
        self.offsets: list[int] | None = None if isinstance(data, bytes) else list(accumulate(map(len, data)))


class Reservation:
    """Quota reserved by one streamed put while it receives its chunks.

    ``credit`` is the size of the file the put will replace (as seen when it began):
    replacing a file frees its bytes, so only what goes beyond them is reserved.
    """

    __slots__ = ("credit", "key", "nbytes", "received")

    def __init__(self, key: str, credit: int) -> None:
        self.key = key
        self.credit = credit
        self.received = 0
        self.nbytes = 0


def _insert_key(keys: SortedList, key: str) -> None:
    """``keys.add(key)`` for a key not in ``keys``, without keeping the positional index.

    ``SortedList.add`` updates the positional index (an O(log n) Python loop) whenever a
    position-based read (``bisect_left``, ``islice``, ``del keys[i:j]``) built it, which
    every browser refresh does: 1.33 us per add with the index against 0.93 us without,
    at 100k keys. Here the index is dropped instead, and the next positional read
    rebuilds it in O(n / 1000). This relies on sortedcontainers 2's layout (sublists of
    ``_load`` to ``2 * _load`` keys, their maxima, the index), pinned in pyproject.toml.
    """
    maxes = keys._maxes
    if not maxes:
        keys.add(key)
        return
    lists = keys._lists
    pos = bisect_right(maxes, key)
    if pos == len(maxes):
        pos -= 1
        sublist = lists[pos]
        sublist.append(key)
        maxes[pos] = key
    else:
        sublist = lists[pos]
        insort(sublist, key)
    keys._len += 1
    if len(sublist) > keys._load << 1:
        keys._expand(pos)  # splits the sublist (and drops the index)
    elif keys._index:
        del keys._index[:]


_DROP_BATCH = 1024


def _drop(*containers: object) -> None:
    """Empty big containers a batch at a time, after the lock was released.

    Letting the last reference to a million entries go frees them all in one C call,
    which holds the GIL for 50-100 ms: an event loop in another thread stops for that
    long even when the call itself ran in a worker thread. Emptying them from a Python
    loop gives other threads a turn between batches (the interpreter switches threads
    between bytecodes).
    """
    for container in containers:
        if isinstance(container, SortedList):
            sublists = container._lists  # sortedcontainers' layout: sublists of ~1000 keys
            while sublists:
                sublists.pop()
        elif isinstance(container, dict):  # of entries
            pop = container.popitem
            while container:
                for _ in range(min(len(container), _DROP_BATCH)):
                    entry = pop()[1]
                    if entry.file.size >= RELEASE_BYTES:
                        release(entry)  # a big file is freed off this thread
                    del entry
        elif isinstance(container, list):
            while container:
                del container[-_DROP_BATCH:]


class Prepared:
    """The whole state of an engine, built outside its lock by :meth:`Engine.prepare`."""

    __slots__ = ("deep", "entries", "keys", "prefixes", "used")

    def __init__(
        self,
        entries: dict[str, Entry],
        keys: SortedList,
        used: int,
        prefixes: dict[str, list[int]],
        deep: dict[str, list[int]],
    ) -> None:
        self.entries = entries
        self.keys = keys
        self.used = used
        self.prefixes = prefixes
        self.deep = deep


class Engine:
    """A sorted, quota-checked, thread-safe map from keys to files."""

    def __init__(self, max_size: int | None) -> None:
        """Create an empty engine; ``max_size`` is the quota in bytes (None: unlimited)."""
        self.max_size = max_size
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._keys: SortedList = SortedList()
        self._used = 0
        self._reserved = 0
        self._active: set[Reservation] = set()  # streamed puts in progress
        self._prefixes: dict[str, list[int]] = {}  # top-level prefix -> [file count, bytes]
        self._deep: dict[str, list[int]] = {}  # every deeper folder ("a/b/") -> [files, bytes] below it
        self._subscribers: tuple[Subscriber, ...] = ()
        # Re-entrant and apart from the state lock: unsubscribing often happens in a
        # garbage-collection finalizer, which can run in a thread that holds either.
        self._sub_lock = threading.RLock()
        # Events of committed writes not yet delivered: close() waits for them, so that
        # "close" is the last event every subscriber sees.
        self._emitting = 0
        self._emitters: dict[int, int] = {}  # thread -> deliveries it is making now
        self._emitted = threading.Condition(threading.Lock())
        self.closed = False
        self.ref = weakref.ref(self)  # what every lazy-ETag file holds: one per engine

    # ------------------------------------------------------------------ reads
    def entry(self, key: str) -> Entry:
        """The entry at ``key``; raises :class:`StorageFileNotFoundError` if absent."""
        try:
            return self._entries[key]
        except KeyError:
            if self.closed:
                raise StorageClosedError("the storage is closed") from None
            raise StorageFileNotFoundError(key) from None

    def find(self, key: object) -> Entry | None:
        """The entry at ``key`` if it is a stored key (hence a valid one), else None; never raises.

        Lets reads skip key validation on a hit: only valid keys are ever stored.
        """
        return self._entries.get(key) if type(key) is str else None

    def contains(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        return key in self._entries

    def size_of(self, key: str) -> int:
        """The size of ``key``, 0 when absent."""
        entry = self._entries.get(key)
        return entry.file.size if entry is not None else 0

    def usage(self) -> StorageUsage:
        """A consistent snapshot of the file count and bytes used."""
        with self._lock:
            return StorageUsage(len(self._entries), self._used, self.max_size)

    @property
    def reserved_bytes(self) -> int:
        """Bytes currently reserved by streamed puts in progress."""
        return self._reserved

    def prefix_usage(self) -> list[PrefixUsage]:
        """Usage per top-level prefix, largest first (O(number of prefixes))."""
        with self._lock:
            items = [PrefixUsage(p, c, b) for p, (c, b) in self._prefixes.items()]
        items.sort(key=lambda u: (-u.used_bytes, u.prefix))
        return items

    def folder_usage(self, prefix: str) -> list[PrefixUsage]:
        """Usage of each sub-folder of ``prefix``, and of the files directly in it (as ``prefix``).

        O((1 + k) log n) for k sub-folders and direct files: one :meth:`list_dir` and a
        counter per folder.
        """
        if not prefix:
            return self.prefix_usage()
        folders, files = self.list_dir(prefix)
        items: list[PrefixUsage] = []
        with self._lock:
            for folder in folders:
                counters = self._deep.get(folder) or self._prefixes.get(folder)
                if counters is not None:
                    items.append(PrefixUsage(folder, counters[0], counters[1]))
        if files:
            items.append(PrefixUsage(prefix, len(files), sum(f.size for f in files)))
        items.sort(key=lambda u: (-u.used_bytes, u.prefix))
        return items

    def list_dir(self, prefix: str) -> tuple[list[str], list[StoredFile]]:
        """``(sub-folders, direct files)`` of ``prefix``, as S3 lists with ``Delimiter="/"``.

        One consistent snapshot in O(log n + k) for k results: each sub-folder is
        stepped over by position in the sorted index (its counters give its size),
        never walked.
        """
        folders: list[str] = []
        files: list[StoredFile] = []
        n = len(prefix)
        with self._lock:
            if self.closed:
                raise StorageClosedError("the storage is closed")
            entries = self._entries
            # The sorted index is a list of sorted sublists with their maxima
            # (sortedcontainers' layout): walk it directly, and jump over each
            # sub-folder with two bisections instead of a new iterator.
            lists: list[list[str]] = self._keys._lists
            maxes: list[str] = self._keys._maxes
            deep, tops = self._deep, self._prefixes
            pos = bisect_left(maxes, prefix)
            idx = bisect_left(lists[pos], prefix) if pos < len(lists) else 0
            while pos < len(lists):
                sub = lists[pos]
                if idx >= len(sub):
                    pos += 1
                    idx = 0
                    continue
                key = sub[idx]
                if not key.startswith(prefix):
                    break
                slash = key.find("/", n)
                if slash < 0:
                    files.append(entries[key].file)
                    idx += 1
                    continue
                folder = key[: slash + 1]
                folders.append(folder)
                # The folder's keys are contiguous in the index, and its counters say how
                # many there are: step over them by position, without comparing a key.
                counters = deep.get(folder) or tops.get(folder)
                if counters is not None:
                    idx += counters[0]
                    while pos < len(lists) and idx >= len(lists[pos]):
                        idx -= len(lists[pos])
                        pos += 1
                    continue
                end = folder[:-1] + "0"  # (unreachable while the counters are exact) bisect past it
                pos = bisect_left(maxes, end, pos)
                if pos == len(lists):
                    break
                idx = bisect_left(lists[pos], end)
        return folders, files

    def list_page(self, prefix: str, after: str | None, count: int) -> list[StoredFile]:
        """Up to ``count`` files whose key starts with ``prefix``, in key order.

        Starts after the key ``after`` (exclusive) when given. O(log n + count).
        """
        out: list[StoredFile] = []
        with self._lock:
            if self.closed:
                raise StorageClosedError("the storage is closed")
            # irange walks the sublists by value: unlike bisect_left/islice it never builds
            # SortedList's positional index, which every later add must then keep up to date.
            if after is None or after < prefix:
                keys = self._keys.irange(minimum=prefix)
            else:
                keys = self._keys.irange(minimum=after, inclusive=(False, True))
            entries = self._entries
            for key in islice(keys, count):
                if not key.startswith(prefix):
                    break
                out.append(entries[key].file)
        return out

    def list_slice(self, prefix: str, offset: int, count: int) -> list[StoredFile]:
        """Files ``offset .. offset+count`` (in key order) among those under ``prefix``.

        O(log n + count): the sorted index is sliced by position.
        """
        out: list[StoredFile] = []
        with self._lock:
            if self.closed:
                raise StorageClosedError("the storage is closed")
            keys = self._keys
            start: int = keys.bisect_left(prefix) + offset
            entries = self._entries
            for key in keys.islice(start, start + count):
                if not key.startswith(prefix):
                    break
                out.append(entries[key].file)
        return out

    def recent_page(self, prefix: str, offset: int, count: int) -> list[StoredFile]:
        """Files under ``prefix``, most recently modified first, skipping ``offset``.

        The entries are kept in modification order, so this walks back from the
        newest: O(offset + count) when most keys match ``prefix``.
        """
        out: list[StoredFile] = []
        with self._lock:
            if self.closed:
                raise StorageClosedError("the storage is closed")
            entries = self._entries
            for key in reversed(entries):
                if key.startswith(prefix):
                    if offset:
                        offset -= 1
                        continue
                    out.append(entries[key].file)
                    if len(out) >= count:
                        break
        return out

    def count_prefix(self, prefix: str) -> int:
        """Number of keys starting with ``prefix`` (O(log n): two bisections)."""
        with self._lock:
            keys = self._keys
            lo: int = keys.bisect_left(prefix)
            if not prefix:
                return len(keys) - lo
            end = _prefix_end(prefix)
            hi: int = keys.bisect_left(end) if end else len(keys)
            return max(hi - lo, 0)

    # ----------------------------------------------------------- quota ledger
    def check_fits(self, key: str, size: int) -> None:
        """Raise early (no lock, advisory) if writing ``size`` bytes at ``key`` cannot fit."""
        limit = self.max_size
        if limit is None:
            return
        used = self._used
        if used - self.size_of(key) + size + self._reserved > limit:
            raise StorageQuotaExceededError(key, max_size=limit, used_bytes=used, requested_bytes=size)

    def reservation(self, key: str) -> Reservation:
        """Start a reservation for a streamed put to ``key``."""
        res = Reservation(key, self.size_of(key))
        with self._lock:
            self._active.add(res)
        return res

    def reserve(self, res: Reservation, nbytes: int) -> None:
        """Account ``nbytes`` more received by ``res``; raise if the quota cannot hold them.

        On failure nothing changes in the ledger; the caller releases ``res``.
        """
        with self._lock:
            if self.closed:
                raise StorageClosedError("the storage is closed")
            received = res.received + nbytes
            want = received - res.credit - res.nbytes
            limit = self.max_size
            if want > 0:
                if limit is not None and self._used + self._reserved + want > limit:
                    raise StorageQuotaExceededError(
                        res.key, max_size=limit, used_bytes=self._used, requested_bytes=received
                    )
                try:
                    res.nbytes += want
                    self._reserved += want
                except BaseException:  # Ctrl-C between the two: see _repair
                    self._reserved = sum(r.nbytes for r in self._active)
                    raise
            res.received = received

    def release(self, res: Reservation) -> None:
        """Give back what ``res`` still holds (a no-op once it was committed)."""
        with self._lock:
            try:
                held, res.nbytes = res.nbytes, 0
                self._active.discard(res)
                self._reserved -= held
            except BaseException:  # Ctrl-C between two statements: see _repair
                res.nbytes = 0
                self._active.discard(res)
                self._reserved = sum(r.nbytes for r in self._active)
                raise

    # ---------------------------------------------------------------- commits
    def commit_put(
        self,
        key: str,
        data: Data,
        size: int,
        content_type: str,
        etag: str | None,
        metadata: Mapping[str, str],
        res: Reservation | None = None,
        *,
        create_only: bool = False,
        if_match: str | None = None,
    ) -> StoredFile:
        """Store ``data`` at ``key`` in one locked step and return its :class:`StoredFile`.

        ``etag=None`` defers the hash until the ETag is first read (small files only).
        ``create_only`` and ``if_match`` are S3's conditions, decided in the same step.

        Raises:
            StorageFileExistsError: If ``create_only`` and ``key`` exists; nothing changes.
            StoragePreconditionFailedError: If ``if_match`` is not the stored ETag.
            StorageQuotaExceededError: If the new size does not fit; nothing changes.
            StorageClosedError: If the engine is closed.
        """
        entry = Entry(data) if isinstance(data, bytes) else PartsEntry(data)
        if etag is None:
            file = new_lazy_file(key, size, content_type, self.ref, _time_ns() // 1000, metadata)
        else:
            file = new_stored_file(key, size, content_type, etag, datetime.now(_UTC), metadata)
        entry.file = file
        with self._lock:
            if self.closed:
                raise StorageClosedError("the storage is closed")
            entries = self._entries
            old = entries.get(key)
            if create_only and old is not None:
                raise StorageFileExistsError(key)
            if if_match is not None:
                _check_version(key, old, if_match)
            old_size = 0 if old is None else old.file.size
            held = 0 if res is None else res.nbytes
            limit = self.max_size
            if limit is not None and self._used - old_size + size + self._reserved - held > limit:
                raise StorageQuotaExceededError(
                    key, max_size=limit, used_bytes=self._used, requested_bytes=size
                )
            if old is not None:
                settle_etag(old)
            try:
                if res is not None:
                    res.nbytes = 0
                    self._active.discard(res)
                    self._reserved -= held
                if old is not None:
                    del entries[key]  # re-insert: the dict stays in modification order
                entries[key] = entry  # the commit point
                grown = size - old_size
                self._used += grown
                if old is None:
                    _insert_key(self._keys, key)
                # self._account(key, added, grown) inlined: the hot path (a put never empties a prefix)
                added = 1 if old is None else 0
                i = key.find("/")
                prefix = key[: i + 1] if i >= 0 else ""
                counters = self._prefixes.get(prefix)
                if counters is None:
                    self._prefixes[prefix] = [added, grown]
                else:
                    counters[0] += added
                    counters[1] += grown
                if i >= 0 and key.find("/", i + 1) >= 0:
                    self._account_deep(key, added, grown)
            except BaseException:  # Ctrl-C between two statements: finish the write, then repair
                if res is not None:
                    res.nbytes = 0
                    self._active.discard(res)
                if entries.get(key) is not entry:
                    entries[key] = entry
                self._repair()
                raise
            if old_size >= RELEASE_BYTES:
                release(old)  # a big file is freed off this thread (memstore._reaper)
            if not self._subscribers:
                return file
            self._emitting += 1
        self._emit(StorageEvent("put", key, file))
        return file

    def delete(self, key: str, if_match: str | None = None) -> StoredFile:
        """Remove ``key`` and return what it held; raises if absent (or not at ``if_match``)."""
        with self._lock:
            if self.closed:
                raise StorageClosedError("the storage is closed")
            entry = self._entries.get(key)
            if if_match is not None:
                _check_version(key, entry, if_match)
            if entry is None:
                raise StorageFileNotFoundError(key)
            settle_etag(entry)
            try:
                del self._entries[key]  # the commit point
                self._keys.remove(key)
                size = entry.file.size
                self._used -= size
                self._account(key, -1, -size)
            except BaseException:  # Ctrl-C between two statements: finish the delete, then repair
                if self._entries.get(key) is entry:
                    del self._entries[key]
                self._repair()
                raise
            if size >= RELEASE_BYTES:
                release(entry)  # a big file is freed off this thread (memstore._reaper)
            if not self._subscribers:
                return entry.file
            self._emitting += 1
        self._emit(StorageEvent("delete", key, entry.file))
        return entry.file

    def transfer(
        self, source: str, destination: str, *, remove_source: bool, overwrite: bool = True
    ) -> StoredFile:
        """Copy (or move, with ``remove_source``) ``source`` to ``destination`` in one step.

        The contents are shared, not duplicated (they are immutable), but a copy counts
        against the quota like any other file. Copying or moving a key onto itself
        changes nothing and returns the file. With ``overwrite=False`` an existing
        destination raises :class:`StorageFileExistsError`, decided in the same step.
        """
        now = _time_ns() // 1000  # microseconds: made a datetime when first read
        with self._lock:
            if self.closed:
                raise StorageClosedError("the storage is closed")
            entries = self._entries
            src = entries.get(source)
            if src is None:
                raise StorageFileNotFoundError(source)
            old = entries.get(destination)
            if not overwrite and old is not None:
                raise StorageFileExistsError(destination)
            if source == destination:
                return src.file
            old_size = 0 if old is None else old.file.size
            size = src.file.size
            growth = size - old_size - (size if remove_source else 0)
            limit = self.max_size
            if limit is not None and growth > 0 and self._used + self._reserved + growth > limit:
                raise StorageQuotaExceededError(
                    destination, max_size=limit, used_bytes=self._used, requested_bytes=size
                )
            new_entry = Entry(src.data) if isinstance(src.data, bytes) else PartsEntry(src.data)
            new_file = new_entry.file = retarget(src.file, destination, now, self.ref)
            if old is not None:
                settle_etag(old)
            if remove_source:
                settle_etag(src)
            try:
                if old is not None:
                    del entries[destination]  # re-insert: the dict stays in modification order
                entries[destination] = new_entry  # the commit point (with the next line)
                if remove_source:
                    del entries[source]
                self._used += growth
                if old is None:
                    self._keys.add(destination)
                else:
                    self._account(destination, -1, -old_size)
                self._account(destination, 1, size)
                if remove_source:
                    self._keys.remove(source)
                    self._account(source, -1, -size)
            except BaseException:  # Ctrl-C between two statements: finish the transfer, then repair
                if entries.get(destination) is not new_entry:
                    entries[destination] = new_entry
                if remove_source and entries.get(source) is src:
                    del entries[source]
                self._repair()
                raise
            if old_size >= RELEASE_BYTES:
                release(old)  # the overwritten file (a move's source shares its contents)
            if not self._subscribers:
                return new_file
            self._emitting += 1
        self._emit(StorageEvent("move" if remove_source else "copy", destination, new_file, source))
        return new_file

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key that starts with ``prefix`` in one locked step; returns how many.

        Readers under the lock (listings) see all of them or none. One
        ``"delete_prefix"`` event reports the prefix and the count.
        """
        with self._lock:
            if self.closed:
                raise StorageClosedError("the storage is closed")
            keys = self._keys
            lo: int = keys.bisect_left(prefix)
            end = _prefix_end(prefix)
            hi: int = keys.bisect_left(end) if end else len(keys)
            if hi <= lo:
                return 0
            doomed = list(keys.islice(lo, hi))
            entries = self._entries
            for key in doomed:
                settle_etag(entries[key])
            try:
                for key in doomed:  # the commit step: nothing else runs until it ends
                    entry = entries.pop(key)
                    size = entry.file.size
                    self._used -= size
                    self._account(key, -1, -size)
                    if size >= RELEASE_BYTES:
                        release(entry)
                del keys[lo:hi]
            except BaseException:  # Ctrl-C: finish the deletion, then repair
                for key in doomed:
                    entries.pop(key, None)
                self._repair()
                raise
            count = len(doomed)
            notify = bool(self._subscribers)
            if notify:
                self._emitting += 1
        if notify:
            self._emit(StorageEvent("delete_prefix", prefix, None, None, count))
        _drop(doomed)
        return count

    def clear(self) -> int:
        """Remove every file; returns how many were removed."""
        with self._lock:
            if self.closed:
                raise StorageClosedError("the storage is closed")
            old, old_keys = self._entries, self._keys
            for entry in old.values():
                settle_etag(entry)
            count = len(old)
            self._entries = {}
            self._keys = SortedList()
            self._prefixes = {}
            self._deep = {}
            self._used = 0
            notify = bool(count and self._subscribers)
            if notify:
                self._emitting += 1
        if notify:
            self._emit(StorageEvent("clear", None))
        _drop(old_keys, old)
        return count

    def snapshot(self) -> Snapshot:
        """Every entry, in modification order, as one consistent snapshot.

        One C-level copy of the entries under the lock (O(number of files), no object
        made per file); no contents are copied (entries and contents are immutable).
        """
        with self._lock:
            if self.closed:
                raise StorageClosedError("the storage is closed")
            return Snapshot(tuple(self._entries.values()), self._used)

    def prepare(self, items: Sequence[Entry], action: str) -> Prepared:
        """Build the state that :meth:`install` swaps in: O(number of files), no lock taken.

        Entries are immutable, so each one is shared as it is, unless its file has a
        lazy ETag that another engine would compute: that one gets a new entry here, with
        the same contents, ETag, modification time and metadata. Meant for a worker
        thread when there are many files.

        Raises:
            StorageQuotaExceededError: If the files do not fit ``max_size`` (``action``
                says what was being done, for the message).
            ValueError: If two items have the same key.
        """
        entries: dict[str, Entry] = {}
        ref = self.ref
        for item in items:
            file = item.file
            if lazy_elsewhere(file, ref):
                item = Entry.of(retarget(file, file.key, None, ref), item.data)
            entries[file.key] = item
        if len(entries) != len(items):
            raise ValueError("the files to install have duplicate keys")
        keys, used, prefixes, deep = _derive(entries)
        limit = self.max_size
        if limit is not None and used > limit:
            raise StorageQuotaExceededError(
                "", max_size=limit, used_bytes=self._used, requested_bytes=used, action=action
            )
        return Prepared(entries, keys, used, prefixes, deep)

    def install(self, prepared: Prepared) -> dict[str, Entry]:
        """Replace every file by the prepared ones in one locked step; returns the old entries.

        Everything derived was built by :meth:`prepare`; the commit step only swaps it
        in, so a reader sees the old contents or the new ones, never a mix. One
        ``"restore"`` event reports the new file count. The caller drops the old
        entries (freeing many objects takes time: a worker thread can do it).

        Raises:
            StorageClosedError: If the engine is closed.
        """
        with self._lock:
            if self.closed:
                raise StorageClosedError("the storage is closed")
            old = self._entries
            p = prepared
            kept = p.entries
            for key, entry in old.items():
                if kept.get(key) is not entry:  # it leaves the store
                    settle_etag(entry)
            # The commit point: a reader that skips the lock sees one dict or the other.
            self._entries, self._keys, self._used, self._prefixes, self._deep = (
                p.entries,
                p.keys,
                p.used,
                p.prefixes,
                p.deep,
            )
            count = len(p.entries)
            if not self._subscribers:
                return old
            self._emitting += 1
        self._emit(StorageEvent("restore", None, None, None, count))
        return old

    def close(self) -> None:
        """Drop all contents and refuse further use (idempotent).

        Subscribers get one last ``"close"`` event, after the events of every write
        that committed before it, then are dropped.
        """
        with self._lock:
            if self.closed:
                return
            self.closed = True
            old, old_keys = self._entries, self._keys
            for entry in old.values():
                settle_etag(entry)
            self._entries = {}
            self._keys = SortedList()
            self._prefixes = {}
            self._deep = {}
            self._used = 0
            subscribers, self._subscribers = self._subscribers, ()
        me = threading.get_ident()
        with self._emitted:
            # Wait for deliveries in other threads; a subscriber that closes the storage
            # from its own callback must not wait for itself. Bounded: a Ctrl-C landing
            # between a commit and its delivery leaves the count one too high.
            self._emitted.wait_for(lambda: self._emitting <= self._emitters.get(me, 0), timeout=10.0)
        event = StorageEvent("close", None)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                logger.exception("memstore subscriber %r failed on the close event", callback)
        _drop(old_keys, old)

    def _repair(self) -> None:
        """Rebuild the derived state (sorted index, bytes used, prefix counters) from the entries.

        The entries dict is the source of truth, and each commit step changes it with
        statements that run no code between them (the commit point). Ctrl-C in the main
        thread raises ``KeyboardInterrupt`` between two statements anywhere, though, and
        could land while the derived state is being updated: the step then repairs it
        before re-raising, so the write has happened in full or not at all. Called under
        the lock; O(n log n), on that rare path only.
        """
        self._keys, self._used, self._prefixes, self._deep = _derive(self._entries)
        self._reserved = sum(r.nbytes for r in self._active)

    def _account(self, key: str, files: int, nbytes: int) -> None:
        # Called under the lock: keep the per-prefix counters exact.
        prefix = top_prefix(key)
        counters = self._prefixes.get(prefix)
        if counters is None:
            self._prefixes[prefix] = [files, nbytes]
            return
        counters[0] += files
        counters[1] += nbytes
        if counters[0] == 0:
            del self._prefixes[prefix]
        self._account_deep(key, files, nbytes)

    def _account_deep(self, key: str, files: int, nbytes: int) -> None:
        # Called under the lock: the counters of every folder below the top level.
        _account_deep(self._deep, key, files, nbytes)

    # ----------------------------------------------------------------- events
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` after every change; returns a function that unsubscribes."""
        with self._sub_lock:
            self._subscribers = (*self._subscribers, callback)

        engine_ref = weakref.ref(self)  # an unsubscribe function must not keep the engine alive

        def unsubscribe() -> None:
            engine = engine_ref()
            if engine is None:
                return
            with engine._sub_lock:
                subs = list(engine._subscribers)
                for i, cb in enumerate(subs):
                    if cb is callback:
                        del subs[i]
                        break
                engine._subscribers = tuple(subs)

        return unsubscribe

    def _emit(self, event: StorageEvent) -> None:
        """Deliver ``event`` (its commit counted it in ``_emitting`` under the lock)."""
        me = threading.get_ident()
        emitters = self._emitters
        emitters[me] = emitters.get(me, 0) + 1
        try:
            for callback in self._subscribers:
                try:
                    callback(event)
                except Exception:
                    logger.exception("memstore subscriber %r failed on %s event", callback, event.kind)
        finally:
            with self._emitted:
                self._emitting -= 1
                left = emitters[me] - 1
                if left:
                    emitters[me] = left
                else:
                    del emitters[me]
                self._emitted.notify_all()


def entries_of(pairs: list[tuple[StoredFile, Data]]) -> list[Entry]:
    """``(file, contents)`` pairs (from a saved file, a pickle) as entries for :meth:`Engine.prepare`.

    Empties ``pairs``: the pairs are freed here (a worker thread), not by the caller.
    """
    entries = [Entry.of(file, data) for file, data in pairs]
    pairs.clear()
    return entries


def _account_deep(deep: dict[str, list[int]], key: str, files: int, nbytes: int) -> None:
    """Add ``files`` and ``nbytes`` to the counters of every folder of ``key`` below the top level."""
    i = key.find("/")
    i = key.find("/", i + 1) if i >= 0 else -1
    while i >= 0:
        folder = key[: i + 1]
        counters = deep.get(folder)
        if counters is None:
            deep[folder] = [files, nbytes]
        else:
            counters[0] += files
            counters[1] += nbytes
            if counters[0] == 0:
                del deep[folder]
        i = key.find("/", i + 1)


def _derive(entries: dict[str, Entry]) -> tuple[SortedList, int, dict[str, list[int]], dict[str, list[int]]]:
    """The sorted index, the bytes used, and the top-level and deeper folder counters of ``entries``."""
    prefixes: dict[str, list[int]] = {}
    deep: dict[str, list[int]] = {}
    used = 0
    for key, entry in entries.items():
        size = entry.file.size
        used += size
        counters = prefixes.setdefault(top_prefix(key), [0, 0])
        counters[0] += 1
        counters[1] += size
        _account_deep(deep, key, 1, size)
    return SortedList(entries), used, prefixes, deep


def _check_version(key: str, entry: Entry | None, expected: str) -> None:
    """Raise unless ``entry`` exists with the ETag ``expected`` (S3's If-Match)."""
    actual = None if entry is None else entry.file.etag
    if actual != expected:
        raise StoragePreconditionFailedError(key, expected=expected, actual=actual)


def _prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` ('' if none)."""
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < 0x10FFFF:
            chars[-1] = chr(last + 1)
            return "".join(chars)
        chars.pop()
    return ""
