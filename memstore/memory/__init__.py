"""The memory backend: :class:`MemoryStorage` (async) and :class:`SyncMemoryStorage` (sync).

Both faces run on one engine (``_engine.py``); ``_async.py`` is their source and
``_sync.py`` is generated from it. ``SyncMemoryStorage`` is imported on first use, so
async-only code never loads the portal machinery.
"""

from typing import TYPE_CHECKING

from memstore.memory._async import MemoryStorage
from memstore.memory._config import MemoryConfig

if TYPE_CHECKING:
    from memstore.memory._sync import SyncMemoryStorage

__all__ = ["MemoryConfig", "MemoryStorage", "SyncMemoryStorage"]


def __getattr__(name: str) -> object:
    if name == "SyncMemoryStorage":
        from memstore.memory._sync import SyncMemoryStorage

        return SyncMemoryStorage
    raise AttributeError(f"module 'memstore.memory' has no attribute {name!r}")
