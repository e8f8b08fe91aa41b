"""The hand-written part of each face of the memory backend: construction and lifecycle.

Both faces hold the same kind of state, ``self._engine``, and check it in one place,
``_open()``, which is the single owner of "closed": every public method of either face
raises :class:`~memstore.StorageClosedError` with one message that names the class the
caller holds. Everything else is written once, in ``_async.py``, and generated into
``_sync.py``.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from memstore._concurrency import offload
from memstore._ops import BULK_KEYS, Data, closed_error, unexpected_keywords
from memstore._portal import Runner, RunnerName, portal_host
from memstore.exceptions import StorageClosedError
from memstore.memory import _registry
from memstore.memory._config import MemoryConfig
from memstore.memory._engine import Engine, entries_of

if TYPE_CHECKING:
    from typing_extensions import Self

    from memstore.memory._async import MemoryStorage
    from memstore.types import StoredFile

__all__ = ["AsyncFace", "SyncFace"]

_CLOSED = Engine(None)
_CLOSED.close()


def _config(config: object, owner: str) -> MemoryConfig:
    if config is None:
        return MemoryConfig()
    if not isinstance(config, MemoryConfig):
        example = f"max_size={config!r}" if type(config) is int else "max_size=10 * 1024**2"
        raise TypeError(
            f"config must be a MemoryConfig or None, not {type(config).__name__}: "
            f"e.g. {owner}(MemoryConfig({example}))"
        )
    return config


def _unexpected(owner: str, options: dict[str, object]) -> TypeError:
    """The error for keyword arguments a constructor does not take, with the right call."""
    return unexpected_keywords(owner, options, MemoryConfig, "limits and tuning")


def _named_repr(text: str, name: str | None) -> str:
    """``Name(files=...)`` with ``name='lab', `` first inside the parentheses for a named storage."""
    if name is None:
        return text
    head, paren, rest = text.partition("(")
    return f"{head}{paren}name={name!r}, {rest}"


class AsyncFace:
    """Construction and lifecycle of :class:`~memstore.MemoryStorage`."""

    _engine: Engine
    _name: str | None = None  # set once by the registry for a named storage

    def __init__(self, config: MemoryConfig | None = None, **unexpected: object) -> None:
        """Create an empty storage.

        Args:
            config: Limits and tuning (:class:`~memstore.MemoryConfig`); defaults to no limit.
            unexpected: Accepts nothing: a setting given here (``max_size=10``) raises
                a ``TypeError`` that shows the call with a ``MemoryConfig``.

        Raises:
            TypeError: If ``config`` is not a :class:`~memstore.MemoryConfig` or ``None``,
                or for any other keyword argument.
        """
        if unexpected:
            raise _unexpected(type(self).__name__, unexpected)
        self.config = _config(config, type(self).__name__)
        self._engine = Engine(self.config.max_size)

    @classmethod
    def named(cls, name: str, config: MemoryConfig | None = None) -> Self:
        """The storage registered under ``name``, created (empty) on first use.

        Like :func:`logging.getLogger`, for the whole process and every thread: calling
        it again, from a re-run notebook cell or another module, returns the same
        storage with its files, and ``memstore://NAME/KEY`` URLs (:mod:`memstore.fsspec`)
        reach it. The storage stays registered until it is closed; then the name is free
        and the next call creates a new, empty storage. Storages made with the
        constructor are anonymous and never registered.

        Args:
            name: The storage's name: 1 to 63 characters of lowercase ASCII letters,
                digits, ``-``, ``_`` and ``.``, starting and ending with a letter or a
                digit, so that it can be the host of a URL (``"lab"``, ``"run-2024.01"``).
            config: The configuration for a new storage. ``None`` (default) takes an
                existing storage as it is, or creates one with the default configuration.

        Returns:
            The named storage.

        Raises:
            ConfigurationError: If ``name`` breaks the naming rule, or ``config`` is
                given and differs from the configuration of the existing storage (the
                message shows both).
            TypeError: If ``name`` is not a ``str`` or ``config`` not a
                :class:`~memstore.MemoryConfig` or ``None``.
        """
        if config is not None:
            _config(config, cls.__name__)
        return _registry.get_or_create(name, config, cls)  # type: ignore[arg-type, return-value]

    @property
    def name(self) -> str | None:
        """The name this storage is registered under (:meth:`named`), ``None`` if anonymous."""
        return self._name

    def __repr__(self) -> str:
        """``MemoryStorage(name='lab', files=3, used_bytes=1024, max_size=None)``; no name if anonymous."""
        return _named_repr(super().__repr__(), self._name)

    def _open(self) -> Engine:
        """The engine, if this storage is open."""
        engine = self._engine
        if engine.closed:
            raise closed_error(self)
        return engine

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._engine.closed

    async def close(self) -> None:
        """Drop all contents and refuse further use (idempotent).

        Subscribers get one last ``"close"`` event. Every sync twin over this storage
        (:meth:`~memstore.SyncMemoryStorage.wrap`) is closed with it. A named storage
        leaves the registry: its name is free again.
        """
        engine = self._engine
        # Dropping many files takes a while: a big storage is closed in a worker thread.
        await offload(engine.close, when=not engine.closed and engine.count_prefix("") >= BULK_KEYS)
        _registry.forget(self)  # type: ignore[arg-type]

    def _register(self, name: str) -> None:
        """Register this new storage (made by ``load``) under ``name``; see :meth:`named`."""
        _registry.register(name, self)  # type: ignore[arg-type]

    def _discard(self) -> None:
        """Close a storage that a failed ``load`` made (never handed to anyone)."""
        self._engine.close()
        _registry.forget(self)  # type: ignore[arg-type]

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle with the contents and the config: unpickling gives a new, independent storage.

        Raises:
            StorageClosedError: If the storage is closed.
        """
        return (_unpickle, (type(self), self.config, _pickled_items(self)))


class SyncFace:
    """Construction and lifecycle of :class:`~memstore.SyncMemoryStorage`."""

    _engine: Engine
    _core: MemoryStorage

    def __init__(
        self, config: MemoryConfig | None = None, *, runner: RunnerName = "portal", **unexpected: object
    ) -> None:
        """Create an empty storage, with its own async core.

        Args:
            config: Limits and tuning (:class:`~memstore.MemoryConfig`); defaults to no limit.
            runner: Where an async iterable given to ``put`` is consumed: ``"portal"``
                (default) on memstore's shared anyio blocking portal, or ``"nested"`` on
                the caller's own running asyncio loop through nest-asyncio2, for streams
                bound to that loop. Every other call runs right in the calling thread.
            unexpected: Accepts nothing: a setting given here (``max_size=10``) raises
                a ``TypeError`` that shows the call with a ``MemoryConfig``.

        Raises:
            TypeError: If ``config`` is not a :class:`~memstore.MemoryConfig` or ``None``,
                or for any other keyword argument.
            ValueError: If ``runner`` is not ``"portal"`` or ``"nested"``.
            ImportError: If ``runner="nested"`` and nest-asyncio2 is not installed.
        """
        from memstore.memory._async import MemoryStorage

        owner = type(self).__name__
        if unexpected:
            raise _unexpected(owner, unexpected)
        runner_ = Runner(runner, owner=owner)
        self._setup(MemoryStorage(_config(config, owner)), owns=True, runner=runner_)

    def _setup(self, core: MemoryStorage, *, owns: bool, runner: Runner) -> None:
        self._core = core
        self._engine = core._engine
        self.config: MemoryConfig = core.config
        self._owns = owns
        self._runner = runner
        portal_host.acquire()
        self._release = weakref.finalize(self, portal_host.release)

    @classmethod
    def wrap(cls, storage: MemoryStorage, *, runner: RunnerName = "portal") -> Self:
        """A synchronous face over an existing :class:`~memstore.MemoryStorage`.

        Files are shared with everyone who uses ``storage``; closing the facade does
        not close ``storage``, closing ``storage`` closes the facade.

        Raises:
            TypeError: If ``storage`` is not a :class:`~memstore.MemoryStorage`.
        """
        from memstore.memory._async import MemoryStorage

        if not isinstance(storage, MemoryStorage):
            raise TypeError(f"wrap() needs a MemoryStorage, not {type(storage).__name__}")
        self = cls.__new__(cls)
        self._setup(storage, owns=False, runner=Runner(runner, owner=cls.__name__))
        return self

    @classmethod
    def named(cls, name: str, config: MemoryConfig | None = None, *, runner: RunnerName = "portal") -> Self:
        """A synchronous face over the storage registered under ``name``, created on first use.

        The storage is :meth:`MemoryStorage.named(name, config) <memstore.MemoryStorage.named>`:
        every facade returned for a name, and the async storage itself, share its files.
        The facade stands for the named storage: closing it closes the storage (every
        other facade over it too) and frees the name.

        Args:
            name: The storage's name (1 to 63 characters of lowercase ASCII letters,
                digits, ``-``, ``_`` and ``.``, starting and ending with a letter or a digit).
            config: The configuration for a new storage; ``None`` (default) takes an
                existing storage as it is.
            runner: Where an async iterable given to ``put`` is consumed (as in the constructor).

        Raises:
            ConfigurationError: If ``name`` breaks the naming rule, or ``config`` differs
                from the configuration of the existing storage.
            TypeError: If ``name`` is not a ``str`` or ``config`` not a
                :class:`~memstore.MemoryConfig` or ``None``.
            ValueError: If ``runner`` is not ``"portal"`` or ``"nested"``.
        """
        from memstore.memory._async import MemoryStorage

        runner_ = Runner(runner, owner=cls.__name__)
        core = MemoryStorage.named(name, config)
        self = cls.__new__(cls)
        self._setup(core, owns=True, runner=runner_)
        return self

    @property
    def name(self) -> str | None:
        """The name of the storage under this facade (:meth:`named`), ``None`` if anonymous."""
        return self._core._name

    def __repr__(self) -> str:
        """``SyncMemoryStorage(name='lab', files=3, used_bytes=1024, max_size=None)``."""
        return _named_repr(super().__repr__(), self._core._name)

    @property
    def async_storage(self) -> MemoryStorage:
        """The async :class:`~memstore.MemoryStorage` this facade runs on (same files)."""
        return self._core

    @property
    def runner(self) -> RunnerName:
        """Where async iterables given to ``put`` run: ``"portal"`` or ``"nested"``."""
        return self._runner.name

    def _open(self) -> Engine:
        """The engine, if this facade (and the storage under it) is open."""
        engine = self._engine
        if engine.closed:
            raise closed_error(self)
        return engine

    @property
    def closed(self) -> bool:
        """Whether this facade, or the storage under it, is closed."""
        return self._engine.closed

    def _discard(self) -> None:
        """Close a storage that a failed ``load`` made (never handed to anyone)."""
        self.close()

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle with the contents, the config and the runner: unpickling gives a new, independent storage.

        Raises:
            StorageClosedError: If the storage is closed.
        """
        return (_unpickle, (type(self), self.config, _pickled_items(self), self.runner))

    def _register(self, name: str) -> None:
        """Register this new storage's core (made by ``load``) under ``name``."""
        _registry.register(name, self._core)

    def close(self) -> None:
        """Close the facade (idempotent).

        A facade that created its storage closes it too (dropping its contents); one
        made by :meth:`wrap` leaves the wrapped storage open. When the last open facade
        of the process closes, memstore's portal thread stops.
        """
        engine = self._engine
        if engine is _CLOSED:
            return
        self._engine = _CLOSED  # reads that skip the check on a hit now miss, then raise
        if self._owns:
            engine.close()
            _registry.forget(self._core)
        self._release()


def _pickled_items(storage: AsyncFace | SyncFace) -> list[tuple[StoredFile, Data]]:
    """What a pickle of ``storage`` carries: every file and its contents (refused once closed)."""
    if storage.closed:
        raise StorageClosedError(
            f"cannot pickle this {type(storage).__name__}: it is closed (its contents are gone)"
        )
    return [(entry.file, entry.data) for entry in storage._open().snapshot()._items]


def _unpickle(cls: type, config: MemoryConfig, items: list[tuple[StoredFile, Data]], *runner: str) -> object:
    """A new storage of ``cls`` holding ``items`` (what :meth:`AsyncFace.__reduce__` gives to pickle)."""
    storage = cls(config, runner=runner[0]) if runner else cls(config)
    engine = storage._open()
    engine.install(engine.prepare(entries_of(items), "unpickling a storage"))
    return storage
