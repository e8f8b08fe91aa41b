"""What a run is configured with and what it produces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from benchmarks._timing import Plan, Timing

__all__ = ["Check", "Config", "Measurement", "ScenarioResult"]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class Config:
    """Sizes and effort of one run (``full()`` or ``quick()``)."""

    is_quick: bool
    plan: Plan
    """Timing plan for operations of a few microseconds."""
    slow_plan: Plan
    """Timing plan for operations of milliseconds (listing, a quota sum over every file)."""
    payload: int = KiB
    put_max_ops: int = 2_000
    """Cap on puts per batch: a "fresh" store stays under 5 x this many keys in a repeat."""
    prefill: int = 100_000
    """Keys already stored in the "put with N keys present" case."""
    get_keys: int = 10_000
    list_sizes: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000)
    list_growth: tuple[int, int] = (100_000, 1_000_000)
    peer_max_keys: int = 1_000_000
    """Largest key count the listing scenario fills the peers (fsspec, obstore, opendal) to."""
    quota_sizes: tuple[int, int] = (1_000, 100_000)
    stream_bytes: int = 256 * MiB
    stream_chunk: int = 64 * KiB
    footprint_objects: int = 100_000
    footprint_payload: int = 100
    range_bytes: int = GiB
    """Size of the file the ``range`` scenario reads 1 KiB from the middle of."""
    range_chunk: int = MiB
    """The chunks that file is streamed in (memstore keeps them as its parts)."""
    dir_folders: int = 1_000
    """Sub-folders of ``root/`` in the ``list_dir`` scenario ..."""
    dir_files: int = 1_000
    """... files in each of them, and files in the flat folder ``flat/``."""
    frame_bytes: int = 50_000_000
    """Size of the DataFrame of the ``frames`` scenario (three float64 columns)."""
    zarr_side: int = 1_000
    """The ``zarr`` scenario's array is ``zarr_side`` x ``zarr_side`` float64, in 100 x 100 chunks."""

    @classmethod
    def full(cls) -> Config:
        """The sizes of the issue's targets (a few minutes)."""
        return cls(
            is_quick=False,
            plan=Plan(repeats=9, batches=5, batch_ns=10_000_000, probe_ops=50, max_ops=50_000),
            slow_plan=Plan(repeats=5, batches=3, batch_ns=20_000_000, probe_ops=2, max_ops=200),
        )

    @classmethod
    def quick(cls) -> Config:
        """A smoke run: small sizes, few repeats (a few seconds)."""
        return cls(
            is_quick=True,
            put_max_ops=500,
            plan=Plan(repeats=3, batches=3, batch_ns=2_000_000, probe_ops=20, max_ops=10_000),
            slow_plan=Plan(repeats=2, batches=2, batch_ns=2_000_000, probe_ops=1, max_ops=20),
            prefill=10_000,
            get_keys=2_000,
            list_sizes=(1_000, 10_000, 100_000),
            list_growth=(10_000, 100_000),
            peer_max_keys=10_000,
            quota_sizes=(1_000, 10_000),
            stream_bytes=32 * MiB,
            footprint_objects=10_000,
            range_bytes=64 * MiB,
            dir_folders=100,
            dir_files=100,
            frame_bytes=5_000_000,
            zarr_side=400,
        )


@dataclass(frozen=True)
class Measurement:
    """One measured value: ``store`` did ``case`` of ``scenario`` at ``value`` ``unit``."""

    case: str
    store: str
    value: float
    unit: str
    note: str = ""


@dataclass(frozen=True)
class Check:
    """A target from an issue: ``value`` must be ``<=`` (or ``<``) ``target``."""

    name: str
    value: float
    target: float
    unit: str = "x"
    op: Literal["<=", "<"] = "<="
    detail: str = ""
    issue: int = 2

    @property
    def passed(self) -> bool:
        """Whether the value meets the target."""
        return self.value <= self.target if self.op == "<=" else self.value < self.target

    @property
    def status(self) -> str:
        """``PASS`` or ``MISS``."""
        return "PASS" if self.passed else "MISS"


@dataclass
class ScenarioResult:
    """Everything one scenario measured."""

    name: str
    title: str
    anchor: str = "reference"
    """The store the "vs" column divides by."""
    measurements: list[Measurement] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    series: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)
    """Curves for the plot: ``{metric: {store: [(key count, value), ...]}}``."""
    skipped: str | None = None
    seconds: float = 0.0

    def add(self, case: str, store: str, value: float, unit: str, note: str = "") -> Measurement:
        """Record a measurement and return it."""
        m = Measurement(case, store, value, unit, note)
        self.measurements.append(m)
        return m

    def note_noise(self, case: str, timings: Mapping[str, Timing], limit: float = 0.3) -> None:
        """Add a note naming the stores whose repeats disagreed by more than ``limit``."""
        noisy = [f"{name} {t.spread:.0%}" for name, t in timings.items() if t.spread > limit]
        if noisy:
            self.notes.append(
                f"{case}: noisy (spread between repeats: {', '.join(noisy)}); the best repeat is reported."
            )

    def value(self, case: str, store: str) -> float | None:
        """The value measured for ``store`` in ``case``, if any."""
        for m in self.measurements:
            if m.case == case and m.store == store:
                return m.value
        return None

    def ratio_to_anchor(self, m: Measurement) -> float | None:
        """``m.value`` divided by the anchor's value in the same case and unit."""
        for other in self.measurements:
            if other.case == m.case and other.store == self.anchor and other.unit == m.unit:
                return m.value / other.value if other.value else None
        return None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["checks"] = [{**asdict(c), "passed": c.passed} for c in self.checks]
        data["series"] = {
            metric: {store: [list(p) for p in pts] for store, pts in curves.items()}
            for metric, curves in self.series.items()
        }
        return data
