"""The benchmark suite still runs (a smoke run: sizes too small for its numbers to mean much)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("litestar_storages", reason="the bench extra is not installed")
pytest.importorskip("matplotlib", reason="the bench extra is not installed")

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_run_writes_the_report(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "targets met" in done.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert results
    report = (tmp_path / "results.md").read_text()
    assert "| #2 |" in report or "#2" in report
    assert (tmp_path / "scaling.png").read_bytes().startswith(b"\x89PNG")
