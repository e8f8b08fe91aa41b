"""The async storage behind any storage object: for the async-only integrations (zarr, fsspec)."""

from __future__ import annotations

import sys

from memstore.base import BaseStorage

__all__ = ["async_core", "identity"]


def async_core(storage: object) -> tuple[BaseStorage, bool]:
    """The async storage behind ``storage``, and whether it was made here (to close it).

    An async storage is itself; a memory storage's sync face has its core
    (``async_storage``); another sync face with ``as_async()`` (the Redis one) gets an
    async twin on the same files, with its own connection, that the caller closes.

    Raises:
        TypeError: If ``storage`` is none of these.
    """
    if isinstance(storage, BaseStorage):
        return storage, False
    core = getattr(storage, "async_storage", None)  # SyncMemoryStorage
    if isinstance(core, BaseStorage):
        return core, False
    make = getattr(storage, "as_async", None)  # SyncRedisStorage
    if callable(make):
        twin = make()
        if isinstance(twin, BaseStorage):
            return twin, True
    raise TypeError(
        "storage must be a memstore storage (MemoryStorage, RedisStorage, or their sync faces), "
        f"not {type(storage).__name__}"
    )


def identity(storage: object) -> object:
    """What makes two storages the same files: the object, or the namespace of a Redis one."""
    redis = sys.modules.get("memstore.redis")
    config = getattr(storage, "config", None)
    if redis is not None and isinstance(config, redis.RedisConfig):
        return ("redis", config)
    return storage
