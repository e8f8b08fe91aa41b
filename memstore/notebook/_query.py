"""Which files the browser shows: filtering, sorting and paging (no widgets).

Every read goes through the public synchronous contract (``count``, ``list_page``,
``list``), so the browser works on any backend. Costs on the memory backend, with ``n``
files stored and ``k`` of them under the filter's literal prefix:

* a plain prefix (or no filter) sorted by key: O(log n + page) through the sorted index
  (``count`` and ``list_page``);
* a plain prefix sorted by modification time: ``list_page(order="newest")``, which the
  memory backend answers in O(offset + page) from its modification-ordered entries when
  most files match; a narrow prefix is listed and sorted instead (O(log n + k));
* sorting by size, or any glob: needs every candidate, O(log n
  + k) to list the prefix range (the whole store for a glob that starts with a
  wildcard, like ``*.csv``) plus O(k log page) for the heap. The candidates and the
  orderings are cached until the storage changes (the browser drops the cache on every
  change event), so paging through an unchanged result costs only the page.
"""

from __future__ import annotations

import fnmatch
import heapq
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from memstore.types import StoredFile

__all__ = ["SORTS", "Filter", "Page", "PageSource", "SortKey", "parse_filter"]

SortKey = Literal["key", "size", "modified"]
"""How rows are ordered: by key (A→Z), by size (largest first) or modified (newest first)."""

SORTS: tuple[SortKey, ...] = ("key", "size", "modified")

_WILDCARDS = re.compile(r"[*?\[]")
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Filter:
    """A parsed filter: the literal prefix that narrows the index, and a glob matcher.

    Attributes:
        text: The filter as typed (stripped of surrounding whitespace).
        prefix: Every matching key starts with this (the text before the first wildcard).
        match: ``None`` for a plain prefix filter; else a function telling whether a key
            matches the whole glob (``fnmatch`` rules, case-sensitive, ``*`` also
            matches ``/``).
    """

    text: str
    prefix: str
    match: Callable[[str], object] | None

    @property
    def is_glob(self) -> bool:
        """Whether the filter contains a wildcard (``*``, ``?`` or ``[``)."""
        return self.match is not None


def parse_filter(text: str) -> Filter:
    """Parse what was typed in the filter box.

    Text without ``*``, ``?`` or ``[`` is a key prefix. Otherwise it is a glob matched
    against whole keys, e.g. ``*.csv`` or ``logs/2024-*.txt``; the literal text before
    the first wildcard (``logs/2024-``) narrows the candidates through the sorted index,
    so a glob that starts with a wildcard has to scan every key.
    """
    text = text.strip()
    found = _WILDCARDS.search(text)
    if found is None:
        return Filter(text, text, None)
    matcher = re.compile(fnmatch.translate(text), re.DOTALL).match
    return Filter(text, text[: found.start()], matcher)


@dataclass(frozen=True)
class Page:
    """One page of the listing.

    Attributes:
        files: The files on the page, in display order.
        total: How many files match the filter.
        index: The page shown (0-based; clamped into range).
        pages: How many pages there are (at least 1).
        scanned: Whether producing it needed a snapshot of the candidate range.
    """

    files: list[StoredFile]
    total: int
    index: int
    pages: int
    scanned: bool


def _modified(file: StoredFile) -> datetime:
    return file.last_modified or _EPOCH


def _size(file: StoredFile) -> int:
    return file.size


class PageSource:
    """Computes pages of files for a filter and an order, caching scans per generation.

    ``generation`` is a counter the caller bumps whenever the storage changed (the
    browser bumps it on every event, and calls :meth:`invalidate`): scan results are
    reused only while it is unchanged. Not thread-safe on its own; the browser calls it
    under its render lock.
    """

    _NARROW = 4  # scan a prefix when a newest-first page would walk > 4x its size

    def __init__(self) -> None:
        """Start with an empty cache."""
        self._cache_id: tuple[str, int] | None = None
        self._candidates: list[StoredFile] = []
        self._orders: dict[SortKey, list[StoredFile]] = {}

    def invalidate(self) -> None:
        """Forget every cached scan (so no file of an old listing is kept)."""
        self._cache_id = None
        self._candidates = []
        self._orders = {}

    def page(self, storage: Any, flt: Filter, sort: SortKey, index: int, size: int, generation: int) -> Page:
        """The page ``index`` (0-based, clamped) of ``size`` files matching ``flt`` in ``sort`` order.

        ``storage`` is a synchronous storage of the contract (``count``, ``list_page``,
        ``list``).
        """
        if flt.match is None and sort == "key":
            total = storage.count(flt.prefix)
            index, pages = _clamp(index, total, size)
            files = storage.list_page(flt.prefix, offset=index * size, limit=size)
            return Page(files, total, index, pages, False)
        if flt.match is None and sort == "modified":
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
        cache_id = (flt.text, generation)
        if self._cache_id != cache_id:
            files = list(storage.list(flt.prefix))
            match = flt.match
            if match is not None:
                files = [f for f in files if match(f.key)]
            self._cache_id = cache_id
            self._candidates = files
            self._orders = {}
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
