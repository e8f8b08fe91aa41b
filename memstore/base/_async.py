"""The storage contract, written once for both faces: the protocol and the ABC.

Every public method of a memstore storage is described here once. A backend that
implements the abstract core methods (``put``, ``get``, ``delete``, ``exists``,
``list``, ``url``, ``info``) gets working defaults for everything else, built on them:
``get_bytes``, ``copy``, ``move``, and the queries the notebook browser, the HTML reprs
and the pytest plugin use (``get_usage``, ``get_prefix_usage``, ``count``,
``list_page``, ``subscribe``). Backends override the defaults where they can do better.

``_async.py`` is the source (``Storage``, ``BaseStorage``); ``_sync.py`` beside it
(``SyncStorage``, ``SyncBaseStorage``) is generated from it by ``tools/async_to_sync.py``
(docs/guides/design.md, "One async→sync path").
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from memstore._ops import (
    ASYNC,
    PageOrder,
    PutData,
    check_bound,
    check_folder_prefix,
    check_limit,
    check_offset,
    check_order,
    check_overwrite,
    check_prefix,
    check_ranges,
    closed_error,
    dir_listing,
    glob_matcher,
    modified_of,
)
from memstore.types import DirListing, PrefixUsage, StorageEvent, StorageUsage, StoredFile

if TYPE_CHECKING:
    from typing_extensions import Self

    from memstore.notebook import StorageBrowser

__all__ = ["BaseStorage", "Storage"]

_PAGE_LIMIT = 10_000


@runtime_checkable
class Storage(Protocol):
    """The object-storage API that memstore implements (a structural type).

    Any object with these methods can stand in for a memstore storage in code that only
    depends on the API.
    """

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
        """Store ``data`` at ``key`` and return its metadata (S3's conditions decided at commit)."""
        ...

    def get(self, key: str, *, start: int | None = None, end: int | None = None) -> AsyncIterator[bytes]:
        """Iterate over the contents of ``key`` (``data[start:end]``) in chunks."""
        ...

    async def get_bytes(self, key: str, *, start: int | None = None, end: int | None = None) -> bytes:
        """Return the contents of ``key`` (``data[start:end]``)."""
        ...

    async def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete ``key`` (only the version ``if_match`` when given)."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        ...

    def list(self, prefix: str = "", *, limit: int | None = None) -> AsyncIterator[StoredFile]:
        """Iterate over the files whose key starts with ``prefix``, in key order."""
        ...

    async def url(self, key: str, *, expires_in: timedelta | None = None) -> str:
        """Return a URL for ``key``."""
        ...

    async def copy(self, source: str, destination: str, *, overwrite: bool = True) -> StoredFile:
        """Copy ``source`` to ``destination``."""
        ...

    async def move(self, source: str, destination: str, *, overwrite: bool = True) -> StoredFile:
        """Move ``source`` to ``destination``."""
        ...

    async def info(self, key: str) -> StoredFile:
        """Return the metadata of ``key``."""
        ...

    async def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> builtins.list[bytes]:
        """Return ``data[start:end]`` of ``key`` for each range, from one version of the file."""
        ...

    async def list_dir(self, prefix: str = "") -> DirListing:
        """One "folder" level under ``prefix`` (S3's ListObjectsV2 with ``Delimiter="/"``)."""
        ...

    def glob(self, pattern: str, *, limit: int | None = None) -> AsyncIterator[StoredFile]:
        """Iterate over the files whose key matches the glob ``pattern``, in key order."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every file under ``prefix``; return how many."""
        ...

    async def close(self) -> None:
        """Release the storage's resources."""
        ...


class BaseStorage(ABC):
    """Abstract base class of storage backends: the core methods, defaults for the rest.

    Subclasses implement ``put``, ``get``, ``delete``, ``exists``, ``list``, ``url`` and
    ``info``. Every other method has a working default built on those, which a backend
    overrides when it can do better (an atomic ``move``, an O(1) ``get_usage`` ...).
    ``close`` does nothing by default; the context-manager protocol closes the storage.
    """

    @abstractmethod
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
        """Store ``data`` at ``key`` and return its metadata (S3's conditions decided at commit)."""

    @abstractmethod
    def get(self, key: str, *, start: int | None = None, end: int | None = None) -> AsyncIterator[bytes]:
        """Iterate over the contents of ``key`` (``data[start:end]``) in chunks."""

    @abstractmethod
    async def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete ``key`` (only the version ``if_match`` when given)."""

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""

    @abstractmethod
    def list(self, prefix: str = "", *, limit: int | None = None) -> AsyncIterator[StoredFile]:
        """Iterate over the files whose key starts with ``prefix``, in key order."""

    @abstractmethod
    async def url(self, key: str, *, expires_in: timedelta | None = None) -> str:
        """Return a URL for ``key``."""

    @abstractmethod
    async def info(self, key: str) -> StoredFile:
        """Return the metadata of ``key``."""

    # --------------------------------------------------------------- defaults
    async def get_bytes(self, key: str, *, start: int | None = None, end: int | None = None) -> bytes:
        """Return the contents of ``key``: ``data[start:end]``, Python slice semantics.

        The default collects the chunks of :meth:`get` and slices them.
        """
        start = check_bound("start", start)
        end = check_bound("end", end)
        chunks: list[bytes] = []
        async for chunk in self.get(key):
            chunks.append(chunk)
        data = b"".join(chunks)
        return data if start is None and end is None else data[start:end]

    async def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> builtins.list[bytes]:
        """The byte ranges ``data[start:end]`` of ``key`` for each ``(start, end)``, from one version.

        The default reads the file once with :meth:`get_bytes` and slices it.
        """
        pairs = check_ranges(ranges)
        data = await self.get_bytes(key)
        return [data[a:b] for a, b in pairs]

    async def copy(self, source: str, destination: str, *, overwrite: bool = True) -> StoredFile:
        """Copy ``source`` to ``destination`` (replacing it unless ``overwrite=False``).

        The default reads the source whole and puts it again with its content type and
        metadata, create-only (``if_none_match="*"``) when ``overwrite=False``.
        """
        overwrite = check_overwrite(overwrite)
        file = await self.info(source)
        data = await self.get_bytes(source)
        if overwrite:
            return await self.put(
                destination, data, content_type=file.content_type, metadata=dict(file.metadata)
            )
        return await self.put(
            destination, data, content_type=file.content_type, metadata=dict(file.metadata), if_none_match="*"
        )

    async def move(self, source: str, destination: str, *, overwrite: bool = True) -> StoredFile:
        """Move ``source`` to ``destination`` and return the moved file.

        The default copies, then deletes the source: not atomic, a backend with a rename
        overrides it.
        """
        file = await self.copy(source, destination, overwrite=overwrite)
        await self.delete(source)
        return file

    async def list_dir(self, prefix: str = "") -> DirListing:
        """One "folder" level under ``prefix``, as S3's ListObjectsV2 with ``Delimiter="/"``.

        ``files`` are the keys that start with ``prefix`` and have no further ``/``;
        ``prefixes`` are the distinct ``prefix + segment + "/"`` with at least one file
        below. The default walks :meth:`list` (O(k) for the k keys under the prefix).
        """
        prefix = check_prefix(prefix)
        files: builtins.list[StoredFile] = []
        async for file in self.list(prefix):
            files.append(file)
        folders, direct = dir_listing(prefix, files)
        return DirListing(tuple(folders), tuple(direct))

    async def glob(self, pattern: str, *, limit: int | None = None) -> AsyncIterator[StoredFile]:
        """The files whose key matches ``pattern``, in key order.

        ``*``, ``?`` and ``[...]`` (``[!...]`` negates) do not cross ``/``; ``**`` crosses
        any number of segments (``a/**/b`` also matches ``a/b``). The literal start of
        the pattern (before its first wildcard) narrows the listing to that range of
        keys; ``limit`` stops early.

        Raises:
            TypeError: If ``pattern`` is not a ``str`` or ``limit`` not an ``int``.
            ValueError: If ``limit`` is negative.
        """
        literal, match = glob_matcher(pattern)
        remaining = check_limit(limit)
        if remaining == 0:
            return
        async for file in self.list(literal):
            if match(file.key):
                yield file
                if remaining is not None:
                    remaining -= 1
                    if not remaining:
                        return

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every file whose key starts with ``prefix``; returns how many.

        The default lists the keys, then deletes them one by one (not atomic: a backend
        deletes them in one step when it can).

        Raises:
            ValueError: If ``prefix`` is ``""`` (call ``clear()`` to delete everything).
        """
        prefix = check_folder_prefix(prefix)
        keys: builtins.list[str] = []
        async for file in self.list(prefix):
            keys.append(file.key)
        for key in keys:
            await self.delete(key)
        return len(keys)

    async def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release the storage's resources. The default does nothing."""

    # ---------------------------------------------------------------- queries
    async def get_usage(self) -> StorageUsage:
        """The file count, the bytes used and the limit, as one snapshot.

        The default walks :meth:`list` (O(n)) and reports no limit.
        """
        count = used = 0
        async for file in self.list():
            count += 1
            used += file.size
        return StorageUsage(count, used, None)

    async def get_prefix_usage(self, prefix: str = "") -> builtins.list[PrefixUsage]:
        """Usage of each "folder" one level below ``prefix``, largest first, ties by name.

        With ``prefix=""``: the top-level folders, and ``""`` for the files at the top.
        Otherwise: each sub-folder of ``prefix``, and ``prefix`` itself for the files
        directly in it. The default walks :meth:`list` (O(k) for the k keys below).
        """
        prefix = check_prefix(prefix)
        totals: dict[str, list[int]] = {}
        async for file in self.list(prefix):
            slash = file.key.find("/", len(prefix))
            folder = prefix if slash < 0 else file.key[: slash + 1]
            counters = totals.setdefault(folder, [0, 0])
            counters[0] += 1
            counters[1] += file.size
        items = [PrefixUsage(p, c, b) for p, (c, b) in totals.items()]
        items.sort(key=lambda u: (-u.used_bytes, u.prefix))
        return items

    async def count(self, prefix: str = "") -> int:
        """The number of files whose key starts with ``prefix``.

        The default walks :meth:`list` (O(k)).
        """
        prefix = check_prefix(prefix)
        found = 0
        async for _ in self.list(prefix):
            found += 1
        return found

    async def list_page(
        self, prefix: str = "", *, offset: int = 0, limit: int = 50, order: PageOrder = "key"
    ) -> builtins.list[StoredFile]:
        """The files ``offset`` to ``offset + limit`` among those under ``prefix``, in ``order``.

        ``order`` is ``"key"`` (key order) or ``"newest"`` (most recently modified first).

        What a paginated view needs. The default walks :meth:`list` past ``offset`` (and
        sorts the whole listing for ``"newest"``).

        Raises:
            TypeError: If an argument has the wrong type.
            ValueError: If ``offset`` is negative, ``limit`` is not in 0..10000 or ``order``
                is neither ``"key"`` nor ``"newest"``.
        """
        prefix = check_prefix(prefix)
        offset = check_offset(offset)
        if type(limit) is not int:
            raise TypeError(f"limit must be an int, not {type(limit).__name__}")
        if not 0 <= limit <= _PAGE_LIMIT:
            raise ValueError(f"limit must be between 0 and {_PAGE_LIMIT}, got {limit}")
        order = check_order(order)
        out: list[StoredFile] = []
        if not limit:
            return out
        if order == "newest":
            files: builtins.list[StoredFile] = []
            async for file in self.list(prefix):
                files.append(file)
            files.sort(key=modified_of, reverse=True)  # stable: ties keep key order
            return files[offset : offset + limit]
        skip = offset
        async for file in self.list(prefix, limit=offset + limit):
            if skip:
                skip -= 1
            else:
                out.append(file)
        return out

    def subscribe(self, callback: Callable[[StorageEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after every change; returns a function that unsubscribes.

        The default backend has no change notifications: the callback is never called
        (a browser on it refreshes only when asked). Backends with events override it.

        Raises:
            TypeError: If ``callback`` is not callable.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        return _never

    def browse(self, *, page_size: int = 50) -> StorageBrowser:
        """Open a live :class:`memstore.notebook.StorageBrowser` on this storage (needs ipywidgets).

        The browser uses only the contract, so every backend has it: it re-renders on
        the storage's change events (a backend without events refreshes when asked).

        Args:
            page_size: Rows per page (1 to 1000).

        Raises:
            StorageClosedError: If the storage is closed.
            ImportError: If ipywidgets is not installed (the ``notebook`` extra).
        """
        if self.closed:
            raise closed_error(self)
        from memstore.notebook import StorageBrowser

        return StorageBrowser(self, page_size=page_size)

    @property
    def closed(self) -> bool:
        """Whether the storage was closed. The default backend never says so."""
        return False

    # ---------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> Self:
        """Enter the context: returns the storage itself."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave the context: closes the storage."""
        await self.close()

    # ------------------------------------------------------------------ reprs
    if ASYNC:

        def __repr__(self) -> str:
            """``Name(files=3, used_bytes=1024, max_size=None)``, or ``Name(closed)``."""
            if self.closed:
                return f"{type(self).__name__}(closed)"
            view = self.as_sync()
            try:
                return _summary(type(self).__name__, view.get_usage())
            finally:
                view.close()

        def _repr_html_(self) -> str:
            """An HTML summary for notebooks: totals, quota and the first files (escaped)."""
            if self.closed:
                return _closed_html(type(self).__name__)
            view = self.as_sync()
            try:
                return _storage_html(type(self).__name__, view.get_usage(), list(view.list(limit=10)))
            finally:
                view.close()

        def as_sync(self) -> Any:
            """The synchronous face of this storage (same files), for threads and notebooks.

            The default runs each call on memstore's shared blocking portal; a backend
            with a generated synchronous twin returns that instead.
            """
            from memstore._portal import PortalFacade

            return PortalFacade(self)

    else:

        def __repr__(self) -> str:
            """``Name(files=3, used_bytes=1024, max_size=None)``, or ``Name(closed)``."""
            if self.closed:
                return f"{type(self).__name__}(closed)"
            return _summary(type(self).__name__, self.get_usage())

        def _repr_html_(self) -> str:
            """An HTML summary for notebooks: totals, quota and the first files (escaped)."""
            if self.closed:
                return _closed_html(type(self).__name__)
            return _storage_html(type(self).__name__, self.get_usage(), list(self.list(limit=10)))


def _summary(name: str, usage: StorageUsage) -> str:
    return f"{name}(files={usage.file_count}, used_bytes={usage.used_bytes}, max_size={usage.max_size})"


def _closed_html(name: str) -> str:
    from memstore._html import esc

    return f"<div class='memstore-storage'><b>{esc(name)}</b> (closed)</div>"


def _storage_html(name: str, usage: StorageUsage, files: list[StoredFile]) -> str:
    from memstore._html import storage_html

    return storage_html(name, usage, files, len(files))


def _never() -> None:
    """Unsubscribe from a backend without events: nothing to do."""
