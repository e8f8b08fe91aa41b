"""pytest fixtures for code that uses memstore (registered through the ``pytest11`` entry point).

Fixtures:
    memory_storage: a fresh async :class:`~memstore.MemoryStorage` per test.
    sync_memory_storage: a fresh :class:`~memstore.SyncMemoryStorage` per test.

Both are closed after the test. Configure them with the ``memstore`` marker, whose
keyword arguments are those of :class:`~memstore.MemoryConfig`::

    @pytest.mark.memstore(max_size=1024)
    def test_quota(sync_memory_storage):
        ...

The ``memstore_restore`` marker takes the names of storage fixtures (typically module-
or session-scoped, filled once): before each test it marks, every named storage is put
back to the contents it had the first time a marked test used it, with one ``restore()``
of a :meth:`~memstore.MemoryStorage.snapshot` (O(number of files), no contents copied)::

    pytestmark = pytest.mark.memstore_restore("catalog")

    @pytest.fixture(scope="module")
    def catalog():
        with SyncMemoryStorage() as storage:
            fill(storage)  # expensive: done once per module
            yield storage
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from memstore._portal import run_blocking
from memstore.memory import MemoryConfig, MemoryStorage
from memstore.types import Snapshot

if TYPE_CHECKING:
    from memstore.memory import SyncMemoryStorage

__all__ = ["memory_storage", "memstore_restore_snapshots", "sync_memory_storage"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``memstore`` marker."""
    config.addinivalue_line(
        "markers",
        "memstore(**config): configure the memory_storage / sync_memory_storage fixtures "
        "with MemoryConfig keyword arguments, e.g. @pytest.mark.memstore(max_size=1024)",
    )
    config.addinivalue_line(
        "markers",
        "memstore_restore(*fixture_names): before each marked test, restore each named (module- or "
        "session-scoped) storage fixture to the snapshot taken the first time a marked test used it",
    )


_SNAPSHOTS = pytest.StashKey[weakref.WeakKeyDictionary[Any, Snapshot]]()


@pytest.fixture(autouse=True)
def memstore_restore_snapshots(request: pytest.FixtureRequest) -> None:
    """Apply the ``memstore_restore`` marker (autouse; does nothing for an unmarked test).

    Each storage named by the marker is snapshotted the first time a marked test uses
    it, and restored to that snapshot before every later marked test: one atomic
    ``restore()``, O(number of files), whatever the earlier tests wrote or deleted.
    """
    marker = request.node.get_closest_marker("memstore_restore")
    if marker is None:
        return
    if marker.kwargs or not marker.args or not all(isinstance(a, str) for a in marker.args):
        raise pytest.UsageError(
            '@pytest.mark.memstore_restore takes the names of storage fixtures, e.g. ("catalog", "images")'
        )
    snapshots = request.config.stash.setdefault(_SNAPSHOTS, weakref.WeakKeyDictionary())
    for name in marker.args:
        storage = request.getfixturevalue(name)
        snapshot_of = getattr(storage, "snapshot", None)
        if not callable(snapshot_of):
            raise pytest.UsageError(
                f"@pytest.mark.memstore_restore({name!r}): the fixture gives a {type(storage).__name__}, "
                "not a storage with snapshot() and restore()"
            )
        taken = snapshots.get(storage)
        if taken is None:
            snapshots[storage] = snapshot_of()
        elif isinstance(storage, MemoryStorage):
            run_blocking(functools.partial(storage.restore, taken))
        else:
            storage.restore(taken)


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
