"""Timing helpers: calibrated batches, min of medians, interleaved stores, a heartbeat.

Every number the benchmarks report is a cost per operation computed like this:

1. a probe run estimates the cost of one operation and fixes the batch size ``n`` so that
   one batch lasts about ``Plan.batch_ns`` (clamped to ``[min_ops, max_ops]``);
2. one *repeat* times ``Plan.batches`` batches of ``n`` operations and keeps the median
   cost per operation;
3. the result is the minimum over ``Plan.repeats`` repeats (the least disturbed one).

The stores of one comparison are measured interleaved (repeat 1 of every store, then
repeat 2 ...), so a slow spell of this shared 2-core machine hits all of them alike. The
garbage collector is paused while a store's batches run.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio

__all__ = ["Case", "Heartbeat", "Plan", "SyncCase", "Timing", "gc_paused", "measure", "measure_sync"]


@dataclass(frozen=True)
class Plan:
    """How hard to try: repeats, batches per repeat and the wanted length of a batch."""

    repeats: int = 7
    batches: int = 5
    batch_ns: int = 10_000_000
    probe_ops: int = 50
    min_ops: int = 1
    max_ops: int = 2_000

    def batch_size(self, probe_ns: float, probe_ops: int, max_ops: int | None = None) -> int:
        """Operations per batch so that a batch lasts about ``batch_ns``."""
        per_op = max(probe_ns / max(probe_ops, 1), 1.0)
        upper = self.max_ops if max_ops is None else min(max_ops, self.max_ops)
        return max(self.min_ops, min(upper, round(self.batch_ns / per_op)))


@dataclass(frozen=True)
class Timing:
    """The cost of one operation: the minimum over repeats of the median over batches."""

    ns_per_op: float
    ops_per_batch: int
    medians: tuple[float, ...] = field(default=())

    @property
    def spread(self) -> float:
        """(max - min) / min of the per-repeat medians: how noisy the measurement was."""
        if not self.medians:
            return 0.0
        low = min(self.medians)
        return (max(self.medians) - low) / low if low else 0.0


@dataclass
class Case:
    """One thing to time in an event loop.

    ``run(n)`` performs ``n`` operations and returns the nanoseconds they took (it does
    its own untimed preparation, such as making fresh keys). ``setup`` and ``teardown``
    run, untimed, around each repeat: a fresh store, or removing the keys a repeat added.
    """

    label: str
    run: Callable[[int], Awaitable[float]]
    setup: Callable[[], Awaitable[None]] | None = None
    teardown: Callable[[], Awaitable[None]] | None = None
    max_ops: int | None = None


@dataclass
class SyncCase:
    """Like :class:`Case`, for code that must run outside any event loop."""

    label: str
    run: Callable[[int], float]
    setup: Callable[[], None] | None = None
    teardown: Callable[[], None] | None = None
    max_ops: int | None = None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector inside the block (restored afterwards)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _result(medians: list[float], n: int) -> Timing:
    return Timing(min(medians), n, tuple(medians))


async def measure(cases: Sequence[Case], plan: Plan) -> dict[str, Timing]:
    """Time every case (interleaved by repeat) and return ``{label: Timing}``."""
    sizes: dict[str, int] = {}
    for case in cases:  # calibrate (and warm up) each case
        if case.setup is not None:
            await case.setup()
        with gc_paused():
            probe = await case.run(plan.probe_ops)
        if case.teardown is not None:
            await case.teardown()
        sizes[case.label] = plan.batch_size(probe, plan.probe_ops, case.max_ops)
    medians: dict[str, list[float]] = {case.label: [] for case in cases}
    for _ in range(plan.repeats):
        for case in cases:
            n = sizes[case.label]
            if case.setup is not None:
                await case.setup()
            with gc_paused():
                samples = [await case.run(n) / n for _ in range(plan.batches)]
            if case.teardown is not None:
                await case.teardown()
            medians[case.label].append(statistics.median(samples))
    return {label: _result(values, sizes[label]) for label, values in medians.items()}


def measure_sync(cases: Sequence[SyncCase], plan: Plan) -> dict[str, Timing]:
    """:func:`measure` for synchronous cases, run in the calling thread with no event loop."""
    sizes: dict[str, int] = {}
    for case in cases:
        if case.setup is not None:
            case.setup()
        with gc_paused():
            probe = case.run(plan.probe_ops)
        if case.teardown is not None:
            case.teardown()
        sizes[case.label] = plan.batch_size(probe, plan.probe_ops, case.max_ops)
    medians: dict[str, list[float]] = {case.label: [] for case in cases}
    for _ in range(plan.repeats):
        for case in cases:
            n = sizes[case.label]
            if case.setup is not None:
                case.setup()
            with gc_paused():
                samples = [case.run(n) / n for _ in range(plan.batches)]
            if case.teardown is not None:
                case.teardown()
            medians[case.label].append(statistics.median(samples))
    return {label: _result(values, sizes[label]) for label, values in medians.items()}


class Heartbeat:
    """A task that sleeps ``interval`` seconds in a loop and records the longest gap.

    A gap much longer than the interval means something held the event loop: the
    longest gap is the worst stall a concurrent task would have seen.
    """

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.max_gap_ns = 0
        self.beats = 0
        self._stop = anyio.Event()

    async def run(self) -> None:
        """Beat until :meth:`stop` is called."""
        last = time.perf_counter_ns()
        while not self._stop.is_set():
            await anyio.sleep(self.interval)
            now = time.perf_counter_ns()
            self.max_gap_ns = max(self.max_gap_ns, now - last)
            self.beats += 1
            last = now

    def stop(self) -> None:
        """Make :meth:`run` return after its current beat."""
        self._stop.set()

    @property
    def max_gap_ms(self) -> float:
        """The longest gap between two beats, in milliseconds."""
        return self.max_gap_ns / 1e6
