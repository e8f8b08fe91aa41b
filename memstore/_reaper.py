"""Big contents that leave a store are freed by one background thread (invariant 7).

Freeing a 1 GiB ``bytes`` object unmaps 262,144 pages in one C call that holds the GIL:
70-110 ms here, during which no other thread, the event loop's included, runs. A
streamed file of 1,024 parts frees them all at once when its tuple goes, which costs
the same. So a ``delete``, an overwriting ``put``, a ``clear`` or a ``close`` that drops a
big file would stop the loop for that long, in whichever thread the last reference
happened to go.

Instead, the engine hands each removed entry of at least :data:`RELEASE_BYTES` to
:func:`release`, which keeps it only if nothing but the entry holds the contents (so
nobody can tell when they go). A daemon thread waits until it holds the only reference
to the entry (the engine's own local goes a moment later; a snapshot may keep it longer,
and then whoever lets go last frees it), and then:

- drops the parts of a streamed file one at a time, so the interpreter switches threads
  between them (each part is 1 MiB by default: about 70 us to free);
- for one big ``bytes`` object that nobody else holds, first returns its pages to the
  kernel with ``madvise(MADV_DONTNEED)`` through ctypes, which releases the GIL during
  the call, so the final free only unmaps empty pages. Only on Linux with CPython; on
  other platforms the object is simply dropped in this thread.

The quota ledger is updated by the write itself: only the process memory comes back a
moment later.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
import threading
import time
from collections import deque
from typing import Any

__all__ = ["RELEASE_BYTES", "release", "wait_idle"]

RELEASE_BYTES = 16 << 20
"""Entries holding at least this many bytes are freed by the background thread."""

_OWNER_WAIT = 2.0  # seconds the thread waits to become the only holder of an entry
_MADV_DONTNEED = 4  # Linux
_PAGE = mmap.PAGESIZE


def _madvise_function() -> Any:
    """The C library's ``madvise`` (called with the GIL released), or None where it is unusable."""
    if not sys.platform.startswith("linux") or sys.implementation.name != "cpython":
        return None  # pragma: no cover - CI runs CPython on Linux
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):  # pragma: no cover - every Linux libc has it
        return None
    function.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


_MADVISE = _madvise_function()


def _return_pages(data: bytes) -> None:
    """Give the whole pages inside ``data``'s buffer back to the kernel (nobody else holds it)."""
    if _MADVISE is None:
        return  # pragma: no cover
    address = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
    if address is None:  # pragma: no cover - a non-empty bytes has a buffer
        return
    start = -(-address // _PAGE) * _PAGE
    end = (address + len(data)) // _PAGE * _PAGE
    if end > start:
        _MADVISE(start, end - start, _MADV_DONTNEED)


def _free(item: list[Any]) -> None:
    """Free the contents of ``item[0]``, an entry, if nothing else holds them."""
    entry = item[0]
    item[0] = None
    data = entry.data
    del entry  # freed here if it was ours alone: then only `data` holds the contents
    if sys.getrefcount(data) != 2:  # `data` and the argument: else another holder keeps them
        return
    if isinstance(data, bytes):
        _return_pages(data)
        return
    parts = list(data)
    del data  # the tuple goes; its parts stay in `parts`
    while parts:
        parts.pop()  # one part at a time: other threads run in between


class _Reaper:
    """The background thread and its queue (one per process; restarted after a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Any] = deque()
        self._wake = threading.Condition(self._lock)
        self._busy = 0
        self._thread: threading.Thread | None = None

    def take(self, entry: Any) -> None:
        with self._lock:
            self._queue.append([entry, time.monotonic() + _OWNER_WAIT])
            self._busy += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="memstore-release", daemon=True)
                self._thread.start()
            self._wake.notify_all()

    def _run(self) -> None:
        waiting: list[list[Any]] = []  # [entry, deadline]: entries someone else still holds
        while True:
            with self._lock:
                while not self._queue and not waiting:
                    self._wake.wait()
                waiting.extend(self._queue)
                self._queue.clear()
            now = time.monotonic()
            held: list[list[Any]] = []
            done = 0
            for item in waiting:
                # The list's slot and getrefcount's argument: anything more is another
                # holder (the engine's own local for a moment; a reader or a snapshot for
                # longer, after which whoever lets go last frees the contents).
                if sys.getrefcount(item[0]) > 2 and now < item[1]:
                    held.append(item)
                    continue
                try:
                    _free(item)
                finally:
                    done += 1
            waiting = held
            with self._lock:
                self._busy -= done
                self._wake.notify_all()
            if held:
                time.sleep(0.0005)

    def wait_idle(self, timeout: float) -> bool:
        with self._lock:
            return self._wake.wait_for(lambda: self._busy == 0, timeout)


_reaper = _Reaper()


def _after_fork() -> None:  # pragma: no cover - runs in forked children
    global _reaper
    _reaper = _Reaper()


os.register_at_fork(after_in_child=_after_fork)


def release(entry: Any) -> None:
    """Hand a removed entry (``.data`` holds its contents) to the background thread.

    Only when nothing but the entry holds the contents: then nobody can tell when they
    are freed. When anyone else holds them (the caller's own ``bytes``, a copy sharing
    the parts, a reader, a chunk the caller kept), the entry is left to the caller, who
    drops its reference at once, as before: that frees nothing big, and a reference
    count taken right after the write sees the store let go. The caller must let go of
    its own references right after (return, or ``del``).
    """
    data = entry.data
    # The entry's slot, `data` and getrefcount's argument: anything more is another holder.
    if sys.getrefcount(data) != 3:
        return
    if not isinstance(data, bytes):
        for part in data:  # the tuple, `part` and the argument
            if sys.getrefcount(part) != 3:
                return
    del data
    _reaper.take(entry)


def wait_idle(timeout: float = 30.0) -> bool:
    """Wait until every entry handed over so far was freed; False on timeout (for tests)."""
    return _reaper.wait_idle(timeout)
