"""The only places where the async faces wait: worker threads, checkpoints, closing streams.

The generator (``tools/async_to_sync.py``) maps each of them for the sync faces:
``await offload(f, *args, when=...)`` becomes ``f(*args)``, ``await checkpoint()`` is dropped and
``aclose_quietly`` becomes :func:`close_quietly`, ``aiter_chunks`` becomes
:func:`iter_chunks` and ``apaced`` becomes :func:`paced` (all re-exported from
:mod:`memstore._ops`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

import anyio.lowlevel
import anyio.to_thread

from memstore._ops import PACE_BYTES, close_quietly, is_async_iterable, iter_chunks, paced

__all__ = [
    "aclose_quietly",
    "aiter_chunks",
    "apaced",
    "checkpoint",
    "close_quietly",
    "iter_chunks",
    "offload",
    "paced",
]

T = TypeVar("T")


async def offload(func: Callable[..., T], *args: object, when: bool = True) -> T:
    """Run ``func(*args)`` in a worker thread (if ``when``), so the event loop keeps running.

    ``when=False`` runs it right here: a thread hop costs more than small work.
    """
    if when:
        return await anyio.to_thread.run_sync(func, *args)
    return func(*args)


async def checkpoint() -> None:
    """Let other tasks run, and a cancellation land."""
    await anyio.lowlevel.checkpoint()


async def apaced(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """Yield ``chunks``, letting other tasks run after every :data:`~memstore._ops.PACE_BYTES`.

    Yielding from an async generator does not give the event loop a turn: a reader of a
    1 GiB file would hold the loop for the whole read (and whatever the consumer does with
    each chunk). A checkpoint every 4 MiB bounds that, for about 1 % of the read's time.
    """
    due = 0
    for chunk in chunks:
        yield chunk
        due += len(chunk)
        if due >= PACE_BYTES:
            due = 0
            await checkpoint()


async def aclose_quietly(stream: object) -> None:
    """Close an async generator (anything with ``aclose``) that a failed put was reading."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):  # the original error matters more
            await aclose()


_END = object()


def aiter_chunks(data: object, chunk_size: int) -> AsyncIterable[Any]:
    """``data`` as the async stream of chunks the async ``put`` reads.

    An async iterable is read as it is. A blocking binary file object (an open file, an
    upload's spooled file, ``BytesIO``) is read ``chunk_size`` bytes at a time in a
    worker thread, so the event loop never waits on it.

    Raises:
        TypeError: If ``data`` is neither a buffer, an async iterable nor a binary file.
        ValueError: For a non-blocking file.
    """
    if is_async_iterable(data):
        return data
    if hasattr(data, "read"):
        return _read_in_threads(iter_chunks(data, chunk_size))
    raise TypeError(
        "data must be bytes, bytearray, memoryview (or another buffer), an async iterable of "
        f"bytes or a binary file object, not {type(data).__name__}"
    )


async def _read_in_threads(chunks: Iterator[Any]) -> AsyncIterator[Any]:
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, _END)
            if chunk is _END:
                return
            yield chunk
    finally:
        close_quietly(chunks)
