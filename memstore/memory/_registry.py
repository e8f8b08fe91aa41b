"""The process-wide registry of named memory storages (``MemoryStorage.named``).

Like :func:`logging.getLogger`: asking for a name returns the storage registered under
it, creating it on first use, so re-running a notebook cell finds the same files, and a
``memstore://NAME/KEY`` URL (:mod:`memstore.fsspec`) reaches the storage a notebook
writes to. A named storage stays registered (the registry holds it) until it is closed;
then the name is free, and the next ``named(NAME)`` creates a new, empty storage.

The registry holds only async cores; each sync face made by
``SyncMemoryStorage.named`` is a facade over the registered core.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from memstore.exceptions import ConfigurationError

if TYPE_CHECKING:
    from memstore.memory._async import MemoryStorage
    from memstore.memory._config import MemoryConfig

__all__ = [
    "MAX_NAME_LENGTH",
    "NAME_RULE",
    "forget",
    "get_or_create",
    "lookup",
    "names",
    "register",
    "validate_name",
]

MAX_NAME_LENGTH = 63
"""The longest storage name accepted (one DNS label)."""

NAME_RULE = (
    "1 to 63 characters: lowercase ASCII letters, digits, '-', '_' and '.', "
    "starting and ending with a letter or a digit"
)
"""The rule every storage name follows, as error messages state it."""

_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?")

_lock = threading.Lock()
_storages: dict[str, MemoryStorage] = {}


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid storage name, else raise.

    A name is the host part of a ``memstore://NAME/KEY`` URL, so it keeps to what every
    URL parser keeps as it is: 1 to 63 characters of lowercase ASCII letters, digits,
    ``-``, ``_`` and ``.``, starting and ending with a letter or a digit (``lab``,
    ``run-2024.01``, ``scratch_1``). Uppercase is refused because URL parsers lowercase
    a host; ``/``, ``:``, ``@``, ``?`` and ``#`` would end the host or change its meaning.

    Raises:
        TypeError: If ``name`` is not a ``str``.
        ConfigurationError: If it breaks the rule (a ``ValueError``); the message
            names it and states the rule.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if _NAME.fullmatch(name) is None:
        raise ConfigurationError(f"invalid storage name {name!r:.80}: a name is {NAME_RULE}")
    return str(name)


def _live(name: str) -> MemoryStorage | None:
    """The open storage registered as ``name`` (dropping a closed one); hold ``_lock``."""
    storage = _storages.get(name)
    if storage is not None and storage.closed:  # closed by a path that did not call forget()
        del _storages[name]
        return None
    return storage


def get_or_create(
    name: object, config: MemoryConfig | None, create: Callable[[MemoryConfig | None], MemoryStorage]
) -> MemoryStorage:
    """The open storage named ``name``, or a new one made by ``create(config)`` and registered.

    Raises:
        TypeError: If ``name`` is not a ``str`` (``create`` checks ``config``).
        ConfigurationError: If ``name`` is invalid, or ``config`` is given and differs
            from the registered storage's configuration (the message shows both).
    """
    name = validate_name(name)
    with _lock:
        storage = _live(name)
        if storage is None:
            storage = create(config)
            storage._name = name
            _storages[name] = storage
            return storage
    if config is not None and config != storage.config:
        raise ConfigurationError(
            f"storage {name!r} exists with {storage.config!r}; it cannot be opened with {config!r} "
            f"(pass config=None to use it as it is, or close it first)"
        )
    return storage


def register(name: object, storage: MemoryStorage) -> None:
    """Register the new, anonymous ``storage`` as ``name`` (``load(..., name=...)``).

    Raises:
        TypeError: If ``name`` is not a ``str``.
        ConfigurationError: If ``name`` is invalid, or an open storage already has it
            (close that one first: a loaded storage never replaces another's files).
    """
    name = validate_name(name)
    with _lock:
        if _live(name) is not None:
            raise ConfigurationError(
                f"a storage named {name!r} is open: close it before loading another one under that name"
            )
        storage._name = name
        _storages[name] = storage


def lookup(name: str) -> MemoryStorage | None:
    """The open storage named ``name``, or ``None`` (never creates one)."""
    with _lock:
        return _live(name)


def forget(storage: MemoryStorage) -> None:
    """Unregister ``storage`` if it is registered (it is being closed): its name is free again."""
    name = storage._name
    if name is None:
        return
    with _lock:
        if _storages.get(name) is storage:
            del _storages[name]


def names() -> list[str]:
    """The names of the open named storages, sorted."""
    with _lock:
        return sorted(name for name in list(_storages) if _live(name) is not None)
