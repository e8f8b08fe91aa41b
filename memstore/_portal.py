"""What synchronous code needs an event loop for: async streams given to a sync ``put``.

Every other call of a sync face runs its generated body right in the calling thread.
An async iterable, though, can only be read by an event loop, so :class:`Runner`
consumes it in one of two places:

1. **The shared blocking portal** (default): one anyio blocking portal per process,
   started on first use, held while any sync facade is open, stopped when the last one
   closes. At interpreter exit its in-flight tasks are cancelled, so exit never waits
   for an endless stream. A forked child starts its own. Ctrl-C while waiting cancels
   the task and returns once it has unwound, before its commit step.
2. **Nested** (opt-in, ``runner="nested"``): on the caller's own running asyncio loop
   through nest-asyncio2, for streams bound to that loop (a Jupyter cell). Nothing is
   patched on import.

A stream bound to the caller's loop cannot make progress on the portal while the call
blocks that loop's thread. When the calling thread runs an event loop and the stream
has not produced a chunk for :data:`STALL_TIMEOUT` seconds, the call is cancelled and
raises a ``RuntimeError`` that names ``runner="nested"``, instead of hanging forever.

anyio's ``BlockingPortalProvider`` is not reused for the portal: it starts the portal
on every lease (memstore starts it only when a stream needs it), its lock is not
re-entrant (a facade's garbage-collection finalizer releasing a lease inside it
deadlocks), it has no fork handling, and leaving it waits for the tasks in flight,
which would hang interpreter exit on an endless stream.
"""

from __future__ import annotations

import asyncio
import atexit
import builtins
import concurrent.futures
import contextlib
import os
import threading
import time
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import timedelta
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from memstore._ops import PageOrder
from memstore.types import DirListing, PrefixUsage, StorageEvent, StorageUsage, StoredFile

if TYPE_CHECKING:
    from typing_extensions import Self

    from memstore.base import BaseStorage

__all__ = [
    "STALL_TIMEOUT",
    "PortalFacade",
    "PortalHost",
    "Runner",
    "RunnerName",
    "portal_host",
    "run_blocking",
]

T = TypeVar("T")
RunnerName = Literal["portal", "nested"]

STALL_TIMEOUT = 10.0
"""Seconds a stream may go without a chunk, on the portal, while the calling thread's
own event loop is blocked by the call, before the call is cancelled."""

_POLL = 0.05


class PortalHost:
    """The process-wide blocking portal, leased by open facades and in-flight calls."""

    def __init__(self) -> None:
        """Create the host; no thread starts until a call needs the portal."""
        # Re-entrant: a facade's garbage-collection finalizer releases its lease, and the
        # collector can run in a thread that is already inside portal() or release().
        self._lock = threading.RLock()
        self._leases = 0
        self._cm: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self.thread_id: int | None = None
        self._orphans: list[object] = []

    @property
    def running(self) -> bool:
        """Whether the portal's event loop thread is running."""
        return self._portal is not None

    def acquire(self) -> None:
        """Take a lease: the portal stays up (once started) while leases are held."""
        with self._lock:
            self._leases += 1

    def release(self) -> None:
        """Give a lease back; the last one stops the portal and joins its thread."""
        with self._lock:
            self._leases -= 1
            if self._leases > 0 or threading.get_ident() == self.thread_id:
                return  # (the portal's own thread cannot stop it: atexit or the next release will)
            self._leases = 0
            cm, portal = self._take()
        _stop(cm, portal)

    def _take(self) -> tuple[AbstractContextManager[BlockingPortal] | None, BlockingPortal | None]:
        cm, portal = self._cm, self._portal
        self._cm, self._portal, self.thread_id = None, None, None
        return cm, portal

    def portal(self) -> BlockingPortal:
        """The running portal, started on first use."""
        with self._lock:
            if self._portal is None:
                cm = start_blocking_portal("asyncio", name="memstore-portal")
                portal = cm.__enter__()
                self._cm, self._portal = cm, portal
                self.thread_id = portal.call(threading.get_ident)
            return self._portal

    def shutdown(self) -> None:
        """Stop the portal whatever the leases, cancelling what runs on it (interpreter exit)."""
        with self._lock:
            cm, portal = self._take()
        _stop(cm, portal)

    def after_fork(self) -> None:
        """In a forked child: the parent's portal thread does not exist here; forget it.

        The parent's portal objects are kept (never finalized): closing them would wait
        for a thread that the child does not have.
        """
        self._lock = threading.RLock()
        if self._cm is not None:
            self._orphans.append((self._cm, self._portal))
        self._cm = self._portal = self.thread_id = None


def _stop(cm: AbstractContextManager[BlockingPortal] | None, portal: BlockingPortal | None) -> None:
    if cm is None or portal is None:
        return
    with contextlib.suppress(RuntimeError):  # (already stopping)
        portal.call(portal.stop, True)  # cancel the tasks still running: exit never waits on them
    cm.__exit__(None, None, None)


portal_host = PortalHost()
"""The portal shared by every sync facade of this process."""

atexit.register(portal_host.shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=portal_host.after_fork)


def _load_nest_asyncio() -> ModuleType:
    try:
        import nest_asyncio2 as nest
    except ImportError:
        try:
            import nest_asyncio as nest
        except ImportError:
            raise ImportError(
                "runner='nested' needs nest-asyncio2 (the maintained fork of nest-asyncio): "
                "pip install 'memstore[notebook]' or pip install nest-asyncio2"
            ) from None
    return nest  # type: ignore[no-any-return]


def _loop_running_here() -> bool:
    """Whether the calling thread is running an event loop (asyncio or trio)."""
    if asyncio._get_running_loop() is not None:
        return True
    try:
        import sniffio

        sniffio.current_async_library()
    except Exception:
        return False
    return True


class _Counted:
    """An async iterable that counts the chunks it passed on (how a stall is seen)."""

    def __init__(self, source: AsyncIterable[Any]) -> None:
        self.source = source
        self.chunks = 0

    async def __aiter__(self) -> AsyncIterator[Any]:
        iterator = self.source.__aiter__()
        try:
            while True:
                try:
                    chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    return
                self.chunks += 1
                yield chunk
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()


class Runner:
    """Consumes the async streams given to a sync face's ``put``."""

    def __init__(self, name: RunnerName = "portal", *, owner: str = "SyncMemoryStorage") -> None:
        """Create a runner; ``name`` is ``"portal"`` or ``"nested"``.

        Raises:
            ValueError: For another name.
            ImportError: For ``"nested"`` when neither nest-asyncio2 nor nest-asyncio is installed.
        """
        if name not in ("portal", "nested"):
            raise ValueError(f"runner must be 'portal' or 'nested', not {name!r}")
        self.name: RunnerName = name
        self._owner = owner
        self._nest = _load_nest_asyncio() if name == "nested" else None

    def run_put(
        self,
        core: Any,
        key: str,
        data: AsyncIterable[Any],
        content_type: str,
        meta: Mapping[str, str],
        **conditions: Any,
    ) -> StoredFile:
        """Run ``await core.put(key, data, ...)`` where an event loop can read ``data``."""
        if self._nest is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                self._nest.apply(loop)
                result: StoredFile = loop.run_until_complete(
                    core.put(key, data, content_type=content_type, metadata=meta, **conditions)
                )
                return result
        if threading.get_ident() == portal_host.thread_id:
            raise RuntimeError(
                f"{self._owner}.put() of an async stream was called from inside memstore's portal "
                "event loop, where it would wait for itself forever. In async code, await the "
                "async core instead: `await storage.async_storage.put(...)`."
            )
        counted = _Counted(data)

        async def task() -> StoredFile:
            file: StoredFile = await core.put(
                key, counted, content_type=content_type, metadata=meta, **conditions
            )
            return file

        watch = _loop_running_here()
        portal_host.acquire()
        try:
            future = portal_host.portal().start_task_soon(task)
            try:
                return self._wait(future, counted if watch else None)
            except BaseException:
                # Ctrl-C, or a stall: cancel the task, and return only once it has unwound.
                future.cancel()
                _wait_quietly(future)
                raise
        finally:
            portal_host.release()

    def _wait(self, future: concurrent.futures.Future[StoredFile], counted: _Counted | None) -> StoredFile:
        if counted is None:
            return future.result()
        seen, since = counted.chunks, time.monotonic()
        while True:
            try:
                return future.result(timeout=_POLL)
            except concurrent.futures.TimeoutError:
                pass
            if counted.chunks != seen:
                seen, since = counted.chunks, time.monotonic()
            elif time.monotonic() - since >= STALL_TIMEOUT:
                raise RuntimeError(
                    f"{self._owner}.put() gave up: the async stream produced nothing for "
                    f"{STALL_TIMEOUT:g} s on memstore's portal while this thread's own event loop "
                    "was blocked by the call. A stream bound to this thread's loop cannot run "
                    'there: create the storage with runner="nested", or await the async core '
                    "(`await storage.async_storage.put(...)`). Nothing was stored."
                )


def _wait_quietly(future: concurrent.futures.Future[Any]) -> None:
    while True:
        try:
            future.exception(timeout=None)
        except concurrent.futures.CancelledError:
            return
        except KeyboardInterrupt:  # a second Ctrl-C: keep waiting for the unwind
            continue
        return


def run_blocking(func: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine function ``func`` to completion from synchronous code.

    On a fresh event loop when this thread runs none, else on the shared portal.
    """
    if not _loop_running_here() and threading.get_ident() != portal_host.thread_id:
        return anyio.run(func)
    portal_host.acquire()
    try:
        return portal_host.portal().call(func)
    finally:
        portal_host.release()


class PortalFacade:
    """A synchronous face for any async storage of the contract, through the shared portal.

    What :meth:`memstore.BaseStorage.as_sync` returns for a backend without a generated
    synchronous twin: each call runs the async method on memstore's blocking portal.
    Iterators fetch one item per portal round trip.
    """

    def __init__(self, storage: BaseStorage) -> None:
        """Wrap ``storage``; closing the facade does not close it."""
        self.async_storage = storage
        portal_host.acquire()
        self._release = weakref.finalize(self, portal_host.release)

    def _call(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        async def run() -> T:
            return await func(*args, **kwargs)

        return portal_host.portal().call(run)

    def _iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        portal = portal_host.portal()
        try:
            while True:
                try:
                    yield portal.call(agen.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                portal.call(aclose)

    def put(self, key: str, data: Any, **kwargs: Any) -> StoredFile:
        """Store ``data`` at ``key`` (see the storage's ``put``)."""
        return self._call(self.async_storage.put, key, data, **kwargs)

    def get(self, key: str, **kwargs: Any) -> Iterator[bytes]:
        """Iterate over the contents of ``key`` (``start=``/``end=`` as the storage takes them)."""
        return self._iterate(self.async_storage.get(key, **kwargs))

    def get_bytes(self, key: str, **kwargs: Any) -> bytes:
        """The contents of ``key`` (``start=``/``end=`` as the storage takes them)."""
        return self._call(self.async_storage.get_bytes, key, **kwargs)

    def get_ranges(self, key: str, ranges: Any) -> builtins.list[bytes]:
        """Several byte ranges of ``key``, from one version."""
        return self._call(self.async_storage.get_ranges, key, ranges)

    def delete(self, key: str, **kwargs: Any) -> None:
        """Delete ``key`` (``if_match=`` as the storage takes it)."""
        self._call(self.async_storage.delete, key, **kwargs)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every file under ``prefix``; returns how many."""
        return self._call(self.async_storage.delete_prefix, prefix)

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        return self._call(self.async_storage.exists, key)

    def list(self, prefix: str = "", *, limit: int | None = None) -> Iterator[StoredFile]:
        """Iterate over the files under ``prefix`` in key order."""
        return self._iterate(self.async_storage.list(prefix, limit=limit))

    def list_dir(self, prefix: str = "") -> DirListing:
        """One folder level under ``prefix``."""
        return self._call(self.async_storage.list_dir, prefix)

    def glob(self, pattern: str, *, limit: int | None = None) -> Iterator[StoredFile]:
        """Iterate over the files whose key matches ``pattern``."""
        return self._iterate(self.async_storage.glob(pattern, limit=limit))

    def url(self, key: str, *, expires_in: timedelta | None = None) -> str:
        """A URL for ``key``."""
        return self._call(self.async_storage.url, key, expires_in=expires_in)

    def copy(self, source: str, destination: str, **kwargs: Any) -> StoredFile:
        """Copy ``source`` to ``destination`` (``overwrite=`` as the storage takes it)."""
        return self._call(self.async_storage.copy, source, destination, **kwargs)

    def move(self, source: str, destination: str, **kwargs: Any) -> StoredFile:
        """Move ``source`` to ``destination`` (``overwrite=`` as the storage takes it)."""
        return self._call(self.async_storage.move, source, destination, **kwargs)

    def info(self, key: str) -> StoredFile:
        """The metadata of ``key``."""
        return self._call(self.async_storage.info, key)

    def get_usage(self) -> StorageUsage:
        """The storage's totals (see ``BaseStorage.get_usage``)."""
        return self._call(self.async_storage.get_usage)

    def get_prefix_usage(self, prefix: str = "") -> builtins.list[PrefixUsage]:
        """Usage per folder below ``prefix`` (see ``BaseStorage.get_prefix_usage``)."""
        return self._call(self.async_storage.get_prefix_usage, prefix)

    def count(self, prefix: str = "") -> int:
        """The number of files under ``prefix``."""
        return self._call(self.async_storage.count, prefix)

    def list_page(
        self, prefix: str = "", *, offset: int = 0, limit: int = 50, order: PageOrder = "key"
    ) -> builtins.list[StoredFile]:
        """A page of files under ``prefix`` (see ``BaseStorage.list_page``)."""
        return self._call(self.async_storage.list_page, prefix, offset=offset, limit=limit, order=order)

    def subscribe(self, callback: Callable[[StorageEvent], None]) -> Callable[[], None]:
        """Subscribe to the storage's changes (see ``BaseStorage.subscribe``)."""
        return self.async_storage.subscribe(callback)

    @property
    def closed(self) -> bool:
        """Whether the storage is closed."""
        return self.async_storage.closed

    def close(self) -> None:
        """Release this facade's portal lease (the storage stays open)."""
        self._release()

    def __enter__(self) -> Self:
        """Enter ``with``: returns the facade."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Leave ``with``: closes the facade."""
        self.close()
