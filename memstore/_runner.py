"""How synchronous code runs what needs the async core's coroutines.

Most of :class:`~memstore.SyncMemoryStorage` never comes here: the code generator
(:mod:`memstore._codegen`) turns each async method body into a synchronous twin that
runs right in the calling thread. What remains is what only a coroutine can do —
reading a stream given to ``put`` — and bodies the generator could not make
synchronous. :class:`Runner` runs those, choosing per call:

1. **Inline.** With plain inputs (bytes, str, sync iterables and files wrapped by
   :func:`to_put_data` ...) the coroutine is driven to completion right here, with
   :data:`memstore._concurrency.INLINE` set so that "offload to a worker thread" runs
   in the calling thread (which is blocked for the call anyway). Should it ever
   suspend, it is closed before its commit step (DESIGN.md invariant 1: nothing has
   changed) and retried on a loop.
2. **The blocking portal.** Calls with async inputs run on one anyio blocking portal
   shared by every facade in the process: started on first use, held while any facade
   is open, stopped when the last one closes and at interpreter exit; a forked child
   starts its own. Ctrl-C while waiting cancels the call at its next await, so it never
   commits half a write; a call already past its last await still completes, whole.
3. **Nested** (opt-in, ``runner="nested"``): calls with async inputs run on the
   caller's own running asyncio loop through nest-asyncio2 (for streams bound to that
   loop, e.g. in a Jupyter cell). Nothing is patched on import.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import timedelta
from types import ModuleType
from typing import IO, Any, Literal, Protocol, TypeVar, runtime_checkable

import anyio.to_thread
from anyio.from_thread import BlockingPortal, start_blocking_portal

from memstore._concurrency import INLINE
from memstore.base import BytesLike

__all__ = [
    "PortalHost",
    "Runner",
    "RunnerName",
    "SyncPutData",
    "SyncStream",
    "portal_host",
    "to_put_data",
]

T = TypeVar("T")
RunnerName = Literal["portal", "nested"]


@runtime_checkable
class BinaryReader(Protocol):
    """Anything with a ``read(size)`` method returning bytes: an open binary file, BytesIO ..."""

    def read(self, size: int = -1, /) -> bytes:
        """Read up to ``size`` bytes (``b""`` at the end)."""
        ...


SyncPutData = BytesLike | Iterable[BytesLike] | IO[bytes] | BinaryReader | AsyncIterable[BytesLike]
"""What the sync ``put`` accepts: bytes-like data, any iterable of bytes chunks (a
generator, a list), a binary file object, or an async iterable of bytes."""

# ---------------------------------------------------------------------------- inputs

_END = object()


class SyncStream:
    """An async iterator over a synchronous source of chunks (an iterable or a binary file).

    In inline mode each chunk is read right in the calling thread; otherwise the read
    runs in a worker thread so it never blocks an event loop.
    """

    __slots__ = ("_next",)

    def __init__(self, next_chunk: Callable[[], object]) -> None:
        """Wrap ``next_chunk``, which returns the next chunk or ``_END``."""
        self._next = next_chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Return the iterator itself."""
        return self

    async def __anext__(self) -> bytes:
        """The next chunk; raises ``StopAsyncIteration`` at the end."""
        chunk = self._next() if INLINE.get() else await anyio.to_thread.run_sync(self._next)
        if chunk is _END:
            raise StopAsyncIteration
        return chunk  # type: ignore[return-value]  # the core checks each chunk's type


def _from_reader(reader: Any, chunk_size: int) -> SyncStream:
    def next_chunk() -> object:
        chunk = reader.read(chunk_size)
        if isinstance(chunk, str):
            raise TypeError("put() needs a file opened in binary mode ('rb'), got one that returns str")
        return chunk if chunk else _END

    return SyncStream(next_chunk)


def _from_iterable(iterable: Iterable[BytesLike]) -> SyncStream:
    iterator = iter(iterable)
    return SyncStream(functools.partial(next, iterator, _END))


def to_put_data(data: SyncPutData, chunk_size: int = 64 * 1024) -> Any:
    """Turn what the sync ``put`` accepts into what the async ``put`` accepts.

    Bytes-like data and async iterables pass through; a binary file object is read in
    ``chunk_size`` chunks; any other iterable is iterated for its chunks.

    Raises:
        TypeError: For ``str`` (encode it first), ``None``, numbers and other
            non-iterables.
    """
    if isinstance(data, (bytes, bytearray, memoryview)) or hasattr(data, "__aiter__"):
        return data
    if isinstance(data, str):
        raise TypeError("data must be bytes, not str: encode it first, e.g. text.encode('utf-8')")
    if isinstance(data, Mapping):
        raise TypeError(f"data must be bytes or an iterable of bytes chunks, not {type(data).__name__}")
    if hasattr(data, "read"):
        return _from_reader(data, chunk_size)
    if isinstance(data, Iterable):
        return _from_iterable(data)
    raise TypeError(
        "data must be bytes, bytearray, memoryview, an iterable of bytes, a binary file "
        f"object or an async iterable of bytes, not {type(data).__name__}"
    )


_PLAIN_TYPES = frozenset(
    {bytes, bytearray, memoryview, str, int, float, bool, type(None), dict, timedelta, SyncStream}
)


def _is_async_input(value: object) -> bool:
    """Whether ``value`` is an async input that only an event loop can consume."""
    cls = type(value)
    return hasattr(cls, "__aiter__") or hasattr(cls, "__await__")


# ---------------------------------------------------------------------------- portal


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
            cm, self._cm, self._portal, self.thread_id = self._cm, None, None, None
        if cm is not None:
            cm.__exit__(None, None, None)

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
        """Stop the portal whatever the leases (at interpreter exit)."""
        with self._lock:
            cm, self._cm, self._portal, self.thread_id = self._cm, None, None, None
        if cm is not None:
            cm.__exit__(None, None, None)

    def after_fork(self) -> None:
        """In a forked child: the parent's portal thread does not exist here; forget it.

        The parent's portal objects are kept (never finalized): closing them would wait
        for a thread that the child does not have.
        """
        self._lock = threading.RLock()
        if self._cm is not None:
            self._orphans.append((self._cm, self._portal))
        self._cm = self._portal = self.thread_id = None


portal_host = PortalHost()
"""The portal shared by every sync facade of this process."""

atexit.register(portal_host.shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=portal_host.after_fork)


# ---------------------------------------------------------------------------- running


def _drive(coro: Coroutine[Any, Any, T]) -> tuple[bool, T | None]:
    """Run ``coro`` inline; ``(True, result)`` if it completed, ``(False, None)`` if it suspended."""
    token = INLINE.set(True)
    try:
        try:
            coro.send(None)
        except StopIteration as stop:
            return True, stop.value
        coro.close()  # suspended before its commit step: nothing has changed
        return False, None
    finally:
        INLINE.reset(token)


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


class Runner:
    """Runs core coroutines and async generators for synchronous callers."""

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

    def _guard(self, what: str) -> None:
        if threading.get_ident() == portal_host.thread_id:
            raise RuntimeError(
                f"{self._owner}.{what}() was called from inside memstore's portal event loop, "
                "where it would wait for itself forever. In async code, await the async core "
                f"instead: `await storage.async_storage.{what}(...)`."
            )

    def call(self, func: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T:
        """Run ``func(*args, **kwargs)`` (a coroutine function) to completion and return its result.

        ``args[0]`` is the core storage (never an async input); the fast path is kept
        flat on purpose: it is most of what a small sync call costs.
        """
        if portal_host.thread_id is not None:
            self._guard(func.__name__)
        for value in args[1:]:
            if type(value) not in _PLAIN_TYPES and _is_async_input(value):
                return self._on_loop(func, args, kwargs)
        if kwargs:
            for value in kwargs.values():
                if type(value) not in _PLAIN_TYPES and _is_async_input(value):
                    return self._on_loop(func, args, kwargs)
        token = INLINE.set(True)
        try:
            coro = func(*args, **kwargs)
            try:
                coro.send(None)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            coro.close()  # it suspended before its commit step: nothing has changed
        finally:
            INLINE.reset(token)
        if any(type(v) is SyncStream for v in (*args, *kwargs.values())):
            raise RuntimeError(f"{self._owner}.{func.__name__}() suspended while reading a stream")
        return self._on_loop(func, args, kwargs)

    def _on_loop(self, func: Callable[..., Coroutine[Any, Any, T]], args: Any, kwargs: Any) -> T:
        if self._nest is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                self._nest.apply(loop)
                result: T = loop.run_until_complete(func(*args, **kwargs))
                return result
        portal_host.acquire()
        try:
            future = portal_host.portal().start_task_soon(functools.partial(func, *args, **kwargs))
            try:
                value: T = future.result()
            except BaseException:
                future.cancel()  # e.g. KeyboardInterrupt: cancel the task before its commit step
                raise
        finally:
            portal_host.release()
        return value

    def iterate(self, func: Callable[..., AsyncIterator[T]], *args: Any, **kwargs: Any) -> Iterator[T]:
        """Iterate over the async generator ``func(*args, **kwargs)`` synchronously, lazily.

        Abandoning the iterator (``close()`` or garbage collection) closes the async
        generator too.
        """
        if portal_host.thread_id is not None:
            self._guard(func.__name__)
        agen = func(*args, **kwargs)
        try:
            while True:
                try:
                    done, item = _drive(agen.__anext__())  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
                if not done:
                    raise RuntimeError(f"{self._owner}.{func.__name__}() cannot suspend")
                yield item  # type: ignore[misc]
        finally:
            _drive(agen.aclose())  # type: ignore[attr-defined]
