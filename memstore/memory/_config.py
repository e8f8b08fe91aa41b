"""The configuration of a memory storage, shared by both faces."""

from __future__ import annotations

from dataclasses import dataclass

from memstore._ops import check_int

__all__ = ["MAX_CHUNK_SIZE", "MAX_SIZE_LIMIT", "MemoryConfig"]

MAX_SIZE_LIMIT = 2**63 - 1
"""The largest ``max_size`` and ``offload_threshold`` accepted (about 9.2 EB)."""

MAX_CHUNK_SIZE = 1 << 30
"""The largest ``chunk_size`` accepted (1 GiB)."""


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """Configuration of a :class:`~memstore.MemoryStorage` (and of its sync twin).

    Attributes:
        max_size: Maximum total bytes stored (``None`` for unlimited), at most
            ``2**63 - 1``. Overwriting a key counts only the difference in size; copies
            count in full.
        chunk_size: Size of the chunks ``get`` yields for large files, and the size
            small chunks of a streamed ``put`` are gathered into (1 byte to 1 GiB).
        offload_threshold: Payloads (or stream chunks) at least this large are hashed
            and copied in a worker thread, so the event loop never stalls on them.

    Raises:
        TypeError: If a value is not an ``int`` (``max_size`` may also be ``None``).
        ConfigurationError: If a value is out of range (a ``ValueError``).
    """

    max_size: int | None = None
    chunk_size: int = 64 * 1024
    offload_threshold: int = 1024 * 1024

    def __post_init__(self) -> None:
        """Validate the settings."""
        if self.max_size is not None:
            check_int("max_size", self.max_size, 0, MAX_SIZE_LIMIT)
        check_int("chunk_size", self.chunk_size, 1, MAX_CHUNK_SIZE)
        check_int("offload_threshold", self.offload_threshold, 0, MAX_SIZE_LIMIT)
