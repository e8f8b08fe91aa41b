"""A private ``redis-server`` for tutorials and experiments: :func:`local_server`.

Starts the ``redis-server`` found on ``PATH`` (Debian: ``apt-get install redis-server``)
on a free port of 127.0.0.1, in a temporary directory, with no persistence and the
``noeviction`` policy memstore needs, and stops it (and removes the directory) when
asked, when the ``with`` block ends, or at the latest when the Python process exits.

:func:`start_redis` is the lower-level starter of the tests (``tests/redis_server.py``,
the session's server) and of ``benchmarks/redis.py``: a server in a directory the caller
owns, on a chosen port if asked (a restart on the same port), stopped by
:meth:`RedisServer.stop`. Not part of the public API.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from memstore.exceptions import ConfigurationError

__all__ = ["LocalRedisServer", "RedisServer", "local_server", "start_redis"]

_TRIES = 5  # a free port can be taken between the probe and the bind: try another
_START_TIMEOUT = 30.0  # seconds: generous for a loaded machine


class LocalRedisServer:
    """A ``redis-server`` process owned by this Python process (see :func:`local_server`).

    Attributes:
        port: The TCP port it listens on (on 127.0.0.1 only).
        directory: Its working directory (a temporary one, removed by :meth:`stop`).
    """

    def __init__(
        self, process: subprocess.Popen[bytes], port: int, directory: tempfile.TemporaryDirectory[str]
    ) -> None:
        """Take ownership of a started server (use :func:`local_server` to start one)."""
        self._process = process
        self.port = port
        self._tmp = directory
        self.directory = Path(directory.name)
        self._finalizer = weakref.finalize(self, _stop, process, directory)

    @property
    def url(self) -> str:
        """The server's URL for :class:`~memstore.redis.RedisConfig`: ``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the server process is still running."""
        return self._process.poll() is None

    def stop(self) -> None:
        """Stop the server, wait until it is gone and remove its directory (idempotent)."""
        self._finalizer()

    def __enter__(self) -> LocalRedisServer:
        """Enter the context: the server itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave the context: stop the server."""
        self.stop()

    def __repr__(self) -> str:
        """``LocalRedisServer(url='redis://127.0.0.1:<port>/0', running=True)``."""
        return f"LocalRedisServer(url={self.url!r}, running={self.running})"


def _stop(process: subprocess.Popen[bytes], directory: tempfile.TemporaryDirectory[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    directory.cleanup()


def local_server(*, args: Sequence[str] = (), timeout: float = 30.0) -> LocalRedisServer:
    """Start a private ``redis-server`` on a free port of 127.0.0.1 and wait until it answers.

    For tutorials, notebooks and trying the Redis backend without a server of your own:
    nothing is kept on disk, and the server stops with :meth:`LocalRedisServer.stop`, at
    the end of a ``with`` block, or when this Python process exits.

    Example:
        >>> with local_server() as server:
        ...     storage = SyncRedisStorage(RedisConfig(server.url))

    Args:
        args: More ``redis-server`` options (``["--appendonly", "yes"]``).
        timeout: Seconds to wait for the server to answer ``PING``.

    Returns:
        The running server.

    Raises:
        ConfigurationError: If ``redis-server`` is not installed, or does not start in time
            (the message ends with its log).
        TypeError: If ``args`` is not a sequence of ``str``.
    """
    if isinstance(args, str) or not all(isinstance(a, str) for a in args):
        raise TypeError("args must be a sequence of str (redis-server options)")
    exe = shutil.which("redis-server")
    if exe is None:
        raise ConfigurationError(
            "redis-server is not installed or not on PATH (Debian/Ubuntu: apt-get install redis-server; "
            "conda: conda install -c conda-forge redis-server)"
        )
    last = ""
    for _ in range(_TRIES):
        directory = tempfile.TemporaryDirectory(prefix="memstore-redis-")
        port = _free_port()
        command = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory.name, "--save", ""]
        command += ["--appendonly", "no", "--maxmemory-policy", "noeviction", "--protected-mode", "yes"]
        command += ["--daemonize", "no", *args]
        log_path = Path(directory.name) / "redis.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=directory.name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if _ping(port):
                return LocalRedisServer(process, port, directory)
            time.sleep(0.02)
        timed_out = process.poll() is None  # else it exited: the port was taken, or a bad option
        last = log_path.read_text(errors="replace")[-2000:]
        _stop(process, directory)
        if timed_out:
            raise ConfigurationError(
                f"redis-server did not answer within {timeout:g} s; its log ends with:\n{last}"
            )
    raise ConfigurationError(f"redis-server did not start on 127.0.0.1; its log ends with:\n{last}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A running redis-server owned by its caller (stop it with :meth:`stop`)."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server and wait until it is gone."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def start_redis(directory: Path, *extra: str, port: int | None = None) -> RedisServer:
    """Start ``redis-server`` on a free port (or ``port``), in ``directory``; wait for PING.

    No persistence unless ``extra`` asks for it, and ``maxmemory-policy noeviction``.

    Raises:
        FileNotFoundError: If ``redis-server`` is not installed.
        RuntimeError: If the server does not answer (the end of its log is in the message).
    """
    exe = shutil.which("redis-server")
    if exe is None:
        raise FileNotFoundError("redis-server is not installed (./dev.sh test installs it)")
    last: Exception | None = None
    for _ in range(_TRIES):
        chosen = port or _free_port()
        args = [exe, "--port", str(chosen), "--bind", "127.0.0.1", "--dir", str(directory), "--save", ""]
        args += ["--appendonly", "no", "--maxmemory-policy", "noeviction", "--protected-mode", "yes"]
        args += ["--daemonize", "no", *extra]
        log = (directory / f"redis-{chosen}.log").open("ab")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
        log.close()
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _ping(chosen):
                return RedisServer(process, chosen, directory)
            time.sleep(0.05)
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        last = RuntimeError(
            f"redis-server did not answer PING on port {chosen}: "
            + (directory / f"redis-{chosen}.log").read_text(errors="replace")[-2000:]
        )
        if port is not None:
            break
    assert last is not None
    raise last
