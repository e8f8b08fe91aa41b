"""A throwaway ``redis-server`` on a free port of 127.0.0.1: for the tests and the benchmarks.

Not a public API: ``tests/redis_server.py`` (the session's server) and
``benchmarks/redis.py`` both start their server with :func:`start_redis`, which needs
Debian's ``redis-server`` on the ``PATH`` (``./dev.sh`` installs it, ``need_redis``).
No persistence unless asked for, ``maxmemory-policy noeviction``, nothing left running
once :meth:`RedisServer.stop` returns.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RedisServer", "start_redis"]

_START_TIMEOUT = 30.0  # seconds: generous for a loaded machine


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
    for _ in range(5):  # a free port can be taken between the probe and the bind: retry
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
