"""What only the Redis backend has: its settings, safety checks, faults, crash safety, many processes.

The contract itself runs on Redis through the ``backend`` parameter of the ``make``
fixture (tests/conftest.py); these tests cover the rest, against the session's server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from memstore import ConfigurationError, StorageConnectionError, StorageError, StorageUsage
from memstore.redis import RedisConfig, RedisStorage, SyncRedisStorage
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
_names = iter(range(10**9))


def config_for(server: RedisServer, **kwargs: object) -> RedisConfig:
    return RedisConfig(server.url, namespace=f"r{os.getpid()}-{next(_names)}", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def sync_storage(redis_server: RedisServer) -> Iterator[SyncRedisStorage]:
    storage = SyncRedisStorage(config_for(redis_server))
    yield storage
    storage.close()


# ------------------------------------------------------------------ settings
def test_config_parses_urls_and_hides_the_password() -> None:
    config = RedisConfig("redis://alice:s3cret@db.example:6390/3", namespace="team-a")
    assert config.address == "redis://alice@db.example:6390/3"
    assert "s3cret" not in repr(config)
    assert "s3cret" not in str(config)
    assert RedisConfig("unix:///tmp/redis.sock?db=2").address == "unix:///tmp/redis.sock?db=2"
    assert RedisConfig("rediss://h").address == "rediss://h:6379/0"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"url": "http://h:1/0"}, ConfigurationError, "redis://"),
        ({"url": "redis://:pw@h:1/x"}, ConfigurationError, "database"),
        ({"url": "redis://:pw@h:99999/0"}, ConfigurationError, "not a valid Redis URL"),
        ({"url": 5}, TypeError, "url must be a str"),
        ({"namespace": "a b"}, ConfigurationError, "namespace"),
        ({"namespace": ""}, ConfigurationError, "namespace"),
        ({"max_size": -1}, ConfigurationError, "max_size"),
        ({"chunk_size": 0}, ConfigurationError, "chunk_size"),
        ({"chunk_size": 1 << 30}, ConfigurationError, "chunk_size"),
        ({"timeout": 0}, ConfigurationError, "timeout"),
        ({"lease": "1"}, TypeError, "lease"),
    ],
)
def test_config_refuses_bad_settings_without_showing_the_password(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as info:
        RedisConfig(**kwargs)  # type: ignore[arg-type]
    assert "pw" not in str(info.value)


def test_storage_refuses_a_config_of_another_type() -> None:
    with pytest.raises(TypeError, match="RedisConfig"):
        RedisStorage("redis://h")  # type: ignore[arg-type]


# -------------------------------------------------------------------- safety
def test_two_namespaces_never_see_each_others_files(redis_server: RedisServer) -> None:
    with SyncRedisStorage(config_for(redis_server)) as a, SyncRedisStorage(config_for(redis_server)) as b:
        a.put("shared/name.txt", b"a")
        assert not b.exists("shared/name.txt")
        assert list(b.list()) == []
        assert b.get_usage() == StorageUsage(0, 0, None)
        b.put("shared/name.txt", b"bb")
        assert a.get_bytes("shared/name.txt") == b"a"
        assert b.delete_prefix("shared/") == 1
        assert a.exists("shared/name.txt")


def test_a_server_that_can_evict_keys_is_refused(
    redis_server: RedisServer, sync_storage: SyncRedisStorage
) -> None:
    sync_storage.put("a", b"1")
    sync_storage._command("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    try:
        with (
            SyncRedisStorage(config_for(redis_server)) as fresh,
            pytest.raises(ConfigurationError, match="allkeys-lru"),
        ):
            fresh.put("a", b"1")
    finally:
        sync_storage._command("CONFIG", "SET", "maxmemory-policy", "noeviction")


# -------------------------------------------------------------------- faults
def _dead_address() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://bob:hunter2@127.0.0.1:{port}/0"  # nothing listens there now


def test_an_unreachable_server_raises_connection_error_naming_it_without_the_password() -> None:
    config = RedisConfig(_dead_address(), timeout=1, connect_timeout=1)
    with SyncRedisStorage(config) as storage, pytest.raises(StorageConnectionError) as info:
        storage.put("a", b"1")
    assert isinstance(info.value, StorageError)
    assert config.address in str(info.value)
    assert "hunter2" not in str(info.value)
    assert info.value.address == config.address


@pytest.mark.anyio
async def test_an_unreachable_server_raises_connection_error_on_the_async_face() -> None:
    config = RedisConfig(_dead_address(), timeout=1, connect_timeout=1)
    storage = RedisStorage(config)
    with pytest.raises(StorageConnectionError, match=r"127\.0\.0\.1"):
        await storage.get_bytes("a")
    await storage.close()


# ----------------------------------------------------------------- check()
def test_check_is_clean_after_every_kind_of_write(sync_storage: SyncRedisStorage) -> None:
    storage = SyncRedisStorage(config_for_storage(sync_storage, chunk_size=4))
    storage.put("a/1", b"0123456789")
    storage.put("a/2", iter([b"ab", b"cdefg", b"h"]))
    storage.copy("a/1", "b/1")
    storage.move("a/2", "b/2")
    storage.put("a/1", b"short")
    storage.delete("b/1")
    assert storage.get_bytes("b/2") == b"abcdefgh"
    assert storage.check() == []
    assert storage.get_usage() == StorageUsage(2, 13, None)
    storage.close()


def config_for_storage(storage: SyncRedisStorage, **kwargs: object) -> RedisConfig:
    return RedisConfig(
        storage.config.url,
        namespace=storage.config.namespace + "x",
        **kwargs,  # type: ignore[arg-type]
    )


def test_check_reports_a_broken_ledger_and_orphaned_chunks(sync_storage: SyncRedisStorage) -> None:
    sync_storage.put("a", b"12345")
    prefix = sync_storage._prefix
    sync_storage._command("HINCRBY", prefix + "st", "used", "7")
    sync_storage._command("SET", prefix + "c:lost:0", "x")
    problems = sync_storage.check()
    assert any("ledger says 12 bytes used, files hold 5" in p for p in problems), problems
    assert any("orphaned chunk" in p and "lost" in p for p in problems), problems


# -------------------------------------------------------------- many processes
_WRITER = textwrap.dedent(
    """
    import sys, time
    from memstore.redis import RedisConfig, SyncRedisStorage

    url, namespace = sys.argv[1], sys.argv[2]
    config = RedisConfig(url, namespace=namespace, chunk_size=1024, lease=1.0, max_size=10**6)
    storage = SyncRedisStorage(config)

    def chunks():
        for _ in range(8):
            yield b"x" * 1024
        print("staged", flush=True)
        time.sleep(3600)  # killed here, mid-stream
        yield b"never"

    storage.put("half-written.bin", chunks())
    """
)


def test_a_writer_killed_mid_stream_leaves_nothing_and_its_reservation_is_reclaimed(
    redis_server: RedisServer,
) -> None:
    config = config_for(redis_server, chunk_size=1024, max_size=10**6)
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, redis_server.url, config.namespace],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == b"staged"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait(timeout=60)
    with SyncRedisStorage(config) as storage:
        assert not storage.exists("half-written.bin")
        assert list(storage.list()) == []
        reserved = int(storage._command("HGET", storage._prefix + "st", "reserved") or 0)
        assert reserved == 8 * 1024  # held by the dead writer until its lease ends
        [token] = storage._command("HKEYS", storage._prefix + "stg")  # ... with its 8 staged chunks
        chunks = [storage._prefix + f"c:{token.decode()}:{i}" for i in range(8)]
        assert storage._command("EXISTS", *chunks) == 8
        deadline = time.monotonic() + 60
        while reserved and time.monotonic() < deadline:
            storage.put("probe", b"p")  # every commit reclaims expired leases first
            reserved = int(storage._command("HGET", storage._prefix + "st", "reserved") or 0)
            time.sleep(0.05)
        assert reserved == 0
        assert storage._command("EXISTS", *chunks) == 0
        assert storage._command("HLEN", storage._prefix + "stg") == 0
        assert storage.check() == []  # no chunk of the dead stream is left
        assert storage.get_usage() == StorageUsage(1, 1, 10**6)


def test_another_process_sees_the_same_files(
    redis_server: RedisServer, sync_storage: SyncRedisStorage
) -> None:
    code = (
        "import sys\n"
        "from memstore.redis import RedisConfig, SyncRedisStorage\n"
        "s = SyncRedisStorage(RedisConfig(sys.argv[1], namespace=sys.argv[2]))\n"
        "print(s.get_bytes('from-parent').decode())\n"
        "s.put('from-child', b'hello parent')\n"
        "s.close()\n"
    )
    sync_storage.put("from-parent", b"hello child")
    done = subprocess.run(
        [sys.executable, "-c", code, redis_server.url, sync_storage.config.namespace],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello child"
    assert sync_storage.get_bytes("from-child") == b"hello parent"


# ----------------------------------------------------------------- both loops
@pytest.mark.anyio
async def test_the_async_face_streams_a_large_file_in_chunks(redis_server: RedisServer) -> None:
    storage = RedisStorage(config_for(redis_server, chunk_size=1000))
    payload = bytes(range(256)) * 40

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 333):
            yield payload[i : i + 333]
            await anyio.lowlevel.checkpoint()

    file = await storage.put("big", stream())
    assert file.size == len(payload)
    chunks = [c async for c in storage.get("big", start=10)]
    assert [len(c) for c in chunks] == [1000] * 10 + [230]
    assert b"".join(chunks) == payload[10:]
    assert await storage.check() == []
    await storage.close()


@pytest.mark.anyio
async def test_both_faces_are_storages(redis_server: RedisServer) -> None:
    from memstore import BaseStorage, Storage, SyncBaseStorage, SyncStorage

    storage = RedisStorage(config_for(redis_server))
    assert isinstance(storage, BaseStorage)
    assert isinstance(storage, Storage)
    assert "files=0" in repr(storage)
    with storage.as_sync() as twin:
        assert isinstance(twin, SyncRedisStorage)
        assert isinstance(twin, SyncBaseStorage)
        assert isinstance(twin, SyncStorage)
        twin.put("a", b"1")
    assert await storage.get_bytes("a") == b"1"
    await storage.close()
