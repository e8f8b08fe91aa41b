"""memstore: an in-memory object storage with an async core, a sync facade and a notebook browser.

Example:
    >>> from memstore import SyncMemoryStorage
    >>> with SyncMemoryStorage() as storage:
    ...     storage.put("hello.txt", b"hi").size
    2
"""

from memstore._keys import MAX_KEY_LENGTH, validate_key
from memstore._sync import SyncMemoryStorage
from memstore.base import BaseStorage, PutData, Storage
from memstore.exceptions import (
    ConfigurationError,
    InvalidKeyError,
    StorageClosedError,
    StorageError,
    StorageFileExistsError,
    StorageFileNotFoundError,
    StorageQuotaExceededError,
)
from memstore.memory import MemoryConfig, MemoryStorage
from memstore.types import EventKind, PrefixUsage, StorageEvent, StorageUsage, StoredFile

__all__ = [
    "MAX_KEY_LENGTH",
    "BaseStorage",
    "ConfigurationError",
    "EventKind",
    "InvalidKeyError",
    "MemoryConfig",
    "MemoryStorage",
    "PrefixUsage",
    "PutData",
    "Storage",
    "StorageClosedError",
    "StorageError",
    "StorageEvent",
    "StorageFileExistsError",
    "StorageFileNotFoundError",
    "StorageQuotaExceededError",
    "StorageUsage",
    "StoredFile",
    "SyncMemoryStorage",
    "validate_key",
]

__version__ = "0.1.0"
