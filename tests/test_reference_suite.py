"""The reference library's own tests for its BaseStorage and memory backend, run against memstore.

tools/reference_suite.py obtains litestar-storages' tests at test time (never from this
repository), makes the reference's modules resolve to memstore's classes and runs them
with pytest in a subprocess. This test runs that harness and reports its failures.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tools" / "reference_suite.py"

# The harness's own exit statuses (tools/reference_suite.py: EXIT_NO_TESTS, EXIT_UNREACHABLE).
EXIT_NO_TESTS = 10
EXIT_UNREACHABLE = 11


def test_reference_suite_passes_against_memstore() -> None:
    result = subprocess.run(
        [sys.executable, str(HARNESS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode == EXIT_UNREACHABLE:
        pytest.skip(f"PyPI is unreachable, so the reference's tests cannot be fetched: {output.strip()}")
    if result.returncode == EXIT_NO_TESTS:
        pytest.skip(f"the reference's tests are not available: {output.strip()}")
    if result.returncode != 0:
        pytest.fail(
            f"the reference suite failed against memstore (exit status {result.returncode}):\n{output}",
            pytrace=False,
        )
    summary = re.search(r"=+ (\d+) passed\b[^\n]*=+\s*$", result.stdout)
    assert summary is not None, f"no pytest summary with passed tests in:\n{output}"
