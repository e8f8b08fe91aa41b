"""Turning results into a console table, ``results.md``, ``results.json`` and ``scaling.png``."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks._model import Check, ScenarioResult

__all__ = ["machine_info", "render_markdown", "render_text", "write_json", "write_plot"]

PACKAGES = (
    "memstore",
    "litestar-storages",
    "obstore",
    "fsspec",
    "opendal",
    "anyio",
    "sortedcontainers",
    "valkey-glide",
)
SUBJECT = {
    "sync": "sync facade",
    "range": "memstore (sync)",
    "list_dir": "memstore (sync)",
    "create": "memstore (sync)",
    "redis": "RedisStorage",
}
"""Whose ratio the "vs" column shows, per scenario (memstore unless named here)."""


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model, core count, Python, OS and the versions of the measured packages."""
    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "packages": versions,
    }


def _fmt(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "us/op":
        return f"{value:.2f} us" if value < 100 else f"{value:.0f} us"
    if unit == "ms":
        return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"
    if unit == "B":
        return f"{value:.0f} B"
    return f"{value:.1f} {unit}"


def _fmt_check(check: Check, value: float) -> str:
    return _fmt(value, check.unit) if check.unit != "x" else f"{value:.3f}x"


def _pivot(result: ScenarioResult) -> tuple[list[str], list[list[str]]]:
    stores: list[str] = []
    cases: list[str] = []
    for m in result.measurements:
        if m.store not in stores:
            stores.append(m.store)
        if m.case not in cases:
            cases.append(m.case)
    subject = SUBJECT.get(result.name, "memstore")
    with_ratio = subject != result.anchor and result.anchor in stores
    header = ["case", *stores, *([f"{subject} / {result.anchor}"] if with_ratio else [])]
    rows: list[list[str]] = []
    for case in cases:
        cells = {m.store: m for m in result.measurements if m.case == case}
        row = [case]
        for store in stores:
            cell = cells.get(store)
            row.append(_fmt(cell.value, cell.unit) if cell is not None else "-")
        if with_ratio:
            subject_m = cells.get(subject)
            ratio = None
            if subject_m is not None and subject_m.unit != "x":
                ratio = result.ratio_to_anchor(subject_m)
            row.append(f"{ratio:.2f}x" if ratio is not None else "")
        rows.append(row)
    return header, rows


def _check_rows(results: Sequence[ScenarioResult]) -> list[list[str]]:
    rows = []
    for r in results:
        for c in r.checks:
            rows.append(
                [
                    f"#{c.issue}",
                    c.name,
                    _fmt_check(c, c.value),
                    f"{c.op} {_fmt_check(c, c.target)}",
                    c.status,
                    c.detail,
                ]
            )
    return rows


def _text_table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    right = [i >= left for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def _md_table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A pipe table; columns in ``right`` (default: all but the first) are right-aligned."""

    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    right = set(range(1, len(header))) if right is None else right
    sep = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


CHECK_HEADER = ["issue", "check", "measured", "target", "status", "detail"]


def render_text(results: Sequence[ScenarioResult], info: dict[str, Any]) -> str:
    """The console report: one table per scenario, then every check with PASS/MISS."""
    out = [
        f"memstore benchmarks ({info['mode']}) - {info['date']}",
        f"{info['machine']['cpu']}, {info['machine']['cores']} cores, {info['machine']['python']}",
        "",
    ]
    for r in results:
        out.append(f"== {r.name}: {r.title}  [{r.seconds:.1f} s]")
        if r.skipped:
            out += [f"   SKIPPED: {r.skipped}", ""]
            continue
        header, rows = _pivot(r)
        out += [_text_table(header, rows), *(f"   note: {n}" for n in r.notes), ""]
    rows = _check_rows(results)
    if rows:
        out += [
            "== targets (ratios against peers measured in this run)",
            _text_table(CHECK_HEADER, rows, left=2),
        ]
        passed = sum(1 for r in results for c in r.checks if c.passed)
        total = sum(len(r.checks) for r in results)
        out.append(f"{passed}/{total} targets met; total {info['seconds']:.0f} s")
    return "\n".join(out)


def render_markdown(results: Sequence[ScenarioResult], info: dict[str, Any], plot: str | None) -> str:
    """``results.md``: date, machine, the targets, then every scenario's table."""
    machine = info["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    flag = " --quick" if info["mode"] == "quick" else ""
    flag += "".join(f" --only {name}" for name in info.get("only", ()))
    out = [
        "# memstore benchmarks",
        "",
        f"- **date**: {info['date']}",
        f"- **machine**: {machine['cpu']}, {machine['cores']} cores, {machine['os']}",
        f"- **python**: {machine['python']}",
        f"- **packages**: {versions}",
        f"- **mode**: {info['mode']} (`python -m benchmarks{flag}`), {info['seconds']:.0f} s",
        "",
        "Costs are per operation: the minimum over repeats of the median over batches. "
        "Ratios compare stores measured in this same run; no number here is a timed assertion.",
        "",
    ]
    rows = _check_rows(results)
    if rows:
        out += ["## Targets", "", _md_table(CHECK_HEADER, rows, right={2, 3}), ""]
    for r in results:
        out += [f"## `{r.name}`: {r.title}", ""]
        if r.skipped:
            out += [f"Skipped: {r.skipped}", ""]
            continue
        header, table = _pivot(r)
        out += [_md_table(header, table), ""]
        out += [f"- {n}" for n in r.notes]
        if r.notes:
            out.append("")
    if plot:
        out += ["## Scaling", "", f"![how each store's cost grows with the number of keys]({plot})", ""]
    return "\n".join(out)


def write_json(path: Path, results: Sequence[ScenarioResult], info: dict[str, Any]) -> None:
    """``results.json``: the run's information and every scenario in full."""
    payload = {**info, "scenarios": [r.to_json() for r in results]}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def write_plot(path: Path, series: dict[str, dict[str, list[tuple[int, float]]]], title: str) -> None:
    """``scaling.png``: one panel per metric, cost against key count, one line per store."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m, curves in series.items() if curves]
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.2 * len(metrics), 4.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for store, points in series[metric].items():
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            style = {"linewidth": 2.6} if store == "memstore" else {"linewidth": 1.4}
            ax.plot(xs, ys, marker="o", label=store, **style)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("keys stored")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def now_iso() -> str:
    """The local time, to the second, with its UTC offset."""
    return datetime.now().astimezone().isoformat(timespec="seconds")
