"""Change events on Redis: from this storage, another client and another process.

Every write script publishes its event on the namespace's pub/sub channel; each storage
that has subscribers listens on a connection of its own and delivers from one thread
(memstore/redis/_events.py). Events arrive shortly after the write, so every test waits
on a condition, with a generous timeout, never for a fixed time.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest

from memstore import StorageClosedError, StorageEvent, StoredFile
from memstore.redis import RedisConfig, RedisStorage, SyncRedisStorage
from memstore.redis._events import decode
from tests.faces import FACES, AsyncOverSync
from tests.redis_server import RedisServer

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30.0  # seconds: only bounds a failure on a loaded machine
_names = iter(range(10**9))


def namespace() -> str:
    return f"ev{os.getpid()}-{next(_names)}"


class Recorder:
    """A subscriber that records every event and lets a test wait for a condition on them."""

    def __init__(self) -> None:
        self.events: list[StorageEvent] = []
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def __call__(self, event: StorageEvent) -> None:
        with self._cond:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def wait_for(
        self, done: Callable[[list[StorageEvent]], bool], timeout: float = TIMEOUT
    ) -> list[StorageEvent]:
        with self._cond:
            assert self._cond.wait_for(lambda: done(self.events), timeout), self.events
            return list(self.events)

    def wait_count(self, n: int) -> list[StorageEvent]:
        return self.wait_for(lambda events: len(events) >= n)

    def wait_key(self, key: str) -> list[StorageEvent]:
        return self.wait_for(lambda events: any(e.key == key for e in events))

    async def await_count(self, n: int) -> list[StorageEvent]:
        return await anyio.to_thread.run_sync(self.wait_count, n)

    async def await_key(self, key: str) -> list[StorageEvent]:
        return await anyio.to_thread.run_sync(self.wait_key, key)


def summary(events: list[StorageEvent]) -> list[tuple[str, str | None, str | None, int | None]]:
    return [(e.kind, e.key, e.source, e.count) for e in events]


@pytest.fixture(params=FACES)
async def make(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[Callable[..., Any]]:
    """``make(namespace=None, **config)``: a Redis storage of the face under test, async API.

    Closed on the test's own event loop afterwards (the async client belongs to it).
    """
    face = str(request.param)
    made: list[Any] = []

    def factory(name: str | None = None, **kwargs: Any) -> Any:
        config = RedisConfig(redis_server.url, namespace=name or namespace(), **kwargs)
        storage: Any = (
            RedisStorage(config) if face == "async" else AsyncOverSync(SyncRedisStorage(config), RedisStorage)
        )
        made.append(storage)
        return storage

    yield factory
    for storage in made:
        await storage.close()


@pytest.fixture
def sync_store(redis_server: RedisServer) -> Iterator[SyncRedisStorage]:
    storage = SyncRedisStorage(RedisConfig(redis_server.url, namespace=namespace()))
    yield storage
    storage.close()


async def agen(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


# ------------------------------------------------------------ one storage
@pytest.mark.anyio
async def test_every_change_arrives_with_the_memory_backends_fields(make: Callable[..., Any]) -> None:
    storage = make(chunk_size=4)
    rec = Recorder()
    unsubscribe = storage.subscribe(rec)
    put = await storage.put("data/a.csv", b"1,2", metadata={"owner": "ann"})
    streamed = await storage.put("data/s.bin", agen(b"12345", b"678"))  # staged in chunks
    copied = await storage.copy("data/a.csv", "b")
    moved = await storage.move("b", "c")
    await storage.delete("data/a.csv")
    assert await storage.delete_prefix("data/") == 1
    await storage.put("z", b"")
    await storage.clear()
    events = await rec.await_count(8)
    assert summary(events) == [
        ("put", "data/a.csv", None, None),
        ("put", "data/s.bin", None, None),
        ("copy", "b", "data/a.csv", None),
        ("move", "c", "b", None),
        ("delete", "data/a.csv", None, None),
        ("delete_prefix", "data/", None, 1),
        ("put", "z", None, None),
        ("clear", None, None, None),
    ]
    assert events[0].file == put
    assert events[0].file is not None
    assert dict(events[0].file.metadata) == {"owner": "ann"}
    assert events[0].file.content_type == "text/csv"
    assert events[1].file == streamed
    assert events[2].file == copied
    assert events[3].file == moved
    assert events[4].file == put  # the removed file
    assert [e.file for e in events[5:8:2]] == [None, None]
    assert rec.threads == {"memstore-redis-events"}  # one background thread, not the writer's
    unsubscribe()
    unsubscribe()  # safe twice


@pytest.mark.anyio
async def test_failed_writes_and_no_ops_publish_nothing(make: Callable[..., Any]) -> None:
    from memstore import StorageFileNotFoundError, StorageQuotaExceededError

    storage = make(max_size=5)
    rec = Recorder()
    storage.subscribe(rec)
    await storage.put("a", b"12345")
    with pytest.raises(StorageQuotaExceededError):
        await storage.put("b", b"1")
    with pytest.raises(StorageQuotaExceededError):
        await storage.copy("a", "b")
    with pytest.raises(StorageFileNotFoundError):
        await storage.delete("zzz")
    await storage.copy("a", "a")  # onto itself: nothing changes
    assert await storage.delete_prefix("nothing/") == 0
    await storage.put("last", b"")
    events = await rec.await_count(2)
    assert summary(events) == [("put", "a", None, None), ("put", "last", None, None)]


@pytest.mark.anyio
async def test_events_arrive_in_commit_order_from_one_thread(make: Callable[..., Any]) -> None:
    storage = make()
    rec = Recorder()
    storage.subscribe(rec)
    sync = SyncRedisStorage(storage.config)

    def writer(n: int) -> None:
        for i in range(50):
            sync.put(f"w{n}/{i:03d}", b"x")
            sync.put("shared", f"{n}-{i}".encode())  # the writers race on one key

    try:
        async with anyio.create_task_group() as tg:
            for n in range(4):
                tg.start_soon(anyio.to_thread.run_sync, writer, n)
        events = await rec.await_count(400)
        final = await storage.info("shared")
    finally:
        sync.close()
    assert len(events) == 400
    assert rec.threads == {"memstore-redis-events"}
    for n in range(4):  # each writer's changes in the order it made them
        mine = [e.key for e in events if e.key is not None and e.key.startswith(f"w{n}/")]
        assert mine == [f"w{n}/{i:03d}" for i in range(50)]
    # in the server's order: the last event of the shared key is the version that stayed
    last_shared = [e.file for e in events if e.key == "shared"][-1]
    assert last_shared == final


# ---------------------------------------------------- other clients, processes
@pytest.mark.anyio
async def test_a_second_client_of_the_namespace_sees_the_changes(make: Callable[..., Any]) -> None:
    name = namespace()
    watcher, writer = make(name), make(name)
    rec = Recorder()
    watcher.subscribe(rec)
    file = await writer.put("shared.txt", b"from the writer")
    await writer.move("shared.txt", "moved.txt")
    events = await rec.await_count(2)
    assert summary(events) == [("put", "shared.txt", None, None), ("move", "moved.txt", "shared.txt", None)]
    assert events[0].file == file
    assert await watcher.get_bytes("moved.txt") == b"from the writer"


@pytest.mark.anyio
async def test_namespaces_never_see_each_others_events(make: Callable[..., Any]) -> None:
    mine, other = make(), make()
    rec = Recorder()
    mine.subscribe(rec)
    await other.put("not-mine", b"x")
    await other.clear()
    await mine.put("mine", b"x")  # arrives after the other namespace's, if those came at all
    events = await rec.await_key("mine")
    assert summary(events) == [("put", "mine", None, None)]


WRITER = textwrap.dedent(
    """
    import json, sys
    from memstore.redis import RedisConfig, SyncRedisStorage

    with SyncRedisStorage(RedisConfig(sys.argv[1], namespace=sys.argv[2])) as storage:
        put = storage.put("proc/a.json", b'{"x": 1}', metadata={"pid": "child"})
        copied = storage.copy("proc/a.json", "proc/b.json")
        storage.delete("proc/a.json")
        out = [[f.key, f.size, f.etag, f.content_type, f.last_modified.isoformat(), dict(f.metadata)]
               for f in (put, copied)]
        print(json.dumps(out))
    """
)


def run_writer(url: str, name: str) -> list[list[Any]]:
    done = subprocess.run(
        [sys.executable, "-c", WRITER, url, name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: list[list[Any]] = json.loads(done.stdout)
    return result


def as_row(file: StoredFile | None) -> list[Any]:
    assert file is not None
    modified = file.last_modified.isoformat() if file.last_modified else None
    return [file.key, file.size, file.etag, file.content_type, modified, dict(file.metadata)]


@pytest.mark.anyio
async def test_changes_made_by_another_process_arrive(
    make: Callable[..., Any], redis_server: RedisServer
) -> None:
    name = namespace()
    storage = make(name)
    rec = Recorder()
    storage.subscribe(rec)
    written = await anyio.to_thread.run_sync(run_writer, redis_server.url, name)
    events = await rec.await_count(3)
    assert summary(events) == [
        ("put", "proc/a.json", None, None),
        ("copy", "proc/b.json", "proc/a.json", None),
        ("delete", "proc/a.json", None, None),
    ]
    assert as_row(events[0].file) == written[0]
    assert as_row(events[1].file) == written[1]
    assert as_row(events[2].file) == written[0]  # the removed file
    assert [f.key async for f in storage.list()] == ["proc/b.json"]


# ------------------------------------------------------- subscribe / unsubscribe
@pytest.mark.anyio
async def test_unsubscribe_stops_the_callback_and_the_last_closes_the_connection(
    make: Callable[..., Any], sync_store: SyncRedisStorage
) -> None:
    storage = make()
    a, b = Recorder(), Recorder()
    unsub_a = storage.subscribe(a)
    unsub_b = storage.subscribe(b)
    await storage.put("one", b"1")
    a.wait_key("one")
    unsub_a()
    await storage.put("two", b"2")
    b.wait_key("two")  # delivered to b: a, unsubscribed, would have had it before
    assert [e.key for e in a.events] == ["one"]
    assert [e.key for e in b.events] == ["one", "two"]
    hub = storage._events
    assert hub.listening
    unsub_b()
    assert not hub.listening

    def subscribers() -> int:
        reply = sync_store._command("PUBSUB", "NUMSUB", hub.channel)  # {channel: count} on RESP3
        return int(next(iter(reply.values())) if isinstance(reply, dict) else reply[1])

    deadline = anyio.current_time() + TIMEOUT
    while subscribers() and anyio.current_time() < deadline:  # the server notices the close
        await anyio.sleep(0.01)
    assert subscribers() == 0
    c = Recorder()
    storage.subscribe(c)  # listens again, on a new connection
    await storage.put("three", b"3")
    assert [e.key for e in c.wait_key("three")] == ["three"]
    assert [e.key for e in b.events] == ["one", "two"]


@pytest.mark.anyio
async def test_a_failing_callback_is_logged_and_delivery_goes_on(
    make: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    storage = make()

    def bad(event: StorageEvent) -> None:
        raise ValueError("subscriber bug")

    rec = Recorder()
    storage.subscribe(bad)
    storage.subscribe(rec)
    with caplog.at_level(logging.ERROR, logger="memstore"):
        await storage.put("a", b"1")
        await storage.delete("a")
        events = await rec.await_count(2)
    assert [e.kind for e in events] == ["put", "delete"]
    failures = [r for r in caplog.records if "subscriber" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info and r.exc_info[0] is ValueError for r in failures)


def test_subscribe_checks_its_argument_and_the_storage(sync_store: SyncRedisStorage) -> None:
    with pytest.raises(TypeError, match="callback must be callable"):
        sync_store.subscribe("print")  # type: ignore[arg-type]
    assert not sync_store._events.listening
    sync_store.close()
    with pytest.raises(StorageClosedError):
        sync_store.subscribe(print)


# ---------------------------------------------------------------------- close
@pytest.mark.anyio
async def test_close_delivers_the_events_on_their_way_then_close(redis_server: RedisServer) -> None:
    name = namespace()
    storage = RedisStorage(RedisConfig(redis_server.url, namespace=name))
    rec = Recorder()
    unsubscribe = storage.subscribe(rec)
    await storage.put("a", b"1")
    await storage.put("b", b"2")
    await storage.close()  # no waiting before: close() waits for the two events
    await storage.close()
    assert summary(rec.events) == [
        ("put", "a", None, None),
        ("put", "b", None, None),
        ("close", None, None, None),
    ]
    assert not storage._events.listening
    unsubscribe()  # after close: nothing to undo
    with pytest.raises(StorageClosedError):
        storage.subscribe(rec)


def test_a_callback_may_close_the_storage(sync_store: SyncRedisStorage) -> None:
    rec = Recorder()

    def closer(event: StorageEvent) -> None:
        if event.kind == "put":
            sync_store.close()

    sync_store.subscribe(closer)
    sync_store.subscribe(rec)
    sync_store.put("a", b"1")
    events = rec.wait_count(2)
    # as on the memory backend: the callbacks after the closing one still get the put
    assert [e.kind for e in events] == ["close", "put"]
    assert sync_store.closed
    assert not sync_store._events.listening


# -------------------------------------------------------------- lost events
def test_a_gap_in_the_event_numbers_delivers_a_resync_first(sync_store: SyncRedisStorage) -> None:
    rec = Recorder()
    sync_store.subscribe(rec)
    sync_store.put("a", b"1")
    rec.wait_key("a")
    # An event published while the connection was down is never received: its number is.
    sync_store._command("INCR", sync_store._prefix + "evs")
    sync_store.put("b", b"2")
    events = rec.wait_key("b")
    assert summary(events) == [
        ("put", "a", None, None),
        ("resync", None, None, None),
        ("put", "b", None, None),
    ]


def test_a_dropped_event_connection_comes_back(sync_store: SyncRedisStorage) -> None:
    rec = Recorder()
    sync_store.subscribe(rec)
    sync_store.put("before", b"1")
    rec.wait_key("before")
    sync_store._command("CLIENT", "KILL", "TYPE", "pubsub")  # the server drops the listener
    written: list[str] = []
    got_one = threading.Event()

    def after(event: StorageEvent) -> None:
        if event.kind == "put" and event.key != "before":
            got_one.set()

    sync_store.subscribe(after)
    for i in range(3000):  # until glide has reconnected and subscribed again
        key = f"after-{i}"
        sync_store.put(key, b"x")
        written.append(key)
        if got_one.wait(0.01):
            break
    assert got_one.is_set(), "no event after the connection was dropped"
    events = rec.wait_for(lambda events: any(e.key == written[-1] for e in events))
    assert events[0].key == "before"
    after_drop = events[1:]
    received = [e.key for e in after_drop if e.kind == "put"]
    assert received == written[len(written) - len(received) :]  # those lost came first
    if len(received) < len(written):  # some were lost: a resync came before the rest
        assert after_drop[0].kind == "resync", summary(events)
        assert {e.kind for e in after_drop} == {"resync", "put"}


def test_events_lost_while_down_are_noticed_without_another_write(redis_server: RedisServer) -> None:
    pytest.importorskip("ipywidgets")
    from tests.test_browser_model import eventually, row_keys

    storage = SyncRedisStorage(RedisConfig(redis_server.url, namespace=namespace()))
    rec = Recorder()
    storage.subscribe(rec)
    browser = storage.browse()
    try:
        storage.put("before", b"1")
        rec.wait_key("before")
        storage._command("CLIENT", "KILL", "TYPE", "pubsub")  # the server drops the listener
        storage.put("during", b"2")  # its event is lost, unless the listener is back already
        # Either the event arrives, or the listener notices the gap by itself: no more writes.
        events = rec.wait_for(lambda events: any(e.key == "during" or e.kind == "resync" for e in events))
        assert events[-1].kind == "resync" or events[-1].key == "during", summary(events)
        eventually(lambda: assert_equal(row_keys(browser), ["before", "during"]), timeout=TIMEOUT)
    finally:
        browser.close()
        storage.close()


def assert_equal(a: object, b: object) -> None:
    assert a == b, (a, b)


def test_decode_refuses_foreign_messages() -> None:
    with pytest.raises(ValueError, match="not a memstore event"):
        decode(json.dumps([1, "explode", "k", "", "", "", "", "", "", -1]).encode())
    message = [7, "put", "k", "3", '"e"', "text/plain", "1700000000000001", "", "", -1]
    seq, event = decode(json.dumps(message).encode())
    assert seq == 7
    assert isinstance(event, StorageEvent)
    assert event.file == StoredFile(
        "k", 3, "text/plain", '"e"', datetime(2023, 11, 14, 22, 13, 20, 1, tzinfo=timezone.utc)
    )
    restore = [8, "restore", "", "", "", "", "", "", "", 12]  # what a restore script would publish
    assert decode(json.dumps(restore).encode()) == (8, StorageEvent("restore", None, None, None, 12))


# -------------------------------------------------------------------- browser
def test_the_browser_shows_another_process_writing(redis_server: RedisServer) -> None:
    pytest.importorskip("ipywidgets")
    from tests.test_browser_model import eventually, find, row_keys, text_of

    name = namespace()
    storage = SyncRedisStorage(RedisConfig(redis_server.url, namespace=name, max_size=1000))
    browser = storage.browse(page_size=10)
    try:
        assert row_keys(browser) == []
        assert "0.0 %" in text_of(browser, "memstore-gauge")
        written = run_writer(redis_server.url, name)
        assert written[1][0] == "proc/b.json"

        def shows_the_other_process() -> None:
            assert row_keys(browser) == ["proc/"]
            assert "1 file" in text_of(browser, "memstore-totals")
            assert "0.8 %" in text_of(browser, "memstore-gauge")  # 8 of 1,000 bytes

        eventually(shows_the_other_process, timeout=TIMEOUT)
        assert find(browser, "memstore-gauge-bar").value > 0
    finally:
        browser.close()
        storage.close()


@pytest.mark.anyio
async def test_browse_works_on_the_async_face(redis_server: RedisServer) -> None:
    pytest.importorskip("ipywidgets")
    from memstore.notebook import StorageBrowser
    from tests.test_browser_model import row_keys

    storage = RedisStorage(RedisConfig(redis_server.url, namespace=namespace()))
    await storage.put("a/x.txt", b"x")
    browser = await anyio.to_thread.run_sync(lambda: storage.browse(page_size=5))
    try:
        assert isinstance(browser, StorageBrowser)
        assert browser.storage is storage
        assert row_keys(browser) == ["a/"]
        assert storage._events.listening  # the browser subscribed
    finally:
        browser.close()
        await storage.close()
    with pytest.raises(StorageClosedError):
        storage.browse()


# ------------------------------------------------------------- local_server
def test_local_server_starts_a_private_server_and_stops_it() -> None:
    import shutil

    from memstore.redis import local_server

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    with local_server() as server:
        assert "running=True" in repr(server)
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert server.directory.is_dir()
        with SyncRedisStorage(RedisConfig(server.url, namespace="tour")) as storage:
            storage.put("a.txt", b"hello")
            assert storage.get_bytes("a.txt") == b"hello"
            # the server refuses eviction, as memstore needs
            assert storage._command("CONFIG", "GET", "maxmemory-policy")
    assert not server.running
    assert not server.directory.exists()
    assert "running=False" in repr(server)
    server.stop()  # idempotent


def test_local_server_explains_what_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from memstore import ConfigurationError
    from memstore.redis import local_server

    with pytest.raises(TypeError, match="sequence of str"):
        local_server(args="--port 1")
    if shutil.which("redis-server") is not None:
        with pytest.raises(ConfigurationError, match="did not start") as info:
            local_server(args=["--no-such-option", "1"])
        assert "no-such-option" in str(info.value)  # the end of its log
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigurationError, match="apt-get install redis-server"):
        local_server()


def test_keys_and_metadata_travel_unchanged(sync_store: SyncRedisStorage) -> None:
    rec = Recorder()
    sync_store.subscribe(rec)
    key = 'données/€ "quoted" \\ back/<img src=x>.txt'
    metadata = {"note": 'line one\nline "two" \\ ünï', "empty": ""}
    put = sync_store.put(key, "héllo".encode(), metadata=metadata)
    events = rec.wait_key(key)
    assert events[0].file == put
    assert dict(events[0].file.metadata) == metadata


def test_a_storage_collected_without_close_stops_listening(redis_server: RedisServer) -> None:
    import gc

    storage = SyncRedisStorage(RedisConfig(redis_server.url, namespace=namespace()))
    storage.subscribe(Recorder())
    session = storage._events._session
    assert session is not None
    thread = session.thread
    assert thread is not None
    assert thread.is_alive()
    del storage, session
    gc.collect()
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_subscribe_to_an_unreachable_server_raises_a_connection_error() -> None:
    import socket

    from memstore import StorageConnectionError

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = RedisConfig(f"redis://ann:s3cret@127.0.0.1:{port}/0", timeout=1, connect_timeout=1)
    with SyncRedisStorage(config) as storage:
        with pytest.raises(StorageConnectionError) as info:
            storage.subscribe(print)
        assert f"127.0.0.1:{port}" in str(info.value)
        assert "s3cret" not in str(info.value)
        assert not storage._events.listening  # nothing half-started


def test_subscribers_coming_and_going_from_many_threads(sync_store: SyncRedisStorage) -> None:
    keeper = Recorder()
    sync_store.subscribe(keeper)
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            for _ in range(20):
                unsubscribe = sync_store.subscribe(Recorder())
                unsubscribe()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for thread in threads:
        thread.start()
    for i in range(20):
        sync_store.put(f"k{i}", b"x")
    for thread in threads:
        thread.join(TIMEOUT)
    assert not errors
    events = keeper.wait_count(20)
    assert [e.key for e in events] == [f"k{i}" for i in range(20)]  # one listener throughout
    assert sync_store._events._subscribers == (keeper,)
    live = [t for t in threading.enumerate() if t.name == "memstore-redis-events"]
    session = sync_store._events._session
    assert session is not None
    assert session.thread in live
