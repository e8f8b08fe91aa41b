"""Faults of the Redis backend: an unreachable server, a server killed mid-call, a dropped write.

Each test here starts its own redis-server (in ``tmp_path``, on a free port) so that it
can kill it; the session's server (the ``redis_server`` fixture) only decides whether
Redis tests run at all. Invariants 1 and 8 of docs/guides/design.md: a write cut by a
dropped connection is applied wholly or not at all, and errors name the address, never
the password.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import anyio
import pytest

from memstore import (
    StorageClosedError,
    StorageConnectionError,
    StorageFileNotFoundError,
    StorageUsage,
    StoredFile,
)
from memstore.redis import RedisConfig, RedisStorage, SyncRedisStorage
from tests.redis_server import RedisServer, start_redis
from tests.redis_stress_worker import contents, verify

PASSWORD = "hunter2-s3cret"


@pytest.fixture
def own_server(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """``start(*extra, port=None)``: start a redis-server of this test's own (stopped after it)."""
    started: list[RedisServer] = []

    def start(*extra: str, port: int | None = None) -> RedisServer:
        server = start_redis(tmp_path, *extra, port=port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://bob:{PASSWORD}@127.0.0.1:{port}/0"  # nothing listens there now


def _assert_memstore_error(error: BaseException, config: RedisConfig) -> None:
    assert type(error) is StorageConnectionError, repr(error)  # no glide exception leaks
    assert error.address == config.address
    assert config.address in str(error)
    assert PASSWORD not in str(error)
    assert PASSWORD not in repr(error)
    assert error.__cause__ is None


# ----------------------------------------------------------------- unreachable
def test_an_unreachable_server_is_named_without_its_password_anywhere(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    config = RedisConfig(_dead_url(), namespace="faults", timeout=1, connect_timeout=1)
    storage = SyncRedisStorage(config)
    for call in (lambda: storage.put("a", b"1"), lambda: storage.get_bytes("a"), storage.check):
        with pytest.raises(StorageConnectionError) as info:
            call()
        _assert_memstore_error(info.value, config)
    assert "bob@127.0.0.1" in config.address
    assert repr(storage) == f"SyncRedisStorage(url={config.address!r}, namespace='faults', unreachable)"
    for text in (repr(config), str(config), str(storage), storage.url("a")):
        assert PASSWORD not in text
    storage.close()
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)
    out, err = capfd.readouterr()  # glide's own log lines
    assert PASSWORD not in out
    assert PASSWORD not in err


@pytest.mark.anyio
async def test_an_unreachable_server_on_the_async_face(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    config = RedisConfig(_dead_url(), namespace="faults", timeout=1, connect_timeout=1)
    storage = RedisStorage(config)
    with anyio.fail_after(120):  # a hang fails here
        with pytest.raises(StorageConnectionError) as put:
            await storage.put("a", b"1")
        with pytest.raises(StorageConnectionError) as read:
            await storage.get_bytes("a")
        with pytest.raises(StorageConnectionError) as listing:
            await storage.list().__anext__()
    for info in (put, read, listing):
        _assert_memstore_error(info.value, config)
    assert repr(storage) == f"RedisStorage(url={config.address!r}, namespace='faults', unreachable)"
    await storage.close()
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)
    out, err = capfd.readouterr()
    assert PASSWORD not in out + err


# ------------------------------------------------------------ killed mid-call
def _block(server: RedisServer) -> socket.socket:
    """Make the server busy for a minute (``DEBUG SLEEP``): calls sent now wait for it."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(b"DEBUG SLEEP 60\r\n")
    return sock


def test_a_server_killed_mid_call_raises_connection_error_and_a_restarted_one_is_used_again(
    own_server: Callable[..., RedisServer],
) -> None:
    server = own_server("--enable-debug-command", "yes")
    config = RedisConfig(server.url, namespace="killed", timeout=30, connect_timeout=5)
    with SyncRedisStorage(config) as storage:
        storage.put("a", b"1")  # connected
        blocker = _block(server)
        errors: list[BaseException] = []
        started = threading.Event()

        def call() -> None:
            started.set()
            try:
                storage.put("b", b"2")
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=call)
        thread.start()
        assert started.wait(60)
        server.stop()  # SIGKILL while the call waits for the busy server
        blocker.close()
        thread.join(60)
        assert not thread.is_alive()
        assert len(errors) == 1
        _assert_memstore_error(errors[0], config)

        # the same storage works again once the server is back (the client reconnects)
        own_server("--enable-debug-command", "yes", port=server.port)
        assert _eventually(lambda: storage.exists("a")) is False  # (no persistence: a new, empty server)
        storage.put("c", b"3")
        assert storage.check() == []


def _eventually(read: Callable[[], object]) -> object:
    """``read()``, retried while the client reconnects (reads may retry; writes never do)."""
    for _ in range(60):
        try:
            return read()
        except StorageConnectionError:
            continue
    return read()


@pytest.mark.anyio
async def test_a_server_killed_mid_call_on_the_async_face(own_server: Callable[..., RedisServer]) -> None:
    server = own_server("--enable-debug-command", "yes")
    config = RedisConfig(server.url, namespace="killed", timeout=30, connect_timeout=5)
    storage = RedisStorage(config)
    await storage.put("a", b"1")
    blocker = _block(server)
    errors: list[BaseException] = []

    async def call(started: anyio.Event) -> None:
        started.set()
        try:
            await storage.get_bytes("a")
        except BaseException as exc:
            errors.append(exc)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            started = anyio.Event()
            group.start_soon(call, started)
            await started.wait()
            await anyio.to_thread.run_sync(server.stop)
    blocker.close()
    assert len(errors) == 1
    _assert_memstore_error(errors[0], config)
    await storage.close()


# ------------------------------------------------------- all or nothing (AOF)
KEYS = [f"{folder}/{name}" for folder in ("a", "b", "c") for name in ("x", "y", "z")]
ROUNDS = 5


class Writer:
    """One thread's writes, in order; a model of what the server must hold after each one."""

    def __init__(self, storage: SyncRedisStorage, model: dict[str, bytes], seed: int) -> None:
        self.storage = storage
        self.model = model
        self.rng = random.Random(seed)
        self.seed = seed
        self.done = 0
        self.progress = threading.Condition()
        self.in_doubt: Callable[[dict[str, bytes]], object] | None = None  # the write that was cut
        self.error: BaseException | None = None
        self.stopped = False
        self.pause_after: int | None = None  # pause in the first large stream after this many writes
        self.paused = threading.Event()  # ... with two chunks staged, until `resume` is set
        self.resume = threading.Event()

    def next_write(self) -> tuple[Callable[[], object], Callable[[dict[str, bytes]], object]]:
        """A random write: a function doing it, and one applying it to a model."""
        rng, storage = self.rng, self.storage
        self.seed += 1
        key, other = rng.choice(KEYS), rng.choice(KEYS)
        data = contents(self.seed, rng.choice([50, 200, 1000, 3000]))
        kind = rng.choices(
            ["put", "stream", "create", "copy", "move", "delete", "delete_prefix"], [4, 4, 1, 2, 2, 2, 1]
        )[0]
        if kind == "put":  # inline (one script) when small, else staged then committed
            return lambda: storage.put(key, data), lambda m: m.__setitem__(key, data)
        if kind == "stream":
            pieces = [data[i : i + 97] for i in range(0, len(data), 97)]
            return lambda: storage.put(key, self._pieces(pieces)), lambda m: m.__setitem__(key, data)
        if kind == "create":  # a resent create-only write would fail with "exists"
            new = f"new/{self.seed}"
            return (lambda: storage.put(new, data, if_none_match="*"), lambda m: m.__setitem__(new, data))
        if kind == "copy":
            return lambda: storage.copy(key, other), lambda m: _copy(m, key, other, remove=False)
        if kind == "move":
            return lambda: storage.move(key, other), lambda m: _copy(m, key, other, remove=True)
        if kind == "delete":
            return lambda: storage.delete(key), lambda m: m.pop(key, None)
        folder = key.split("/")[0] + "/"
        return (lambda: storage.delete_prefix(folder)), lambda m: _drop_prefix(m, folder)

    def _pieces(self, pieces: list[bytes]) -> Iterator[bytes]:
        for i, piece in enumerate(pieces):
            if i == 6 and self.pause_after is not None and self.done >= self.pause_after:
                self.pause_after = None
                self.paused.set()  # 582 bytes were sent: two chunks are staged
                assert self.resume.wait(120)
            yield piece

    def wait_for(self, writes: int) -> None:
        """Wait until ``writes`` writes were acknowledged (or the writer stopped)."""
        with self.progress:
            assert self.progress.wait_for(lambda: self.done >= writes or self.stopped, 120)

    def run(self) -> None:
        try:
            self._write()
        finally:
            with self.progress:
                self.stopped = True
                self.progress.notify_all()

    def _write(self) -> None:
        while True:
            write, apply = self.next_write()
            try:
                write()
            except StorageFileNotFoundError:
                pass  # its source or key is absent: nothing changes
            except StorageConnectionError:
                self.in_doubt = apply  # cut by the kill: applied wholly or not at all
                return
            except BaseException as exc:  # reported by the test
                self.error = exc
                return
            else:
                apply(self.model)
            with self.progress:
                self.done += 1
                self.progress.notify_all()


def _copy(model: dict[str, bytes], source: str, destination: str, *, remove: bool) -> None:
    if source in model:
        data = model.pop(source) if remove else model[source]
        model[destination] = data


def _drop_prefix(model: dict[str, bytes], prefix: str) -> None:
    for key in [k for k in model if k.startswith(prefix)]:
        del model[key]


def _contents(storage: SyncRedisStorage) -> dict[str, bytes]:
    files: list[StoredFile] = list(storage.list())
    found = {file.key: storage.get_bytes(file.key) for file in files}
    for file in files:
        verify(found[file.key])  # whole: no torn or mixed file
        assert len(found[file.key]) == file.size
    return found


def test_a_write_cut_by_a_killed_server_is_applied_wholly_or_not_at_all(
    own_server: Callable[..., RedisServer],
) -> None:
    durable = ("--appendonly", "yes", "--appendfsync", "always")
    server = own_server(*durable)
    port = server.port
    checker_config = RedisConfig(server.url, namespace="aof", chunk_size=256, lease=0.5, timeout=30)
    # the writer gives up fast once the server is gone (its stream's best-effort abort too)
    writer_config = RedisConfig(
        server.url, namespace="aof", chunk_size=256, lease=0.5, timeout=1, connect_timeout=1
    )
    model: dict[str, bytes] = {}
    rng = random.Random(2024)
    for round_ in range(ROUNDS):
        writer = Writer(SyncRedisStorage(writer_config), model, seed=round_ * 100_000)
        thread = threading.Thread(target=writer.run)
        thread.start()
        if round_ % 2:
            writer.wait_for(rng.randint(2, 30))
            server.stop()  # SIGKILL, at whatever point the writer has reached
        else:
            writer.pause_after = rng.randint(2, 30)
            assert writer.paused.wait(120)
            server.stop()  # SIGKILL in the middle of a stream
        writer.resume.set()
        thread.join(120)
        assert not thread.is_alive()
        writer.storage.close()
        assert writer.error is None, repr(writer.error)
        assert writer.in_doubt is not None  # the writer stopped because of the kill

        server = own_server(*durable, port=port)  # same port, same directory: the AOF is replayed
        with SyncRedisStorage(checker_config) as checker:
            found = _contents(checker)
            applied = dict(model)
            writer.in_doubt(applied)
            assert found in (model, applied), f"round {round_}: a write was applied in part"
            model.clear()
            model.update(found)
            assert checker.check() == []
            prefix = checker._prefix
            if not round_ % 2:  # the cut stream's chunks and reservation are still held ...
                assert checker._command("HVALS", prefix + "stg") == [b"2"]
                assert found == model  # (its commit was never sent)
            # ... and, like any stream cut before its commit, reclaimed by the first write after its lease
            deadline = time.monotonic() + 120
            while checker._command("ZCARD", prefix + "lease") and time.monotonic() < deadline:
                checker.put("probe", b"p")
                checker.delete("probe")
                time.sleep(0.05)
            assert checker._command("HLEN", prefix + "stg") == 0
            assert checker._command("HLEN", prefix + "res") == 0
            assert checker._command("HGET", prefix + "st", "reserved") in (None, b"0")
            assert checker.check() == []
            usage = checker.get_usage()
            assert usage.used_bytes == sum(len(v) for v in model.values())
            assert usage.file_count == len(model)


# ------------------------------------------------- a reply lost on the way back
class ReplyCutter:
    """A TCP proxy to a server that drops the client's connection as a chosen reply comes back.

    Armed with a marker, it forwards requests as usual and, at the first reply after a
    request holding the marker went through, closes the client's side only: the server
    still runs what it received (the write is applied), the client never hears of it.
    """

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.marker: bytes | None = None
        self.sent = threading.Event()  # a request with the marker went to the server
        self.cut = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, marker: bytes) -> None:
        self.sent.clear()
        self.cut.clear()
        self.marker = marker

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self.sockets += [client, server]
            threading.Thread(target=self._requests, args=(client, server), daemon=True).start()
            threading.Thread(target=self._replies, args=(server, client), daemon=True).start()

    def _requests(self, client: socket.socket, server: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(1 << 16):
                if self.marker is not None and self.marker in data:
                    self.sent.set()  # (before the server can answer)
                server.sendall(data)

    def _replies(self, server: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(1 << 16):
                if self.sent.is_set() and self.marker is not None:
                    self.marker = None
                    self.sent.clear()
                    self.cut.set()
                    client.shutdown(socket.SHUT_RDWR)  # the client sees its connection drop
                    client.close()
                    continue  # (the server's side is drained, not closed)
                client.sendall(data)

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


def _script_runs(direct: SyncRedisStorage) -> int:
    """How many scripts the server ran (``EVAL`` and ``EVALSHA`` calls)."""
    info = direct._command("INFO", "commandstats").decode()
    runs = 0
    for line in info.splitlines():
        if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")):
            runs += int(line.split("calls=")[1].split(",")[0])
    return runs


def test_a_write_whose_reply_is_lost_is_applied_once_and_never_sent_again(
    own_server: Callable[..., RedisServer],
) -> None:
    server = own_server()
    proxy = ReplyCutter(server.port)
    through = RedisConfig(f"redis://127.0.0.1:{proxy.port}/0", namespace="lost", chunk_size=64, timeout=10)
    try:
        with (
            SyncRedisStorage(through) as storage,
            SyncRedisStorage(RedisConfig(server.url, namespace="lost")) as direct,
        ):
            storage.put("a/1", b"one")
            storage.put("a/2", b"two")
            # every script is loaded (a lost NOSCRIPT reply would leave the write undone, rightly)
            storage.put("w/1", iter([b"x" * 100]))
            storage.copy("w/1", "w/2")
            storage.move("w/2", "w/3")
            storage.delete("w/3")
            assert storage.delete_prefix("w/") == 1
            cases: list[tuple[bytes, Callable[[], object]]] = [
                (b"new/created", lambda: storage.put("new/created", b"x" * 10, if_none_match="*")),
                (b"b/copied", lambda: storage.copy("a/1", "b/copied", overwrite=False)),
                (b"b/moved", lambda: storage.move("a/2", "b/moved")),
                (b"new/created", lambda: storage.delete("new/created")),
                (b"[b/", lambda: storage.delete_prefix("b/")),
            ]
            for marker, write in cases:
                _eventually(lambda: storage.exists("a/1"))  # reconnected after the last cut
                before = _script_runs(direct)
                proxy.arm(marker)
                with pytest.raises(StorageConnectionError):
                    write()
                assert proxy.cut.is_set()
                assert _script_runs(direct) == before + 1, marker  # sent once, never again
            assert [f.key for f in direct.list()] == ["a/1"]  # every write above was applied

            # a stream whose commit reply is lost: committed once, its chunks kept
            data = contents(7, 500)
            _eventually(lambda: storage.exists("a/1"))
            proxy.arm(b"application/x-cut-here")
            with pytest.raises(StorageConnectionError):
                storage.put("streamed", iter([data[:300], data[300:]]), content_type="application/x-cut-here")
            assert proxy.cut.is_set()
            assert direct.get_bytes("streamed") == data
            assert direct.info("streamed").content_type == "application/x-cut-here"
            assert direct.check() == []
            assert direct.get_usage().used_bytes == 3 + len(data)
    finally:
        proxy.close()


# --------------------------------------------------------- closed mid-stream
@pytest.mark.anyio
async def test_closing_a_storage_mid_stream_stores_nothing_and_the_lease_reclaims_the_rest(
    redis_server: RedisServer,
) -> None:
    config = RedisConfig(
        redis_server.url, namespace="closed-mid-stream", chunk_size=4, lease=0.5, max_size=100
    )
    storage = RedisStorage(config)
    await storage.clear()

    async def stream() -> AsyncIterator[bytes]:
        yield b"abcdefgh"  # two chunks staged, 8 bytes reserved
        await storage.close()
        yield b"ij"

    with pytest.raises(StorageClosedError):
        await storage.put("k", stream())
    with SyncRedisStorage(config) as probe:
        assert not probe.exists("k")
        prefix = probe._prefix
        assert probe._command("HGET", prefix + "st", "reserved") == b"8"  # the closed client could not abort
        deadline = time.monotonic() + 120
        while probe._command("ZCARD", prefix + "lease") and time.monotonic() < deadline:
            probe.put("probe", b"p")  # a write after the lease reclaims the stream
            time.sleep(0.05)
        assert probe._command("HGET", prefix + "st", "reserved") == b"0"
        assert probe.check() == []
        assert probe.get_usage() == StorageUsage(1, 1, 100)
