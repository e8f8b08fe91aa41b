"""Shared fixtures: every async test runs on both anyio backends, contract tests on both faces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faces import FACES, Make, make_factory


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test on asyncio and on trio."""
    return str(request.param)


@pytest.fixture(params=FACES)
def face(request: pytest.FixtureRequest) -> str:
    """The face under test: ``"async"`` (MemoryStorage) or ``"sync"`` (SyncMemoryStorage)."""
    marker = request.node.get_closest_marker("async_only")
    if request.param == "sync" and marker is not None:
        pytest.skip(f"async face only: {marker.kwargs.get('reason', '')}")
    return str(request.param)


@pytest.fixture
def make(face: str) -> Iterator[Make]:
    """``make(config=None)``: a new storage of the face under test, with the async API."""
    factory, close_all = make_factory(face)
    yield factory
    close_all()
