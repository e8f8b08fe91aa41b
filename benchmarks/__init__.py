"""memstore's benchmarks: memstore against the reference library, a dict and its peers.

Run everything with ``python -m benchmarks`` (``--quick`` for a smoke run of a few
seconds, ``--only NAME`` for one scenario, ``--out DIR`` to write ``results.json``,
``results.md`` and ``scaling.png``). Nothing here is a timed assertion: every target is a
ratio against stores measured in the same run, reported as PASS or MISS. See
``benchmarks/README.md`` for what each scenario measures.
"""

from benchmarks._model import Check, Config, Measurement, ScenarioResult
from benchmarks._registry import SCENARIOS, Scenario, run_scenarios

__all__ = ["SCENARIOS", "Check", "Config", "Measurement", "Scenario", "ScenarioResult", "run_scenarios"]
