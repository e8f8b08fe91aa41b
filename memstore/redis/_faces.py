"""The hand-written part of each face of the Redis backend: the client, its errors, the lifecycle.

Both faces talk to the server through valkey-glide: :class:`AsyncFace` through its async
client (``glide``, which runs on asyncio and trio), :class:`SyncFace` through its
synchronous twin (``glide_sync``). Each face has the same three doors to the server,
``_script``, ``_command`` and ``close``, so everything else is written once in
``_async.py`` and generated into ``_sync.py`` (docs/guides/design.md, "One async→sync
path"). The client connects on first use, and that first use checks that the server
cannot evict keys.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import AsyncIterable, Mapping
from typing import TYPE_CHECKING, Any

from memstore._ops import closed_error, unexpected_keywords
from memstore.exceptions import ConfigurationError, StorageConnectionError, StorageError
from memstore.redis import _scripts
from memstore.redis._config import RedisConfig
from memstore.redis._events import EventHub
from memstore.types import StoredFile

if TYPE_CHECKING:
    from glide_shared.config import GlideClientConfiguration

__all__ = ["SAFE_POLICIES", "AsyncFace", "SyncFace"]

SAFE_POLICIES = frozenset({"noeviction", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"})
"""``maxmemory-policy`` values that never evict memstore's keys (they have no expiry)."""

_SCRIPTS = {name: getattr(_scripts, name) for name in _scripts.__all__}


_PACKED = frozenset(name for name, source in _SCRIPTS.items() if _scripts.PACKED_MARK in source)


def pack_args(prefix: str, args: tuple[str | bytes, ...]) -> list[str | bytes]:
    """``[prefix, *args]`` with the text in one argument, as the scripts' ``unpack_argv`` reads it.

    glide and the server handle each argument separately (about 1 us each), so a put's
    dozen arguments become the packed text plus its bytes arguments. Text holding a NUL
    (a listing prefix, a content type) is sent unpacked.
    """
    fields: list[str] = [prefix]
    blobs: list[str | bytes] = []
    positions: list[str] = []
    for position, arg in enumerate(args, 2):
        if type(arg) is str and "\0" not in arg:
            fields.append(arg)
        elif isinstance(arg, str):
            return [prefix, *args]
        else:
            fields.append("")
            blobs.append(arg)
            positions.append(str(position))
    return ["\0" + ",".join(positions) + "\0" + "\0".join(fields), *blobs]


def _config(config: object, owner: str) -> RedisConfig:
    if config is None:
        return RedisConfig()
    if not isinstance(config, RedisConfig):
        example = '"redis://127.0.0.1:6379/0", namespace="team-a"'
        if isinstance(config, str):  # a URL given where the config goes
            example = repr(config)
        raise TypeError(
            f"config must be a RedisConfig or None, not {type(config).__name__}: "
            f"e.g. {owner}(RedisConfig({example}))"
        )
    return config


def _unexpected(owner: str, options: dict[str, object]) -> TypeError:
    """The error for keyword arguments a constructor does not take, with the right call."""
    return unexpected_keywords(owner, options, RedisConfig, "the server, namespace and limits")


def _glide_config(config: RedisConfig) -> GlideClientConfiguration:
    from glide_shared.config import (
        AdvancedGlideClientConfiguration,
        GlideClientConfiguration,
        NodeAddress,
        ServerCredentials,
    )

    address = config._address
    if address.unix_socket is not None:
        node = NodeAddress(unix_socket_path=address.unix_socket)
    else:
        node = NodeAddress(address.host or "127.0.0.1", address.port)
    credentials = None
    if address.password is not None:
        credentials = ServerCredentials(address.password, address.username)
    return GlideClientConfiguration(
        [node],
        use_tls=address.tls,
        credentials=credentials,
        database_id=address.db,
        request_timeout=max(1, round(config.timeout * 1000)),
        client_name="memstore",
        advanced_config=AdvancedGlideClientConfiguration(
            connection_timeout=max(1, round(config.connect_timeout * 1000))
        ),
    )


def translate(exc: Exception, config: RedisConfig) -> StorageError:
    """A glide error as a memstore error naming the server (never its password)."""
    from glide_shared.exceptions import ClosingError, ConnectionError, TimeoutError

    text = str(exc)
    password = config._address.password
    if password:
        text = text.replace(password, "***")
    if isinstance(exc, (ClosingError, ConnectionError, TimeoutError)):
        return StorageConnectionError(config.address, f"{type(exc).__name__}: {text}")
    return StorageError(f"the Redis server at {config.address} refused a command: {text}")


def _check_policy(reply: object, config: RedisConfig) -> None:
    """Refuse a server that may evict keys: it would lose files and break the quota ledger."""
    policy = None
    if isinstance(reply, dict):
        for value in reply.values():
            policy = value.decode() if isinstance(value, bytes) else str(value)
    elif isinstance(reply, list) and len(reply) == 2:
        value = reply[1]
        policy = value.decode() if isinstance(value, bytes) else str(value)
    if policy is not None and policy not in SAFE_POLICIES:
        raise ConfigurationError(
            f"the Redis server at {config.address} has maxmemory-policy {policy!r}, which can evict "
            "keys and would silently lose files and break the quota ledger: set it to 'noeviction' "
            "(redis-cli CONFIG SET maxmemory-policy noeviction)"
        )


def _event_loop() -> Any:
    """The running event loop: an asyncio loop, or the token of the running ``trio.run``."""
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        import trio

        return trio.lowlevel.current_trio_token()


def _finished(loop: Any) -> bool:
    """Whether the event loop ``loop`` (from :func:`_event_loop`) has ended."""
    is_closed = getattr(loop, "is_closed", None)
    if is_closed is not None:
        return bool(is_closed())
    import trio

    try:
        loop.run_sync_soon(_nothing)
    except trio.RunFinishedError:
        return True
    return False


def _nothing() -> None:
    """Does nothing (probes whether a trio run is still going)."""


class _Base:
    """What both faces share: the settings, the key names, the closed flag."""

    config: RedisConfig

    def __init__(self, config: RedisConfig | None = None, **unexpected: object) -> None:
        """Create a storage on the namespace of ``config`` (connects on first use).

        Args:
            config: The server, namespace and limits (:class:`~memstore.redis.RedisConfig`);
                defaults to ``redis://127.0.0.1:6379/0``, namespace ``"memstore"``.
            **unexpected: Refused: settings such as ``max_size`` go in the config (the
                error shows the call to make instead).

        Raises:
            TypeError: If ``config`` is not a :class:`~memstore.redis.RedisConfig` or ``None``
                (a URL string included), or for any keyword argument.
        """
        owner = type(self).__name__
        if unexpected:
            raise _unexpected(owner, unexpected)
        self.config = _config(config, owner)
        self._prefix = f"ms:{{{self.config.namespace}}}:"
        self._closed = False
        self._lock = threading.Lock()
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._events = EventHub(self.config, self._prefix, self)

    def _args(self, name: str, args: tuple[str | bytes, ...]) -> list[str | bytes]:
        """The ARGV of script ``name``: ``[prefix, *args]``, packed when the script unpacks it."""
        if name not in _PACKED:
            return [self._prefix, *args]
        return pack_args(self._prefix, args)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its configuration: unpickled, an open storage on the same namespace (same files)."""
        return (type(self), (self.config,))

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise closed_error(self)

    def __repr__(self) -> str:
        """``Name(files=3, used_bytes=1024, max_size=None)`` from the server's ledger.

        When the server cannot be reached: ``Name(url='redis://host:port/0',
        namespace='...', unreachable)`` (no password), since a repr must not raise.
        """
        try:
            return str(super().__repr__())
        except StorageError:
            config = self.config
            return (
                f"{type(self).__name__}(url={config.address!r}, namespace={config.namespace!r}, unreachable)"
            )


class AsyncFace(_Base):
    """Construction, connection and lifecycle of :class:`~memstore.redis.RedisStorage`."""

    _client_loop: Any = None
    """The event loop ``_client`` answers on (an asyncio loop or a trio run's token)."""

    async def _connect(self) -> Any:
        """The client, connected (and the server's eviction policy checked) on first use."""
        self._check_open()
        loop = _event_loop()
        client = self._client
        if client is not None:
            if self._client_loop is loop:
                return client
            return await self._connect_loop(loop)
        from glide import Script

        client = await self._new_client()
        with self._lock:
            if self._client is None and not self._closed:
                self._scripts = {name: Script(source) for name, source in _SCRIPTS.items()}  # type: ignore[no-untyped-call]
                self._client, self._client_loop, client = client, loop, None
        if client is not None:  # another task connected first, or the storage closed
            await client.close()
        self._check_open()
        if self._client_loop is not loop:  # another loop's task connected first
            return await self._connect_loop(loop)
        return self._client

    async def _new_client(self) -> Any:
        """A new connection, after checking that the server cannot evict keys."""
        from glide import GlideClient

        try:
            client = await GlideClient.create(_glide_config(self.config))
            reply = await client.custom_command(["CONFIG", "GET", "maxmemory-policy"])
        except StorageError:
            raise
        except Exception as exc:
            raise translate(exc, self.config) from None
        try:
            _check_policy(reply, self.config)
        except BaseException:
            await client.close()
            raise
        return client

    async def _connect_loop(self, loop: Any) -> Any:
        """The client of another event loop than the first client's.

        glide's async client answers on the loop that created it, so a storage used
        from several event loops (``asyncio.run`` twice, fsspec's or zarr's loop
        thread) has one connection per loop. Those of closed loops are closed here.
        """
        with self._lock:
            others: dict[Any, Any] = self.__dict__.setdefault("_loop_clients", {})
            gone = [others.pop(old) for old in [old for old in others if _finished(old)]]
            client = others.get(loop)
        for old_client in gone:
            with contextlib.suppress(Exception):
                await old_client.close()
        if client is not None:
            return client
        client = await self._new_client()
        with self._lock:
            kept = None if self._closed else others.setdefault(loop, client)
        if kept is client:
            return client
        await client.close()  # the storage closed, or another task of this loop connected first
        self._check_open()
        return kept

    async def _script(self, name: str, *args: str | bytes) -> Any:
        """Run the script ``name`` with ``ARGV = [prefix, *args]``; its reply."""
        client = await self._connect()
        try:
            return await client.invoke_script(self._scripts[name], keys=[], args=self._args(name, args))
        except Exception as exc:
            raise translate(exc, self.config) from None

    async def _command(self, *args: str | bytes) -> Any:
        """Run one Redis command; its reply."""
        client = await self._connect()
        try:
            return await client.custom_command(list(args))
        except Exception as exc:
            raise translate(exc, self.config) from None

    async def _abort(self, token: str) -> None:
        """Drop what a failed stream staged, or unpin what a read pinned, even when cancelled.

        Best effort: the lease reclaims it when the server cannot be reached now.
        """
        import anyio

        with anyio.CancelScope(shield=True), contextlib.suppress(StorageError):
            await self._script("ABORT", token)

    async def close(self) -> None:
        """Close the connection and refuse further use (idempotent). The files stay on the server.

        Subscribers get the events already on their way, then one last ``"close"`` event.
        """
        import anyio

        with self._lock:
            client, self._client, self._closed = self._client, None, True
            others = list(self.__dict__.pop("_loop_clients", {}).values())
        for one in [client, *others]:
            if one is not None:
                with contextlib.suppress(Exception):  # a dead connection is closed enough
                    await one.close()
        if self._events.listening:  # waits for the events on their way: in a worker thread
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._events.close)
        else:
            self._events.close()


@functools.cache
def _threaded_class() -> type[Any]:
    """An async storage whose calls to the server run a sync face's client in worker threads."""
    import anyio

    from memstore.redis._async import RedisStorage

    class ThreadedRedisStorage(RedisStorage):
        """The async code of :class:`~memstore.redis.RedisStorage` on a sync face's client."""

        def __init__(self, face: SyncFace) -> None:
            super().__init__(face.config)
            self._face = face

        async def _script(self, name: str, *args: str | bytes) -> Any:
            return await anyio.to_thread.run_sync(self._face._script, name, *args)

        async def _command(self, *args: str | bytes) -> Any:
            return await anyio.to_thread.run_sync(self._face._command, *args)

    return ThreadedRedisStorage


class SyncFace(_Base):
    """Construction, connection and lifecycle of :class:`~memstore.redis.SyncRedisStorage`."""

    def _connect(self) -> Any:
        """The client, connected (and the server's eviction policy checked) on first use."""
        self._check_open()
        client = self._client
        if client is not None:
            return client
        from glide_sync import GlideClient, Script

        try:
            client = GlideClient.create(_glide_config(self.config))
            reply = client.custom_command(["CONFIG", "GET", "maxmemory-policy"])
        except StorageError:
            raise
        except Exception as exc:
            raise translate(exc, self.config) from None
        try:
            _check_policy(reply, self.config)
        except BaseException:
            client.close()
            raise
        with self._lock:
            if self._client is None and not self._closed:
                self._scripts = {name: Script(source) for name, source in _SCRIPTS.items()}  # type: ignore[no-untyped-call]
                self._client, client = client, None
        if client is not None:  # another thread connected first, or the storage closed
            client.close()
        self._check_open()
        return self._client

    def _script(self, name: str, *args: str | bytes) -> Any:
        """Run the script ``name`` with ``ARGV = [prefix, *args]``; its reply."""
        client = self._connect()
        try:
            return client.invoke_script(self._scripts[name], keys=[], args=self._args(name, args))
        except Exception as exc:
            raise translate(exc, self.config) from None

    def _command(self, *args: str | bytes) -> Any:
        """Run one Redis command; its reply."""
        client = self._connect()
        try:
            return client.custom_command(list(args))
        except Exception as exc:
            raise translate(exc, self.config) from None

    def as_async(self) -> Any:
        """An async storage on the same server and namespace (same files), with its own connection.

        What the async-only integrations (zarr's store, the fsspec filesystem) run on
        when given this synchronous storage; close it when done with it.
        """
        from memstore.redis._async import RedisStorage

        return RedisStorage(self.config)

    def _put_async_stream(
        self,
        key: str,
        data: AsyncIterable[Any],
        content_type: str,
        meta: Mapping[str, str],
        if_none_match: str | None,
        if_match: str | None,
    ) -> StoredFile:
        """Put an async stream: it is read on memstore's portal, and sent with this face's client.

        Only an event loop can read an async stream, so the async ``put`` runs on
        memstore's blocking portal; its calls to the server go through this face's
        synchronous client, in worker threads. No async client is created on the
        portal: glide reads the replies of every async client of a process on the event
        loop of the first one, so a client on the portal would hang the async storages
        of the caller's own loop once the portal stops (and the reverse).
        """
        from memstore._portal import Runner

        storage = _threaded_class()(self)

        class _Core:
            async def put(self, key: str, data: Any, **kwargs: Any) -> StoredFile:
                file: StoredFile = await storage.put(key, data, **kwargs)
                return file

        runner = Runner(owner=type(self).__name__)
        return runner.run_put(
            _Core(), key, data, content_type, meta, if_none_match=if_none_match, if_match=if_match
        )

    def _abort(self, token: str) -> None:
        """Drop what a failed stream staged, or unpin what a read pinned.

        Best effort: the lease reclaims it when the server cannot be reached now.
        """
        with contextlib.suppress(StorageError):
            self._script("ABORT", token)

    def close(self) -> None:
        """Close the connection and refuse further use (idempotent). The files stay on the server.

        Subscribers get the events already on their way, then one last ``"close"`` event.
        """
        with self._lock:
            client, self._client, self._closed = self._client, None, True
        if client is not None:
            with contextlib.suppress(Exception):  # a dead connection is closed enough
                client.close()
        self._events.close()
