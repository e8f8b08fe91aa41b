"""The only places where the async faces wait: worker threads, checkpoints, closing streams.

The generator (``tools/async_to_sync.py``) maps each of them for the sync faces:
``await offload(f, *args, when=...)`` becomes ``f(*args)``, ``await checkpoint()`` is dropped and
``aclose_quietly`` becomes :func:`close_quietly` (re-exported from :mod:`memstore._ops`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

import anyio.lowlevel
import anyio.to_thread

from memstore._ops import close_quietly

__all__ = ["aclose_quietly", "checkpoint", "close_quietly", "offload"]

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


async def aclose_quietly(stream: object) -> None:
    """Close an async generator (anything with ``aclose``) that a failed put was reading."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):  # the original error matters more
            await aclose()
