"""The async storage contract: a structural :class:`Storage` protocol and an ABC."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from memstore.types import StoredFile

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["BaseStorage", "BytesLike", "PutData", "Storage"]

BytesLike = bytes | bytearray | memoryview
"""A bytes-like value: ``bytes``, ``bytearray`` or ``memoryview`` (mutable ones are copied)."""

PutData = BytesLike | AsyncIterable[BytesLike]
"""What ``put`` accepts (bytes-like data, or an async iterable of bytes-like chunks)."""


@runtime_checkable
class Storage(Protocol):
    """The async object-storage API that memstore implements (structural type).

    Any object with these methods can stand in for a :class:`memstore.MemoryStorage`
    in code that only depends on the API.
    """

    async def put(
        self,
        key: str,
        data: PutData,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> StoredFile:
        """Store ``data`` at ``key`` and return its metadata."""
        ...

    def get(self, key: str) -> AsyncIterator[bytes]:
        """Iterate over the contents of ``key`` in chunks."""
        ...

    async def get_bytes(self, key: str) -> bytes:
        """Return the whole contents of ``key``."""
        ...

    async def delete(self, key: str) -> None:
        """Delete ``key``."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        ...

    def list(self, prefix: str = "", *, limit: int | None = None) -> AsyncIterator[StoredFile]:
        """Iterate over the files whose key starts with ``prefix``."""
        ...

    async def url(self, key: str, *, expires_in: timedelta | None = None) -> str:
        """Return a URL for ``key``."""
        ...

    async def copy(self, source: str, destination: str) -> StoredFile:
        """Copy ``source`` to ``destination``."""
        ...

    async def move(self, source: str, destination: str) -> StoredFile:
        """Move ``source`` to ``destination``."""
        ...

    async def info(self, key: str) -> StoredFile:
        """Return the metadata of ``key``."""
        ...


class BaseStorage(ABC):
    """Abstract base class for storage backends, with the async context-manager protocol.

    Subclasses implement the abstract methods; ``close`` defaults to doing nothing.
    """

    @abstractmethod
    async def put(
        self,
        key: str,
        data: PutData,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> StoredFile:
        """Store ``data`` at ``key`` and return its metadata."""

    @abstractmethod
    def get(self, key: str) -> AsyncIterator[bytes]:
        """Iterate over the contents of ``key`` in chunks."""

    @abstractmethod
    async def get_bytes(self, key: str) -> bytes:
        """Return the whole contents of ``key``."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Delete ``key``."""

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""

    @abstractmethod
    def list(self, prefix: str = "", *, limit: int | None = None) -> AsyncIterator[StoredFile]:
        """Iterate over the files whose key starts with ``prefix``."""

    @abstractmethod
    async def url(self, key: str, *, expires_in: timedelta | None = None) -> str:
        """Return a URL for ``key``."""

    @abstractmethod
    async def copy(self, source: str, destination: str) -> StoredFile:
        """Copy ``source`` to ``destination``."""

    @abstractmethod
    async def move(self, source: str, destination: str) -> StoredFile:
        """Move ``source`` to ``destination``."""

    @abstractmethod
    async def info(self, key: str) -> StoredFile:
        """Return the metadata of ``key``."""

    async def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release the storage's resources. The default does nothing."""

    async def __aenter__(self) -> Self:
        """Enter ``async with``: returns the storage itself."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave ``async with``: closes the storage."""
        await self.close()
