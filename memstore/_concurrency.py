"""How the core waits: offloading heavy work, checkpoints, and the inline mode.

The async core only ever needs to suspend for two reasons: to move a large hash or
copy off the event loop, and to consume an async input stream. When a synchronous
caller runs a core coroutine to completion in its own thread (the sync facade's fast
path), :data:`INLINE` is set: the caller's thread is blocked for the call anyway, so
heavy work simply runs there and no event loop is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

import anyio
import anyio.lowlevel

__all__ = ["INLINE", "checkpoint", "offload"]

T = TypeVar("T")

INLINE: ContextVar[bool] = ContextVar("memstore_inline", default=False)
"""True while a core coroutine is being driven synchronously, outside any event loop."""


async def offload(func: Callable[..., T], *args: object) -> T:
    """Run ``func(*args)`` in a worker thread, or right here in inline mode."""
    if INLINE.get():
        return func(*args)
    return await anyio.to_thread.run_sync(func, *args)


async def checkpoint() -> None:
    """Let other tasks run (and cancellation land); nothing in inline mode."""
    if not INLINE.get():
        await anyio.lowlevel.checkpoint()
