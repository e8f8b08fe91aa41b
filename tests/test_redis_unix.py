"""The Redis backend over a unix socket: ``unix:///path/to/redis.sock?db=N`` URLs."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from memstore import DirListing, StorageFileNotFoundError, StorageUsage
from memstore.redis import RedisConfig, RedisStorage, SyncRedisStorage
from tests.redis_server import RedisServer


@pytest.fixture(scope="module")
def unix_socket(redis_server: RedisServer) -> Iterator[Path]:
    """A redis-server listening on a unix socket only (no TCP port), in a short temporary path."""
    exe = shutil.which("redis-server")
    assert exe is not None  # (the redis_server fixture skipped otherwise)
    with tempfile.TemporaryDirectory(prefix="ms-") as tmp:  # a socket path is at most ~100 bytes
        path = Path(tmp) / "redis.sock"
        args = [exe, "--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700", "--dir", tmp]
        args += ["--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
        try:
            deadline = time.monotonic() + 30
            while not _answers(path):
                assert process.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not answer on its unix socket"
                time.sleep(0.05)
            yield path
        finally:
            process.kill()
            process.wait(timeout=30)


def _answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def test_the_sync_face_over_a_unix_socket(unix_socket: Path) -> None:
    config = RedisConfig(f"unix://{unix_socket}?db=1", namespace="unix", chunk_size=4, max_size=100)
    assert config.address == f"unix://{unix_socket}?db=1"
    with SyncRedisStorage(config) as storage:
        storage.put("docs/a.txt", b"hello world")
        storage.put("docs/sub/b.txt", iter([b"ab", b"cdefg"]))
        assert storage.get_bytes("docs/a.txt", start=6) == b"world"
        assert list(storage.get("docs/a.txt")) == [b"hell", b"o wo", b"rld"]
        assert storage.list_dir("docs/") == DirListing(("docs/sub/",), (storage.info("docs/a.txt"),))
        storage.copy("docs/a.txt", "c.txt")
        storage.move("c.txt", "d.txt")
        assert [f.key for f in storage.list()] == ["d.txt", "docs/a.txt", "docs/sub/b.txt"]
        assert storage.delete_prefix("docs/") == 2
        with pytest.raises(StorageFileNotFoundError):
            storage.get("docs/a.txt")
        assert storage.get_usage() == StorageUsage(1, 11, 100)
        assert storage.check() == []
    with SyncRedisStorage(RedisConfig(f"unix://{unix_socket}?db=0", namespace="unix")) as other_db:
        assert not other_db.exists("d.txt")  # another database of the server


@pytest.mark.anyio
async def test_the_async_face_over_a_unix_socket(unix_socket: Path) -> None:
    config = RedisConfig(f"unix://{unix_socket}?db=2", namespace="unix", chunk_size=4)

    async def stream() -> AsyncIterator[bytes]:
        for piece in (b"abc", b"defgh", b"ij"):
            yield piece
            await anyio.lowlevel.checkpoint()

    async with RedisStorage(config) as storage:
        await storage.clear()
        file = await storage.put("s.bin", stream())
        assert file.size == 10
        assert b"".join([c async for c in storage.get("s.bin")]) == b"abcdefghij"
        assert await storage.exists("s.bin")
        assert [f.key async for f in storage.list()] == ["s.bin"]
        await storage.delete("s.bin")
        assert await storage.get_usage() == StorageUsage(0, 0, None)
        assert await storage.check() == []
