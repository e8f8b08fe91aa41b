"""Shared fixtures: every async test runs on both anyio backends, contract tests on both faces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faces import BACKENDS, FACES, Make, make_factory
from tests.redis_server import RedisServer, redis_server_or_skip


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


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One fresh redis-server for the session (skips, or fails in CI, without redis-server)."""
    with redis_server_or_skip() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: ``"memory"`` or ``"redis"`` (tests marked memory_only skip Redis)."""
    marker = request.node.get_closest_marker("memory_only")
    if request.param != "memory" and marker is not None:
        pytest.skip(f"memory backend only: {marker.kwargs.get('reason', '')}")
    return str(request.param)


@pytest.fixture
def make(face: str, backend: str, request: pytest.FixtureRequest) -> Iterator[Make]:
    """``make(config=None)``: a new storage of the face and backend under test, with the async API."""
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    factory, close_all = make_factory(face, backend, url)
    yield factory
    close_all()
