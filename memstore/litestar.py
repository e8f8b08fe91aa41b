"""Litestar integration: a storage plugin, DTOs, a dependency provider and HTTP errors.

Install it with ``pip install "memstore[litestar]"``. It is shaped like the ``contrib``
package of ``litestar-storages``, so moving an app over is an import change
(docs/guides/litestar.md lists them)::

    from litestar import Litestar, get
    from memstore import MemoryStorage, StoredFile
    from memstore.litestar import StorageDependency, StoragePlugin

    @get("/files/{key:path}/info")
    async def info(key: str, storage: StorageDependency) -> StoredFile:
        return await storage.info(key.removeprefix("/"))

    app = Litestar([info], plugins=[StoragePlugin(default=MemoryStorage())])

Who owns a storage decides who closes it:

* A storage handed to :class:`StoragePlugin` (or to :func:`provide_storage`) belongs to
  the caller. The plugin never closes it, so it outlives every lifespan of the app: the
  same app can be started and stopped many times (as test suites do) and keeps its
  files. Close it yourself when you are done with it.
* A :class:`~memstore.MemoryConfig` handed instead of a storage makes the plugin the
  owner: it creates a fresh :class:`~memstore.MemoryStorage` when the app starts up and
  closes it when the app shuts down, so each lifespan starts empty.

The plugin also maps memstore's errors to HTTP responses (:func:`storage_error_handler`:
a missing file answers 404, not 500) unless the app opts out with
``StoragePlugin(..., exception_handlers=False)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from http import HTTPStatus
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

try:
    from litestar import Litestar, Request, Response
    from litestar.datastructures import State, UploadFile
    from litestar.di import Provide
    from litestar.dto import DataclassDTO, DTOConfig
    from litestar.exceptions import ImproperlyConfiguredException
    from litestar.plugins import InitPluginProtocol
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'memstore.litestar needs Litestar: install it with pip install "memstore[litestar]"'
    ) from error

from memstore import exceptions as _exceptions
from memstore._keys import MAX_KEY_LENGTH
from memstore.base import Storage
from memstore.exceptions import (
    InvalidKeyError,
    StorageClosedError,
    StorageError,
    StorageFileExistsError,
    StorageFileNotFoundError,
    StoragePreconditionFailedError,
    StorageQuotaExceededError,
    describe_key,
)
from memstore.memory import MemoryConfig, MemoryStorage
from memstore.types import StoredFile

if TYPE_CHECKING:
    from litestar.config.app import AppConfig

__all__ = [
    "STATUS_CODES",
    "StorageDependency",
    "StoragePlugin",
    "StoredFileDTO",
    "StoredFileReadDTO",
    "provide_storage",
    "status_code_for",
    "storage_error_handler",
    "upload_stream",
]

_StorageT = TypeVar("_StorageT")

if TYPE_CHECKING:
    StorageDependency: TypeAlias = Storage
    """The type to annotate an injected storage with, as in ``images_storage: StorageDependency``.

    For type checkers it is :class:`~memstore.Storage`, memstore's storage protocol. At
    run time it is ``NamedDependency[Storage]`` on a Litestar that has
    ``litestar.di.NamedDependency`` (2.25 and later warn that a parameter injected by
    its name alone will stop working in Litestar 3.0), and ``Storage`` before. Unlike
    litestar-storages' alias of the same name (the string ``"Storage"``), it resolves
    wherever it is imported.
    """
else:
    try:
        from litestar.di import NamedDependency as _NamedDependency
    except ImportError:  # an older Litestar: a parameter is injected by its name alone
        StorageDependency = Storage
    else:
        StorageDependency = _NamedDependency[Storage]

# ------------------------------------------------------------------------ errors → HTTP

_STATUS: dict[type[StorageError], int] = {
    StorageFileNotFoundError: 404,
    StorageFileExistsError: 409,
    StoragePreconditionFailedError: 412,
    StorageQuotaExceededError: 413,
    InvalidKeyError: 400,
    StorageClosedError: 503,
}
_connection_error = getattr(_exceptions, "StorageConnectionError", None)
if isinstance(_connection_error, type) and issubclass(_connection_error, StorageError):  # pragma: no cover
    _STATUS[_connection_error] = 503  # the backend cannot be reached (not raised by the memory backend)

STATUS_CODES: Mapping[type[StorageError], int] = MappingProxyType(_STATUS)
"""The HTTP status of each memstore error class (read-only).

Not found 404, exists 409, precondition failed 412, quota exceeded 413, invalid key 400,
closed (and unreachable, once a backend can raise that) 503. An error class that is not
listed gets the status of its nearest listed base class; any other
:class:`~memstore.StorageError` gets 500.
"""


def status_code_for(exc: StorageError) -> int:
    """The HTTP status code that :func:`storage_error_handler` answers ``exc`` with.

    Args:
        exc: A memstore error (an instance of a :class:`~memstore.StorageError` subclass).

    Returns:
        The status of the first class in ``type(exc).__mro__`` listed in
        :data:`STATUS_CODES`, else 500.
    """
    for klass in type(exc).__mro__:
        status = _STATUS.get(klass)
        if status is not None:
            return status
    return 500


def _key_of(exc: StorageError) -> str | None:
    """The key an error names, fit for a JSON body (shortened when it cannot be sent as it is)."""
    key = getattr(exc, "key", None)
    if key is None:
        return None
    if isinstance(key, str) and len(key) <= MAX_KEY_LENGTH:
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: invalid, and not valid JSON either
            pass
        else:
            return key
    return describe_key(key)


def storage_error_handler(request: Request[Any, Any, Any], exc: StorageError) -> Response[dict[str, Any]]:
    """Answer a memstore error with its HTTP status and a JSON body naming the key.

    The plugin registers it for :class:`~memstore.StorageError` (so for every memstore
    error) unless the app already has a handler for that class; a handler the app
    registers for a more specific class, or on a router, controller or route, takes
    precedence. Without the plugin, register it yourself::

        Litestar(..., exception_handlers={StorageError: storage_error_handler})

    The body has Litestar's usual ``status_code`` and ``detail``, plus ``error`` (the
    class name) and, when the error names one, ``key``::

        {"status_code": 404, "detail": "File not found: 'a.txt'",
         "error": "StorageFileNotFoundError", "key": "a.txt"}

    ``detail`` is the error's message, except for the errors answered with 500 (those
    not listed in :data:`STATUS_CODES`, which may come from any backend): their message
    is sent only when the app runs with ``debug=True``, otherwise "Internal Server Error".

    Args:
        request: The request being answered.
        exc: The memstore error it raised.

    Returns:
        A JSON response with the status from :func:`status_code_for`.
    """
    status = status_code_for(exc)
    detail = str(exc)
    if not detail or (status == 500 and not request.app.debug):
        detail = HTTPStatus(status).phrase  # an unknown error's message may say more than a client should see
    body: dict[str, Any] = {"status_code": status, "detail": detail, "error": type(exc).__name__}
    key = _key_of(exc)
    if key is not None:
        body["key"] = key
    return Response(content=body, status_code=status)


# ---------------------------------------------------------------------------- DTOs


class StoredFileDTO(DataclassDTO[StoredFile]):
    """Serialises a :class:`~memstore.StoredFile` without its ``metadata``.

    For ``return_dto=``: the response has ``key``, ``size``, ``content_type``, ``etag``
    and ``last_modified`` (ISO 8601). A handler that returns a ``StoredFile`` without a
    DTO sends every field, ``metadata`` included.
    """

    config = DTOConfig(exclude={"metadata"})


class StoredFileReadDTO(DataclassDTO[StoredFile]):
    """Serialises every field of a :class:`~memstore.StoredFile`, ``metadata`` included."""

    config = DTOConfig()


# -------------------------------------------------------------------- dependencies


def provide_storage(storage: _StorageT) -> Callable[[], _StorageT]:
    """A dependency provider that returns ``storage``, for apps that register it themselves.

    The storage stays the caller's: nothing closes it. ::

        app = Litestar(..., dependencies={"storage": Provide(provide_storage(storage), sync_to_thread=False)})

    Args:
        storage: The storage to inject.

    Returns:
        A function of no arguments that returns ``storage``.
    """

    def provider() -> Any:
        return storage

    return provider


def upload_stream(upload: UploadFile, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """The contents of an uploaded file as an async stream of chunks, for ``put``.

    ``await storage.put(key, upload_stream(data))`` stores an upload chunk by chunk
    (with the quota checked as it goes) instead of reading it whole first. It reads
    from the start of the file, through ``UploadFile.read``, which moves a file that
    was spooled to disk off the event loop.

    Args:
        upload: A Litestar :class:`~litestar.datastructures.UploadFile`.
        chunk_size: The most bytes read at a time.

    Returns:
        An async iterator over the file's bytes.

    Raises:
        TypeError: If ``chunk_size`` is not an ``int``.
        ValueError: If ``chunk_size`` is less than 1.
    """
    if type(chunk_size) is not int:
        raise TypeError(f"chunk_size must be an int, not {type(chunk_size).__name__}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    return _read_upload(upload, chunk_size)


async def _read_upload(upload: UploadFile, chunk_size: int) -> AsyncIterator[bytes]:
    await upload.seek(0)
    while True:
        chunk = await upload.read(chunk_size)
        if not chunk:
            return
        yield chunk


# -------------------------------------------------------------------------- plugin

_STATE_KEY = "memstore.litestar:{}"


def _dependency_name(name: str) -> str:
    return "storage" if name == "default" else f"{name}_storage"


def _not_running(dependency: str) -> StorageClosedError:
    return StorageClosedError(
        f"the storage {dependency!r} is created by StoragePlugin (from a MemoryConfig) when the app "
        "starts up and closed when it shuts down, and the app is not running: run its lifespan "
        "(in tests, use the client as a context manager: `async with AsyncTestClient(app) as client:`)"
    )


def _running_storage(dependency: str) -> Callable[[State], Storage]:
    """The provider of a storage the plugin created: the one of the app's current lifespan."""
    key = _STATE_KEY.format(dependency)

    def provider(state: State) -> Storage:
        storage: Storage | None = state.get(key)
        if storage is None:
            raise _not_running(dependency)
        return storage

    return provider


class StoragePlugin(InitPluginProtocol):
    """Injects storages into route handlers and maps memstore's errors to HTTP responses.

    ``default`` is injected as ``storage``, every other keyword ``name=`` as
    ``name_storage``::

        app = Litestar(
            route_handlers=[...],
            plugins=[StoragePlugin(default=MemoryStorage(), images=MemoryConfig(max_size=2**30))],
        )

        @post("/images")
        async def upload(data: UploadFile, images_storage: StorageDependency) -> StoredFile:
            return await images_storage.put(f"images/{data.filename}", upload_stream(data))

    Each storage is any memstore storage (a :class:`~memstore.MemoryStorage`, any
    :class:`~memstore.BaseStorage`) or any object with the storage API, or a
    :class:`~memstore.MemoryConfig`:

    * A storage belongs to the caller and outlives every lifespan of the app: the plugin
      never closes it (litestar-storages' plugin closes every storage at each shutdown,
      which ends a memstore storage for good).
    * For a ``MemoryConfig`` the plugin creates a :class:`~memstore.MemoryStorage` when
      the app starts up and closes it when the app shuts down: each lifespan gets a new,
      empty one. Outside a lifespan its dependency raises
      :class:`~memstore.StorageClosedError` (503). :meth:`get_storage` returns it.

    Args:
        default: The storage injected as ``storage``, if any.
        exception_handlers: Register :func:`storage_error_handler` for
            :class:`~memstore.StorageError` (unless the app has a handler for it). A
            storage cannot be named ``exception_handlers``.
        **named_storages: Storages injected as ``{name}_storage``.

    Raises:
        TypeError: If a storage is ``None`` or ``exception_handlers`` is not a ``bool``.
        ValueError: If a name is not a Python identifier.
    """

    __slots__ = ("_exception_handlers", "storages")

    def __init__(
        self,
        default: Storage | MemoryConfig | None = None,
        *,
        exception_handlers: bool = True,
        **named_storages: Storage | MemoryConfig,
    ) -> None:
        if type(exception_handlers) is not bool:
            raise TypeError(f"exception_handlers must be a bool, not {type(exception_handlers).__name__}")
        storages: dict[str, Storage | MemoryConfig] = {}
        if default is not None:
            storages["default"] = default
        for name, storage in named_storages.items():
            if not name.isidentifier():
                raise ValueError(f"a storage name must be a Python identifier, got {name!r}")
            if storage is None:
                raise TypeError(f"the storage {name!r} is None: give a storage or a MemoryConfig")
            storages[name] = storage
        self.storages: dict[str, Storage | MemoryConfig] = storages
        """The storages (or configs) given, by name (``"default"`` for ``default``)."""
        self._exception_handlers = exception_handlers

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the dependencies, the lifespan of owned storages and the error handler.

        Called by Litestar when the app is created.

        Args:
            app_config: The app's configuration.

        Returns:
            The same configuration, changed.

        Raises:
            ImproperlyConfiguredException: If the app already has a dependency with the
                name of one of the plugin's storages.
        """
        dependencies = dict(app_config.dependencies or {})
        owned: dict[str, MemoryConfig] = {}
        for name, storage in self.storages.items():
            dependency = _dependency_name(name)
            if dependency in dependencies:
                raise ImproperlyConfiguredException(
                    f"StoragePlugin: the app already has a dependency named {dependency!r}"
                )
            if isinstance(storage, MemoryConfig):
                owned[dependency] = storage
                dependencies[dependency] = Provide(_running_storage(dependency), sync_to_thread=False)
            else:
                dependencies[dependency] = Provide(provide_storage(storage), sync_to_thread=False)
        app_config.dependencies = dependencies
        if owned:
            app_config.lifespan = [*app_config.lifespan, _owned_lifespan(owned)]
        if self._exception_handlers:
            handlers = dict(app_config.exception_handlers or {})
            handlers.setdefault(StorageError, storage_error_handler)
            app_config.exception_handlers = handlers
        return app_config

    def get_storage(self, app: Litestar, name: str = "default") -> Storage:
        """The storage that ``app``'s handlers get as ``name`` (``"default"``: ``storage``).

        For a storage given to the plugin, that storage; for a ``MemoryConfig``, the
        storage the plugin created for the app's current lifespan (to fill it in a
        startup hook, or to look into it from a test).

        Args:
            app: The app the plugin was given to.
            name: The storage's name.

        Returns:
            The storage.

        Raises:
            KeyError: If the plugin has no storage of that name.
            StorageClosedError: For a ``MemoryConfig`` when ``app`` is not running.
        """
        if name not in self.storages:
            raise KeyError(f"StoragePlugin has no storage named {name!r}; it has {sorted(self.storages)}")
        storage = self.storages[name]
        if not isinstance(storage, MemoryConfig):
            return storage
        dependency = _dependency_name(name)
        running: Storage | None = app.state.get(_STATE_KEY.format(dependency))
        if running is None:
            raise _not_running(dependency)
        return running


def _owned_lifespan(
    configs: Mapping[str, MemoryConfig],
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan manager: a new storage for each config at startup, closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for dependency, config in configs.items():
                key = _STATE_KEY.format(dependency)
                storage = MemoryStorage(config)
                stack.push_async_callback(_retire, app.state, key, storage)
                app.state[key] = storage
            yield

    return lifespan


async def _retire(state: State, key: str, storage: MemoryStorage) -> None:
    """Take a storage the plugin created out of the app's state, then close it."""
    if state.get(key) is storage:
        del state[key]
    await storage.close()
