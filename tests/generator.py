"""The generator ``tools/async_to_sync.py``, imported for tests (it is not in the package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATH = ROOT / "tools" / "async_to_sync.py"

_spec = importlib.util.spec_from_file_location("async_to_sync", PATH)
assert _spec is not None
assert _spec.loader is not None
generator = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("async_to_sync", generator)
_spec.loader.exec_module(generator)

map_doc = generator.map_doc
generate = generator.generate
GenerationError = generator.GenerationError

__all__ = ["PATH", "ROOT", "GenerationError", "generate", "generator", "map_doc"]
