"""The exception hierarchy of memstore.

Every failure of a storage operation raises a subclass of :class:`StorageError`, so
``except StorageError`` catches them all. Errors about bad arguments also derive from
the matching built-in (:class:`InvalidKeyError` and :class:`ConfigurationError` are
:class:`ValueError` subclasses), so code written against plain Python conventions keeps working.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "InvalidKeyError",
    "StorageClosedError",
    "StorageConnectionError",
    "StorageError",
    "StorageFileExistsError",
    "StorageFileNotFoundError",
    "StorageFormatError",
    "StoragePreconditionFailedError",
    "StorageQuotaExceededError",
]


def describe_key(key: object, limit: int = 80) -> str:
    """Return ``repr(key)``, shortened to about ``limit`` characters for messages."""
    text = repr(key)
    if len(text) > limit:
        text = text[: limit - 5] + "...'" + f" ({len(key) if isinstance(key, str) else '?'} chars)"
    return text


class StorageError(Exception):
    """Base class of every error a storage operation raises."""


class StorageFileNotFoundError(StorageError):
    """Raised when a key does not exist in the storage.

    Attributes:
        key: The key that was not found.
    """

    def __init__(self, key: str) -> None:
        """Create the error for ``key``."""
        self.key = key
        super().__init__(f"File not found: {describe_key(key)}")

    def __reduce__(self) -> tuple[type[StorageFileNotFoundError], tuple[str]]:
        """Support pickling (the error crosses threads and processes)."""
        return (type(self), (self.key,))


class StorageFileExistsError(StorageError):
    """Raised when a write that must not overwrite finds its key taken.

    Attributes:
        key: The key that already exists.
    """

    def __init__(self, key: str) -> None:
        """Create the error for ``key``."""
        self.key = key
        super().__init__(f"File already exists: {describe_key(key)}")

    def __reduce__(self) -> tuple[type[StorageFileExistsError], tuple[str]]:
        """Support pickling."""
        return (type(self), (self.key,))


class StoragePreconditionFailedError(StorageError):
    """Raised when a conditional write (``if_match=``) finds another version, or no file.

    Decided at the commit step, atomically: nothing was written or deleted.

    Attributes:
        key: The key of the conditional write.
        expected: The ETag the write asked for.
        actual: The ETag stored when the write was decided, or ``None`` if the key was missing.
    """

    def __init__(self, key: str, *, expected: str, actual: str | None) -> None:
        """Create the error with the ETag asked for and the one found."""
        self.key = key
        self.expected = expected
        self.actual = actual
        found = "the key does not exist" if actual is None else f"its ETag is {actual}"
        super().__init__(
            f"Precondition failed for {describe_key(key)}: expected ETag {expected}, but {found}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        """Support pickling."""
        return (_rebuild_precondition_error, (self.key, self.expected, self.actual))


def _rebuild_precondition_error(
    key: str, expected: str, actual: str | None
) -> StoragePreconditionFailedError:
    return StoragePreconditionFailedError(key, expected=expected, actual=actual)


class StorageQuotaExceededError(StorageError):
    """Raised when a write would take the storage past ``MemoryConfig.max_size``.

    Nothing is stored when this is raised.

    Attributes:
        key: The key being written.
        max_size: The configured limit in bytes.
        used_bytes: Bytes in use (committed) when the write was refused.
        requested_bytes: Bytes the write asked for (so far, for a stream).
    """

    def __init__(
        self, key: str, *, max_size: int, used_bytes: int, requested_bytes: int, action: str | None = None
    ) -> None:
        """Create the error with the numbers that explain it.

        ``action`` replaces "writing <key>" in the message for writes of many files at
        once (``"restoring a snapshot"``, ``"loading 'store.tar'"``).
        """
        self.key = key
        self.max_size = max_size
        self.used_bytes = used_bytes
        self.requested_bytes = requested_bytes
        self.action = action
        doing = f"writing {describe_key(key)}" if action is None else action
        super().__init__(
            f"Storage quota exceeded {doing}: it needs {requested_bytes:,} bytes, "
            f"{used_bytes:,} of max_size {max_size:,} bytes are in use "
            f"({max(max_size - used_bytes, 0):,} free)"
        )

    def __reduce__(self) -> tuple[object, ...]:
        """Support pickling."""
        return (
            _rebuild_quota_error,
            (self.key, self.max_size, self.used_bytes, self.requested_bytes, self.action),
        )


def _rebuild_quota_error(
    key: str, max_size: int, used: int, requested: int, action: str | None = None
) -> StorageQuotaExceededError:
    return StorageQuotaExceededError(
        key, max_size=max_size, used_bytes=used, requested_bytes=requested, action=action
    )


class InvalidKeyError(StorageError, ValueError):
    """Raised when a key is not a valid storage key (see :func:`memstore.validate_key`).

    Attributes:
        key: The rejected key.
        reason: Why it was rejected.
    """

    def __init__(self, key: str, reason: str) -> None:
        """Create the error for ``key`` with a human-readable ``reason``."""
        self.key = key
        self.reason = reason
        super().__init__(f"Invalid key {describe_key(key)}: {reason}")

    def __reduce__(self) -> tuple[type[InvalidKeyError], tuple[str, str]]:
        """Support pickling."""
        return (type(self), (self.key, self.reason))


class ConfigurationError(StorageError, ValueError):
    """Raised when a storage is configured with invalid settings."""


class StorageClosedError(StorageError):
    """Raised when a closed storage (or sync facade) is used."""


class StorageFormatError(StorageError):
    """Raised when a saved storage file cannot be loaded: truncated, corrupted, hostile or too new.

    Nothing is loaded when this is raised.

    Attributes:
        path: The file that was being loaded.
        problem: What is wrong with it.
    """

    def __init__(self, path: str, problem: str) -> None:
        """Create the error for the file at ``path``."""
        self.path = path
        self.problem = problem
        super().__init__(f"Cannot load {path!r}: {problem}")

    def __reduce__(self) -> tuple[type[StorageFormatError], tuple[str, str]]:
        """Support pickling."""
        return (type(self), (self.path, self.problem))


class StorageConnectionError(StorageError):
    """Raised when a storage cannot reach its server (down, unreachable, or too slow to answer).

    The message names the server's address, never its password. A write cut by a lost
    connection was applied wholly or not at all: read the key to know which.

    Attributes:
        address: The server's address, without credentials (``redis://host:port/db``).
    """

    def __init__(self, address: str, reason: str) -> None:
        """Create the error for the server at ``address`` (credentials already removed)."""
        self.address = address
        self.reason = reason
        super().__init__(f"cannot reach the storage server at {address}: {reason}")

    def __reduce__(self) -> tuple[type[StorageConnectionError], tuple[str, str]]:
        """Support pickling."""
        return (type(self), (self.address, self.reason))
