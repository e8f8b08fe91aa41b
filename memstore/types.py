"""Value types returned by memstore: all immutable and safe to share between threads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

__all__ = ["EMPTY_METADATA", "EventKind", "PrefixUsage", "StorageEvent", "StorageUsage", "StoredFile"]

EMPTY_METADATA: Mapping[str, str] = MappingProxyType({})
"""The shared, read-only empty metadata mapping."""

EventKind = Literal["put", "delete", "copy", "move", "clear"]
"""What a :class:`StorageEvent` reports."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    """Metadata about a stored file (never its contents).

    Instances are frozen, and :attr:`metadata` is a read-only view of a private copy,
    so nothing a caller does with a ``StoredFile`` can change what is stored.

    Attributes:
        key: The file's key.
        size: Size of the contents in bytes.
        content_type: MIME type (guessed from the key's extension when not given).
        etag: Entity tag: the quoted MD5 hex digest of the contents, as S3 reports it.
        last_modified: When the file was written (timezone-aware UTC).
        metadata: User metadata stored with the file (read-only mapping).
    """

    key: str
    size: int
    content_type: str | None = None
    etag: str | None = None
    last_modified: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY_METADATA, hash=False)

    def __post_init__(self) -> None:
        """Freeze ``metadata`` into a read-only copy unless it already is one."""
        if type(self.metadata) is not MappingProxyType:
            frozen = MappingProxyType(dict(self.metadata)) if self.metadata else EMPTY_METADATA
            object.__setattr__(self, "metadata", frozen)

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle with a plain-dict copy of the metadata."""
        return (
            StoredFile,
            (self.key, self.size, self.content_type, self.etag, self.last_modified, dict(self.metadata)),
        )

    def _repr_html_(self) -> str:
        """Render a small HTML card in notebooks (all text escaped)."""
        from memstore._html import stored_file_html

        return stored_file_html(self)


@dataclass(frozen=True, slots=True)
class StorageUsage:
    """A consistent snapshot of how much a storage holds.

    Attributes:
        file_count: Number of stored files.
        used_bytes: Sum of the sizes of the stored files.
        max_size: The configured limit in bytes, or ``None`` when unlimited.
    """

    file_count: int
    used_bytes: int
    max_size: int | None

    @property
    def free_bytes(self) -> int | None:
        """Bytes that can still be stored, or ``None`` when there is no limit."""
        if self.max_size is None:
            return None
        return max(self.max_size - self.used_bytes, 0)

    @property
    def fraction_used(self) -> float | None:
        """``used_bytes / max_size`` between 0 and 1, or ``None`` when unlimited."""
        if self.max_size is None:
            return None
        if self.max_size == 0:
            return 1.0
        return min(self.used_bytes / self.max_size, 1.0)


@dataclass(frozen=True, slots=True)
class PrefixUsage:
    """How much one top-level prefix ("folder") holds.

    Attributes:
        prefix: The top-level prefix including its trailing ``/`` (``"data/"``), or
            ``""`` for the keys that contain no ``/``.
        file_count: Number of files under the prefix.
        used_bytes: Sum of their sizes.
    """

    prefix: str
    file_count: int
    used_bytes: int


@dataclass(frozen=True, slots=True)
class StorageEvent:
    """A change that happened to a storage, delivered to subscribers after it happened.

    Attributes:
        kind: ``"put"``, ``"delete"``, ``"copy"``, ``"move"`` or ``"clear"``.
        key: The key written or deleted (the destination of a copy or move);
            ``None`` for ``"clear"``.
        file: The new file for put/copy/move, the removed file for delete, ``None`` for clear.
        source: The source key of a copy or move, otherwise ``None``.
    """

    kind: EventKind
    key: str | None
    file: StoredFile | None = None
    source: str | None = None
