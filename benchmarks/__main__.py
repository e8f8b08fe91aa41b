"""``python -m benchmarks [--quick] [--only NAME ...] [--out DIR]``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._model import Config
from benchmarks._registry import SCENARIOS, run_scenarios
from benchmarks._report import (
    machine_info,
    now_iso,
    render_markdown,
    render_text,
    write_json,
    write_plot,
)
from benchmarks.listing import LIST_METRIC


def _parser() -> argparse.ArgumentParser:
    names = ", ".join(s.name for s in SCENARIOS)
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Benchmark memstore against litestar-storages' MemoryStorage (the reference), a dict, "
            "fsspec, obstore and opendal. Targets are ratios against stores measured in the same run."
        ),
    )
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats (a few seconds)")
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only this scenario (repeatable or comma-separated): {names}",
    )
    p.add_argument("--out", type=Path, metavar="DIR", help="write results.json, results.md and scaling.png")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:10s} {s.summary}")
        return 0
    names = [n.strip() for item in args.only or () for n in item.split(",") if n.strip()] or None
    known = {s.name for s in SCENARIOS}
    if names and not set(names) <= known:
        bad = ", ".join(sorted(set(names) - known))
        print(f"unknown scenario(s): {bad}; choose from {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    config = Config.quick() if args.quick else Config.full()
    mode = "quick" if args.quick else "full"
    info: dict[str, Any] = {"date": now_iso(), "mode": mode, "only": names or [], "machine": machine_info()}

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    try:
        results = run_scenarios(config, names, progress)
    except ModuleNotFoundError as exc:
        print(f"{exc}: install the benchmark extra with `pip install -e '.[bench]'`", file=sys.stderr)
        return 2
    info["seconds"] = time.perf_counter() - t0
    print(render_text(results, info))

    if args.out is not None:
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)
        plot: str | None = None
        series = next((r.series for r in results if r.series.get(LIST_METRIC)), None)
        if series is not None:
            plot = "scaling.png"
            write_plot(out / plot, series, f"cost against keys stored - {info['machine']['cpu']}")
        write_json(out / "results.json", results, info)
        (out / "results.md").write_text(render_markdown(results, info, plot), encoding="utf-8")
        print(f"\nwrote {out / 'results.json'}, {out / 'results.md'}" + (f", {out / plot}" if plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
