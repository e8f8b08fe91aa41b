"""pytest fixtures for code that uses memstore (registered through the ``pytest11`` entry point).

Fixtures:
    memory_storage: a fresh async :class:`~memstore.MemoryStorage` per test.
    sync_memory_storage: a fresh :class:`~memstore.SyncMemoryStorage` per test.

Both are closed after the test. Configure them with the ``memstore`` marker, whose
keyword arguments are those of :class:`~memstore.MemoryConfig`::

    @pytest.mark.memstore(max_size=1024)
    def test_quota(sync_memory_storage):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from memstore._portal import run_blocking
from memstore.memory import MemoryConfig, MemoryStorage

if TYPE_CHECKING:
    from memstore.memory import SyncMemoryStorage

__all__ = ["memory_storage", "sync_memory_storage"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``memstore`` marker."""
    config.addinivalue_line(
        "markers",
        "memstore(**config): configure the memory_storage / sync_memory_storage fixtures "
        "with MemoryConfig keyword arguments, e.g. @pytest.mark.memstore(max_size=1024)",
    )


def _config_for(request: pytest.FixtureRequest) -> MemoryConfig:
    marker = request.node.get_closest_marker("memstore")
    if marker is None:
        return MemoryConfig()
    if marker.args:
        raise pytest.UsageError("@pytest.mark.memstore takes keyword arguments only, e.g. max_size=1024")
    return MemoryConfig(**marker.kwargs)


@pytest.fixture
def memory_storage(request: pytest.FixtureRequest) -> Iterator[MemoryStorage]:
    """A fresh, empty async :class:`~memstore.MemoryStorage`, closed after the test."""
    storage = MemoryStorage(_config_for(request))
    try:
        yield storage
    finally:
        run_blocking(storage.close)


@pytest.fixture
def sync_memory_storage(request: pytest.FixtureRequest) -> Iterator[SyncMemoryStorage]:
    """A fresh, empty :class:`~memstore.SyncMemoryStorage`, closed after the test."""
    from memstore.memory import SyncMemoryStorage

    storage = SyncMemoryStorage(_config_for(request))
    try:
        yield storage
    finally:
        storage.close()
