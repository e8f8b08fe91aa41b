"""A fresh redis-server for the test session: a free port on 127.0.0.1, nothing left running.

The server itself is started by ``memstore.redis._server`` (shared with the benchmarks).

``./dev.sh test`` installs Debian's ``redis-server`` (``need_redis``). Without it the
Redis tests skip, saying so, except in CI (``CI=true``), where they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from memstore.redis._server import RedisServer, start_redis

__all__ = ["RedisServer", "redis_server_or_skip", "start_redis"]


@contextlib.contextmanager
def redis_server_or_skip() -> Iterator[RedisServer]:
    """A session's server; skips (fails in CI) when redis-server is not installed."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed: ./dev.sh test installs it (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the Redis tests: {message}")
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="memstore-redis-") as tmp:
        server = start_redis(Path(tmp))
        try:
            yield server
        finally:
            server.stop()
