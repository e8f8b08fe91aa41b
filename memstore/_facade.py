"""The hand-written half of the sync facade: construction, lifecycle and reprs.

The other half, one method per public member of :class:`~memstore.MemoryStorage`, is
generated into :mod:`memstore._sync` by :mod:`memstore._codegen`.
"""

from __future__ import annotations

import weakref
from threading import get_ident
from types import TracebackType
from typing import TYPE_CHECKING

from memstore._runner import Runner, RunnerName, portal_host
from memstore.exceptions import StorageClosedError
from memstore.memory import MemoryConfig, MemoryStorage

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["SyncFacade"]


class SyncFacade:
    """Lifecycle shared by the generated sync facades (see :class:`memstore.SyncMemoryStorage`)."""

    _storage: MemoryStorage

    def __init__(self, config: MemoryConfig | None = None, *, runner: RunnerName = "portal") -> None:
        """Create a facade over a new :class:`~memstore.MemoryStorage`.

        Args:
            config: The core's configuration (:class:`~memstore.MemoryConfig`).
            runner: How calls with async inputs (async iterables given to ``put``) run:
                ``"portal"`` (default) on memstore's shared anyio blocking portal, or
                ``"nested"`` on the caller's own running asyncio loop through
                nest-asyncio2, for async streams bound to that loop. Calls with plain
                inputs always run directly in the calling thread.

        Raises:
            TypeError: If ``config`` is not a :class:`~memstore.MemoryConfig` or ``None``.
            ValueError: If ``runner`` is not ``"portal"`` or ``"nested"``.
            ImportError: If ``runner="nested"`` and nest-asyncio2 is not installed.
        """
        self._setup(MemoryStorage(config), owns=True, runner=runner)

    def _setup(self, storage: MemoryStorage, *, owns: bool, runner: RunnerName) -> None:
        self._runner = Runner(runner, owner=type(self).__name__)
        self._storage = storage
        self._owns = owns
        self._closed = False
        self._chunk_size = storage.config.chunk_size
        portal_host.acquire()
        self._release = weakref.finalize(self, portal_host.release)

    @classmethod
    def wrap(cls, storage: MemoryStorage, *, runner: RunnerName = "portal") -> Self:
        """A facade over an existing :class:`~memstore.MemoryStorage`.

        Files are shared with everyone who uses ``storage``; closing the facade does
        not close ``storage``.

        Raises:
            TypeError: If ``storage`` is not a :class:`~memstore.MemoryStorage`.
        """
        if not isinstance(storage, MemoryStorage):
            raise TypeError(f"wrap() needs a MemoryStorage, not {type(storage).__name__}")
        self = cls.__new__(cls)
        self._setup(storage, owns=False, runner=runner)
        return self

    @property
    def async_storage(self) -> MemoryStorage:
        """The async :class:`~memstore.MemoryStorage` this facade runs on."""
        return self._storage

    @property
    def config(self) -> MemoryConfig:
        """The core's :class:`~memstore.MemoryConfig`."""
        return self._storage.config

    @property
    def runner(self) -> RunnerName:
        """How calls with async inputs run: ``"portal"`` or ``"nested"``."""
        return self._runner.name

    @property
    def closed(self) -> bool:
        """Whether this facade (or the storage under it) is closed."""
        return self._closed or self._storage.closed

    def _checked(self) -> MemoryStorage:
        """The core, if this facade is open (for members that are synchronous on the core too)."""
        if self._closed:
            raise StorageClosedError(f"this {type(self).__name__} is closed")
        return self._storage

    def _open(self, method: str) -> MemoryStorage:
        """The core, after checking that a call to the twin of an async ``method`` may go ahead."""
        if self._closed:
            raise StorageClosedError(f"this {type(self).__name__} is closed")
        if portal_host.thread_id is not None and get_ident() == portal_host.thread_id:
            raise RuntimeError(
                f"{type(self).__name__}.{method}() was called from inside memstore's portal event "
                "loop, where a blocking call would stall the loop, or wait for itself forever. In "
                f"async code, await the async core instead: `await storage.async_storage.{method}(...)`. "
                "(Synchronous members such as `usage` work anywhere.)"
            )
        return self._storage

    def close(self) -> None:
        """Close the facade (idempotent).

        A facade that created its storage closes it too (dropping its contents); one
        made by :meth:`wrap` leaves the wrapped storage open. When the last open facade
        of the process closes, memstore's portal thread stops.
        """
        if self._closed:
            return
        self._closed = True
        if self._owns:
            self._storage._engine.close()
        self._release()

    def __enter__(self) -> Self:
        """Enter ``with``: returns the facade."""
        self._checked()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave ``with``: closes the facade."""
        self.close()

    def __repr__(self) -> str:
        """``SyncMemoryStorage(files=3, used_bytes=1024, max_size=None)``."""
        name = type(self).__name__
        if self.closed:
            return f"{name}(closed)"
        u = self._storage._engine.usage()
        return f"{name}(files={u.file_count}, used_bytes={u.used_bytes}, max_size={u.max_size})"

    def _repr_html_(self) -> str:
        """An HTML summary for notebooks: totals, quota and the first files (escaped)."""
        from memstore._html import storage_html

        name = type(self).__name__
        if self.closed:
            return f"<div class='memstore-storage'><b>{name}</b> (closed)</div>"
        engine = self._storage._engine
        files = engine.list_page("", None, 10)
        return storage_html(name, engine.usage(), files, len(files))
