"""One behaviour suite for both faces: storage factories for the contract tests.

The core's behaviour tests are written once against the async API. The ``make``
fixture (see ``conftest.py``) runs each of them twice: on :class:`~memstore.MemoryStorage`
itself, and on :class:`~memstore.SyncMemoryStorage` through :class:`AsyncOverSync`, an
adapter that calls the sync face's blocking methods from the test's coroutine. Every
assertion then checks what a sync user observes. A later backend adds its factories
here and runs the same suite unchanged.
"""

from __future__ import annotations

import inspect
import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import pytest

from memstore import MemoryConfig, MemoryStorage, SyncMemoryStorage

__all__ = [
    "BACKENDS",
    "FACES",
    "AsyncOverSync",
    "Make",
    "async_only",
    "class_name",
    "make_factory",
    "memory_only",
    "unwrap",
]

FACES = ("async", "sync")
BACKENDS = ("memory", "redis")
_namespaces = itertools.count()

Make = Callable[..., MemoryStorage]
"""``make(config=None)``: a new storage of the face under test, with the async API (typed as
the async class, whose API :class:`AsyncOverSync` serves for the sync face)."""


ITERATORS = frozenset({"get", "list", "glob"})  # methods that return an (async) iterator


class AsyncOverSync:
    """The async API of a storage, served by its synchronous face.

    Coroutine methods call the sync method directly (blocking the test's loop for the
    call, as a sync caller would block its thread); async iterators iterate the sync
    face's iterators. Everything else (``usage``, ``subscribe``, ``closed`` ...) is the
    sync face's own attribute.
    """

    def __init__(self, sync: Any, twin: type[Any] = MemoryStorage) -> None:
        self.sync = sync
        self.twin = twin  # the async class whose API is served

    def __repr__(self) -> str:
        return repr(self.sync)

    async def __aenter__(self) -> AsyncOverSync:
        self.sync.__enter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sync.__exit__(None, None, None)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.sync, name)
        twin = getattr(self.twin, name, None)
        if inspect.iscoroutinefunction(twin):

            async def call(*args: Any, **kwargs: Any) -> Any:
                return target(*args, **kwargs)

            call.__name__ = name
            return call
        if inspect.isasyncgenfunction(twin) or name in ITERATORS:

            def iterate(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                return _aiter(target(*args, **kwargs))

            iterate.__name__ = name
            return iterate
        return target


async def _aiter(iterator: Iterator[Any]) -> AsyncIterator[Any]:
    try:
        for item in iterator:
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def make_factory(
    face: str, backend: str = "memory", redis_url: str | None = None
) -> tuple[Make, Callable[[], None]]:
    """A factory of storages of ``face`` on ``backend``, and a function that closes what it made.

    On Redis each storage gets a namespace of its own on the session's server, with the
    limits of the :class:`~memstore.MemoryConfig` the test asks for.
    """
    made: list[Any] = []

    def make(config: MemoryConfig | None = None) -> MemoryStorage:
        if backend == "redis":
            storage: Any = _make_redis(face, config, redis_url)
        elif face == "async":
            storage = MemoryStorage(config)
        else:
            storage = AsyncOverSync(SyncMemoryStorage(config))
        made.append(storage)
        return cast(MemoryStorage, storage)

    def close_all() -> None:
        for storage in made:
            if face == "sync":
                storage.sync.close()
            elif backend == "redis":
                # the async client belongs to the test's event loop, which is gone: drop it
                storage._client = None
                storage._closed = True
                if storage._view is not None:
                    storage._view.close()

    return make, close_all


_redis_classes: list[type[Any]] = []


def _test_classes() -> tuple[type[Any], type[Any]]:
    """Redis storages with the memory backend's synchronous ``usage`` property, for the suite.

    The contract suite reads ``storage.usage``, ``storage.prefix_usage()`` and
    ``storage._engine.reserved_bytes`` (memory-backend queries) between awaits; on Redis
    they are read from the server through a synchronous client on the same namespace.
    """
    if not _redis_classes:
        from memstore.redis import RedisStorage, SyncRedisStorage

        class LedgerView:
            def __init__(self, sync: Any) -> None:
                self.sync = sync

            @property
            def reserved_bytes(self) -> int:
                return int(self.sync._command("HGET", self.sync._prefix + "st", "reserved") or 0)

        class TestRedisStorage(RedisStorage):
            _view: Any = None

            def _sync_view(self) -> Any:
                self._check_open()
                if self._view is None:
                    self._view = SyncRedisStorage(self.config)
                return self._view

            @property
            def usage(self) -> Any:
                return self._sync_view().get_usage()

            def prefix_usage(self) -> Any:
                return self._sync_view().get_prefix_usage()

            @property
            def _engine(self) -> Any:
                return LedgerView(self._sync_view())

            async def close(self) -> None:
                if self._view is not None:
                    self._view.close()
                await super().close()

        class TestSyncRedisStorage(SyncRedisStorage):
            @property
            def usage(self) -> Any:
                return self.get_usage()

            def prefix_usage(self) -> Any:
                return self.get_prefix_usage()

            @property
            def _engine(self) -> Any:
                return LedgerView(self)

        _redis_classes.extend([TestRedisStorage, TestSyncRedisStorage])
    return _redis_classes[0], _redis_classes[1]


def _make_redis(face: str, config: MemoryConfig | None, url: str | None) -> Any:
    from memstore.redis import RedisConfig, RedisStorage

    async_class, sync_class = _test_classes()
    assert url is not None
    base = config or MemoryConfig()
    redis_config = RedisConfig(
        url,
        namespace=f"t{os.getpid()}-{next(_namespaces)}",
        max_size=base.max_size,
        chunk_size=base.chunk_size,
        offload_threshold=base.offload_threshold,
    )
    if face == "async":
        return async_class(redis_config)
    return AsyncOverSync(sync_class(redis_config), RedisStorage)


def unwrap(storage: Any) -> Any:
    """The storage object a user of the face under test holds."""
    return storage.sync if isinstance(storage, AsyncOverSync) else storage


def class_name(storage: Any) -> str:
    """The name of the class a user of the face under test holds."""
    return type(unwrap(storage)).__name__


def memory_only(reason: str) -> pytest.MarkDecorator:
    """Mark a contract test of the memory engine's internals: not run on other backends."""
    return pytest.mark.memory_only(reason=reason)


def async_only(reason: str) -> pytest.MarkDecorator:
    """Mark a contract test that only the async face can run, saying why."""
    return pytest.mark.async_only(reason=reason)
