"""Which rows the browser shows: folders, filtering, sorting and paging (no widgets).

Every read goes through the public synchronous contract (``count``, ``list_page``,
``list``, ``list_dir``, ``get_prefix_usage``, ``glob``), so the browser works on any
backend. Costs on the memory backend, with ``n`` files stored:

* the folder view (no filter): ``get_prefix_usage(folder)``, O(1 + number of
  sub-folders); then, if the folder has sub-folders, ``list_dir(folder)``,
  O((1 + k) log n) for the ``k`` sub-folders and files directly in the folder (never
  the files further down), plus O(k log k) to sort the files by size or modification
  time. A folder without sub-folders holds exactly the keys under its prefix, and is
  paged like a prefix filter (below);
* a plain prefix filter sorted by key: O(log n + page) through the sorted index
  (``count`` and ``list_page``);
* a plain prefix filter sorted by modification time: ``list_page(order="newest")``,
  which the memory backend answers in O(offset + page) from its modification-ordered
  entries when most files match; a narrow prefix is listed and sorted instead
  (O(log n + k));
* a plain prefix filter sorted by size: the ``k`` files under the prefix, O(log n + k),
  plus O(k log page) for the heap;
* a glob: ``glob(pattern)``, which lists only the keys under the pattern's literal start
  (``logs/2024-*`` reads only the keys under ``logs/2024-``; ``*.csv`` and ``**/*.csv``
  read every key).

The folder listings, the candidates of a scan and their orderings are cached until the
storage changes (the browser drops the cache on every change event), so paging through
an unchanged result costs only the page.
"""

from __future__ import annotations

import heapq
import re
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Literal

from memstore.types import PrefixUsage, StoredFile

__all__ = ["SORTS", "Filter", "Page", "PageSource", "SortKey", "UsageTrend", "parse_filter", "read_folder"]

SortKey = Literal["key", "size", "modified"]
"""How rows are ordered: by key (A→Z), by size (largest first) or modified (newest first)."""

SORTS: tuple[SortKey, ...] = ("key", "size", "modified")

_WILDCARDS = re.compile(r"[*?\[]")
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Filter:
    """A parsed filter: a plain key prefix, or a glob for the storage's ``glob``.

    Attributes:
        text: The filter as typed (stripped of surrounding whitespace).
        prefix: Every matching key starts with this (the text before the first wildcard).
        is_glob: Whether the filter contains a wildcard (``*``, ``?`` or ``[``): it is
            then matched by the storage's ``glob``, where ``*``, ``?`` and ``[...]``
            stay within one folder and ``**`` crosses folders (``**/*.csv``: every CSV).
    """

    text: str
    prefix: str
    is_glob: bool


def parse_filter(text: str) -> Filter:
    """Parse what was typed in the filter box.

    Text without ``*``, ``?`` or ``[`` is a key prefix (``""``: no filter). Otherwise it
    is a glob matched against whole keys by the storage's ``glob``: ``*.csv`` matches the
    CSV files at the top level only, ``**/*.csv`` every CSV file, ``logs/2024-*.txt``
    the matching files directly in ``logs/``. ``glob`` narrows the candidates to the
    keys under the literal start (``logs/2024-``), so a glob that starts with a wildcard
    reads every key.
    """
    text = text.strip()
    found = _WILDCARDS.search(text)
    if found is None:
        return Filter(text, text, False)
    return Filter(text, text[: found.start()], True)


@dataclass(frozen=True)
class Page:
    """One page of the listing.

    In the folder view a page holds sub-folders (always first, by name) and then the
    files directly in the folder; a filtered view holds files only.

    Attributes:
        files: The files on the page, in display order (after the page's folders).
        total: How many rows there are in all: the matching files, or in the folder
            view the sub-folders plus the files directly in the folder.
        index: The page shown (0-based; clamped into range).
        pages: How many pages there are (at least 1).
        scanned: Whether producing it needed a snapshot of the candidate range.
        folders: The sub-folders on the page, by name, each with the file count and
            bytes below it (folder view only).
        folder_total: How many sub-folders the folder has in all (folder view only).
        below: The files below the folder at any depth, and their bytes (folder view
            only; ``None`` for a filtered view).
    """

    files: list[StoredFile]
    total: int
    index: int
    pages: int
    scanned: bool
    folders: list[PrefixUsage] = field(default_factory=list)
    folder_total: int = 0
    below: PrefixUsage | None = None


def _modified(file: StoredFile) -> datetime:
    return file.last_modified or _EPOCH


def _size(file: StoredFile) -> int:
    return file.size


def _total(folder: str, usage: list[PrefixUsage]) -> PrefixUsage:
    """Everything under ``folder``, from the usage of its sub-folders and of itself."""
    return PrefixUsage(folder, sum(u.file_count for u in usage), sum(u.used_bytes for u in usage))


def read_folder(storage: Any, folder: str) -> tuple[list[PrefixUsage], list[StoredFile], PrefixUsage]:
    """``(sub-folders by name with their usage, files directly in folder, usage below folder)``.

    ``storage`` is a synchronous storage of the contract: ``list_dir`` gives the
    sub-folders and the files, ``get_prefix_usage`` the file count and bytes of each
    sub-folder. The two calls are separate reads: a sub-folder that appeared in
    between shows zero files until the next refresh.
    """
    usage = storage.get_prefix_usage(folder)
    return _read_folder(storage, folder, usage)


def _read_folder(
    storage: Any, folder: str, usage: list[PrefixUsage]
) -> tuple[list[PrefixUsage], list[StoredFile], PrefixUsage]:
    listing = storage.list_dir(folder)
    by_prefix = {u.prefix: u for u in usage}
    folders = [by_prefix.get(p) or PrefixUsage(p, 0, 0) for p in sorted(listing.prefixes)]
    return folders, list(listing.files), _total(folder, usage)


class PageSource:
    """Computes pages of rows for a folder or a filter and an order, caching per generation.

    ``generation`` is a counter the caller bumps whenever the storage changed (the
    browser bumps it on every event, and calls :meth:`invalidate`): listings and scan
    results are reused only while it is unchanged. Not thread-safe on its own; the
    browser calls it under its render lock.
    """

    _NARROW = 4  # scan a prefix when a newest-first page would walk > 4x its size

    def __init__(self) -> None:
        """Start with an empty cache."""
        self._cache_id: tuple[str, str, int] | None = None
        self._candidates: list[StoredFile] = []
        self._folders: list[PrefixUsage] = []
        self._below: PrefixUsage | None = None
        self._orders: dict[SortKey, list[StoredFile]] = {}

    def invalidate(self) -> None:
        """Forget every cached listing and scan (so no file of an old listing is kept)."""
        self._cache_id = None
        self._candidates = []
        self._folders = []
        self._below = None
        self._orders = {}

    def folder_page(
        self, storage: Any, folder: str, sort: SortKey, index: int, size: int, generation: int
    ) -> Page:
        """The page ``index`` (0-based, clamped) of ``size`` rows of ``folder``.

        The rows are the sub-folders of ``folder`` by name, then the files directly in
        it in ``sort`` order; folders count as rows. ``storage`` is a synchronous storage
        of the contract (``list_dir``, ``get_prefix_usage``; and for a folder without
        sub-folders, whose files are all the files under its prefix, the cheaper paged
        reads of a prefix filter: ``count`` and ``list_page``).
        """
        cache_id = ("folder", folder, generation)
        if self._cache_id != cache_id:
            usage = storage.get_prefix_usage(folder)
            if all(u.prefix == folder for u in usage):  # no sub-folder: page it like a prefix
                flat = self.page(storage, Filter(folder, folder, False), sort, index, size, generation)
                return replace(flat, below=_total(folder, usage))
            self.invalidate()
            self._folders, self._candidates, self._below = _read_folder(storage, folder, usage)
            self._cache_id = cache_id
        folders, files = self._folders, self._candidates
        total = len(folders) + len(files)
        index, pages = _clamp(index, total, size)
        start = index * size
        stop = start + size
        first = max(start - len(folders), 0)
        last = max(stop - len(folders), 0)
        ordered = files if sort == "key" else self._ordered(files, sort, last)
        return Page(
            ordered[first:last],
            total,
            index,
            pages,
            True,
            folders=folders[start:stop],
            folder_total=len(folders),
            below=self._below,
        )

    def page(self, storage: Any, flt: Filter, sort: SortKey, index: int, size: int, generation: int) -> Page:
        """The page ``index`` (0-based, clamped) of ``size`` files matching ``flt`` in ``sort`` order.

        ``storage`` is a synchronous storage of the contract (``count``, ``list_page``,
        ``list``, ``glob``).
        """
        if not flt.is_glob and sort == "key":
            total = storage.count(flt.prefix)
            index, pages = _clamp(index, total, size)
            files = storage.list_page(flt.prefix, offset=index * size, limit=size)
            return Page(files, total, index, pages, False)
        if not flt.is_glob and sort == "modified":
            total = storage.count(flt.prefix)
            index, pages = _clamp(index, total, size)
            offset = index * size
            stored = storage.get_usage().file_count
            # Newest first walks back from the newest file of the whole storage: cheap when
            # most files are under the prefix; a narrow prefix is scanned instead.
            if not flt.prefix or (offset + size) * stored <= self._NARROW * total * total:
                files = storage.list_page(flt.prefix, offset=offset, limit=size, order="newest")
                return Page(files, total, index, pages, False)
        candidates = self._scan(storage, flt, generation)
        total = len(candidates)
        index, pages = _clamp(index, total, size)
        offset = index * size
        if sort == "key":
            return Page(candidates[offset : offset + size], total, index, pages, True)
        ordered = self._ordered(candidates, sort, offset + size)
        return Page(ordered[offset : offset + size], total, index, pages, True)

    def _scan(self, storage: Any, flt: Filter, generation: int) -> list[StoredFile]:
        cache_id = ("glob" if flt.is_glob else "prefix", flt.text, generation)
        if self._cache_id != cache_id:
            self.invalidate()
            if flt.is_glob:
                self._candidates = list(storage.glob(flt.text))
            else:
                self._candidates = list(storage.list(flt.prefix))
            self._cache_id = cache_id
        return self._candidates

    def _ordered(self, candidates: list[StoredFile], sort: SortKey, depth: int) -> list[StoredFile]:
        """The first ``depth`` candidates in ``sort`` order (ties in key order), cached."""
        cached = self._orders.get(sort)
        if cached is not None and (len(cached) >= depth or len(cached) == len(candidates)):
            return cached
        key = _size if sort == "size" else _modified
        # Compute well past the requested page so that paging on stays cheap.
        want = max(depth * 2, 1000)
        if want * 8 >= len(candidates):
            ordered = sorted(candidates, key=key, reverse=True)  # stable: ties keep key order
        else:
            ordered = heapq.nlargest(want, candidates, key=key)
        self._orders[sort] = ordered
        return ordered


def _clamp(index: int, total: int, size: int) -> tuple[int, int]:
    pages = max(1, -(-total // size))
    return min(max(index, 0), pages - 1), pages


class UsageTrend:
    """Used bytes over the last ``window`` seconds, for the sparkline beside the gauge.

    The browser records the used bytes at every render (so at every change, throttled).
    Samples are kept one per ``window / buckets`` seconds (a later sample in the same
    slot replaces the earlier one), so a store changing a thousand times a second still
    keeps at most ``buckets + 1`` points. Thread-safe enough for the browser, which
    records under its render lock.
    """

    def __init__(self, window: float = 300.0, buckets: int = 120, clock: Any = time.monotonic) -> None:
        """Keep ``window`` seconds of history in ``buckets`` slots; ``clock`` is for tests."""
        self.window = window
        self._slot = window / buckets
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def record(self, used_bytes: int) -> None:
        """Note the used bytes now."""
        now = self._clock()
        samples = self._samples
        if samples and samples[-1][1] == used_bytes:
            if len(samples) >= 2 and samples[-2][1] == used_bytes:
                samples[-1] = (now, used_bytes)  # a flat stretch needs only its two ends
            else:
                samples.append((now, used_bytes))
        elif len(samples) >= 2 and now - samples[-2][0] < self._slot:
            samples[-1] = (now, used_bytes)
        else:
            samples.append((now, used_bytes))
        while len(samples) > 2 and samples[1][0] < now - self.window:
            samples.popleft()

    def points(self) -> list[tuple[float, int]]:
        """``(seconds ago, used bytes)`` from the oldest kept sample to now, oldest first.

        The last value extends to now (nothing changed since), so the line reaches the
        right edge.
        """
        now = self._clock()
        out = [(max(0.0, now - at), used) for at, used in self._samples]
        if out and out[-1][0] > 0.0:
            out.append((0.0, out[-1][1]))
        return out
