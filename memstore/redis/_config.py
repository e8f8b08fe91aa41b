"""The configuration of a Redis storage, shared by both faces."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from memstore._ops import check_int
from memstore.exceptions import ConfigurationError

__all__ = ["RedisConfig"]

_MAX_SIZE_LIMIT = 2**63 - 1
_MAX_CHUNK_SIZE = 512 * 1024 * 1024  # a Redis string holds at most 512 MiB
_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-]{1,100}")


@dataclass(frozen=True)
class _Address:
    """Where the server is, parsed from the URL (the password stays out of every repr)."""

    host: str | None
    port: int
    db: int
    unix_socket: str | None
    username: str | None
    password: str | None = field(repr=False)
    tls: bool

    def public(self) -> str:
        """The address without credentials, for messages and reprs."""
        user = f"{self.username}@" if self.username else ""
        if self.unix_socket is not None:
            return f"unix://{user}{self.unix_socket}?db={self.db}"
        scheme = "rediss" if self.tls else "redis"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}/{self.db}"


def parse_url(url: object) -> _Address:
    """Parse ``redis://[user:password@]host:port/db``, ``rediss://...`` or ``unix:///path?db=N``.

    Raises:
        TypeError: If ``url`` is not a ``str``.
        ConfigurationError: If it is not such a URL (the message never shows the password).
    """
    if type(url) is not str:
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"url is not a valid Redis URL: {_hide(url)} ({exc})") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigurationError(f"a unix:// url needs the socket's path: {_hide(url)}")
        db = _db(parts.query[3:] if parts.query.startswith("db=") else "" if not parts.query else "?", url)
        return _Address(None, 0, db, parts.path, username, password, tls=False)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigurationError(
            f"url must start with redis://, rediss:// or unix://, got {_hide(url)!r:.80}"
        )
    if not parts.hostname:
        raise ConfigurationError(f"url needs a host: {_hide(url)}")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"url takes no query or fragment: {_hide(url)}")
    db = _db(parts.path.lstrip("/"), url) if parts.path not in ("", "/") else 0
    return _Address(parts.hostname, port or 6379, db, None, username, password, tls=parts.scheme == "rediss")


def _db(text: str, url: str) -> int:
    if not text.isdigit() or int(text) > 15_999:
        raise ConfigurationError(f"the database in url must be a number (redis://host:port/0): {_hide(url)}")
    return int(text)


def _hide(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """Configuration of a :class:`~memstore.redis.RedisStorage` (and of its sync twin).

    Every client with the same server and ``namespace`` sees the same files and shares
    one quota ledger, kept on the server.

    Attributes:
        url: The server: ``redis://[user:password@]host:port/db``, ``rediss://...`` (TLS)
            or ``unix:///path/to/redis.sock?db=0``. The password never appears in a repr
            or an error message.
        namespace: Prefix of every Redis key this storage uses (letters, digits, ``_.-``).
            Two namespaces never see each other's files.
        max_size: Maximum total bytes stored in the namespace (``None`` for unlimited).
            Every client of a namespace should use the same value: it is checked by the
            server at each commit against the bytes the namespace holds.
        chunk_size: Files are stored (and streamed by ``get``) in chunks of this many
            bytes (1 byte to 512 MiB, a Redis string's limit).
        timeout: Seconds a call may wait for the server before raising
            :class:`~memstore.StorageConnectionError`.
        connect_timeout: Seconds to wait for a connection.
        lease: Seconds a streamed put may stay silent before its staged chunks and its
            quota reservation are reclaimed (a writer that died mid-stream).
        offload_threshold: Payloads at least this large are hashed in a worker thread.

    Raises:
        TypeError: If a value has the wrong type.
        ConfigurationError: If a value is out of range or the URL is not valid (a ``ValueError``).
    """

    url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    namespace: str = "memstore"
    max_size: int | None = None
    chunk_size: int = 1 << 20
    timeout: float = 5.0
    connect_timeout: float = 5.0
    lease: float = 30.0
    offload_threshold: int = 1024 * 1024
    _address: _Address = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Validate the settings."""
        object.__setattr__(self, "_address", parse_url(self.url))
        if type(self.namespace) is not str:
            raise TypeError(f"namespace must be a str, not {type(self.namespace).__name__}")
        if not _NAMESPACE.fullmatch(self.namespace):
            raise ConfigurationError(
                f"namespace must be 1 to 100 letters, digits, '_', '.' or '-', got {self.namespace!r:.60}"
            )
        if self.max_size is not None:
            check_int("max_size", self.max_size, 0, _MAX_SIZE_LIMIT)
        check_int("chunk_size", self.chunk_size, 1, _MAX_CHUNK_SIZE)
        check_int("offload_threshold", self.offload_threshold, 0, _MAX_SIZE_LIMIT)
        for name in ("timeout", "connect_timeout", "lease"):
            value = getattr(self, name)
            if type(value) not in (int, float):
                raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
            if not 0 < value <= 86_400:
                raise ConfigurationError(f"{name} must be > 0 and <= 86400 seconds, got {value}")

    @property
    def address(self) -> str:
        """The server's address without credentials (for messages)."""
        return self._address.public()

    def __repr__(self) -> str:
        """The settings, with the URL shown without its password."""
        return (
            f"RedisConfig(url={self.address!r}, namespace={self.namespace!r}, max_size={self.max_size!r}, "
            f"chunk_size={self.chunk_size!r}, timeout={self.timeout!r}, "
            f"connect_timeout={self.connect_timeout!r}, lease={self.lease!r}, "
            f"offload_threshold={self.offload_threshold!r})"
        )
