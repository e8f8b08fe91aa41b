"""The Redis backend: :class:`RedisStorage` (async) and :class:`SyncRedisStorage` (sync).

The same contract as the memory backend, on a Redis (or Valkey) server that many
processes and machines share: pip install ``memstore[redis]``. ``_async.py`` is the
source of both faces and ``_sync.py`` is generated from it; the client (valkey-glide)
is imported on first connection, so ``import memstore`` never loads it.
:func:`local_server` starts a private ``redis-server`` to try it with.
"""

from memstore.redis._async import RedisStorage
from memstore.redis._config import RedisConfig
from memstore.redis._server import LocalRedisServer, local_server
from memstore.redis._sync import SyncRedisStorage

__all__ = ["LocalRedisServer", "RedisConfig", "RedisStorage", "SyncRedisStorage", "local_server"]
