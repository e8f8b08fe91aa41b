"""memstore: an in-memory object storage with an async core, a sync facade and a notebook browser.

Example:
    >>> from memstore import SyncMemoryStorage
    >>> with SyncMemoryStorage() as storage:
    ...     storage.put("hello.txt", b"hi").size
    2
"""

from typing import TYPE_CHECKING

from memstore._keys import MAX_KEY_LENGTH, validate_key
from memstore.base import BaseStorage, PutData, Storage, SyncBaseStorage, SyncPutData, SyncStorage
from memstore.exceptions import (
    ConfigurationError,
    InvalidKeyError,
    StorageClosedError,
    StorageConnectionError,
    StorageError,
    StorageFileExistsError,
    StorageFileNotFoundError,
    StorageFormatError,
    StoragePreconditionFailedError,
    StorageQuotaExceededError,
)
from memstore.memory import MemoryConfig, MemoryStorage
from memstore.types import (
    DirListing,
    EventKind,
    PrefixUsage,
    SaveInfo,
    Snapshot,
    StorageEvent,
    StorageUsage,
    StoredFile,
)

if TYPE_CHECKING:
    from memstore.memory._sync import SyncMemoryStorage

__all__ = [
    "MAX_KEY_LENGTH",
    "BaseStorage",
    "ConfigurationError",
    "DirListing",
    "EventKind",
    "InvalidKeyError",
    "MemoryConfig",
    "MemoryStorage",
    "PrefixUsage",
    "PutData",
    "SaveInfo",
    "Snapshot",
    "Storage",
    "StorageClosedError",
    "StorageConnectionError",
    "StorageError",
    "StorageEvent",
    "StorageFileExistsError",
    "StorageFileNotFoundError",
    "StorageFormatError",
    "StoragePreconditionFailedError",
    "StorageQuotaExceededError",
    "StorageUsage",
    "StoredFile",
    "SyncBaseStorage",
    "SyncMemoryStorage",
    "SyncPutData",
    "SyncStorage",
    "validate_key",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # SyncMemoryStorage is imported on first use: async-only users never load the portal machinery.
    if name == "SyncMemoryStorage":
        from memstore.memory._sync import SyncMemoryStorage

        return SyncMemoryStorage
    raise AttributeError(f"module 'memstore' has no attribute {name!r}")
