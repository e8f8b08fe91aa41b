"""SyncMemoryStorage: the generated facade, its runners, the portal's lifecycle."""

from __future__ import annotations

import _thread
import asyncio
import inspect
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import memstore
from memstore import (
    MemoryConfig,
    MemoryStorage,
    StorageClosedError,
    StorageFileNotFoundError,
    StorageQuotaExceededError,
    SyncMemoryStorage,
)
from memstore._portal import portal_host
from tests.generator import map_doc

ROOT = Path(__file__).resolve().parent.parent
ASYNC_ONLY = {"as_sync"}  # the async face's way to its sync face
HAND_WRITTEN = {
    "close",
    "closed",
    "name",
    "named",
}  # memory/_faces.py: lifecycle differs per face, and says how
RUNNER_TOO = {"named"}  # the sync face's named() also takes runner=, as its constructor does


def portal_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "memstore-portal"]


async def agen(*chunks: bytes, delay: float = 0.0) -> AsyncIterator[bytes]:
    for chunk in chunks:
        if delay:
            await anyio.sleep(delay)
        yield chunk


@pytest.fixture
def storage() -> Iterator[SyncMemoryStorage]:
    with SyncMemoryStorage() as s:
        yield s


# --------------------------------------------------------------------- generated


def public_members(cls: type) -> dict[str, object]:
    return {name: value for name, value in inspect.getmembers(cls) if not name.startswith("_")}


def test_every_public_member_of_the_core_has_a_sync_twin() -> None:
    core = set(public_members(MemoryStorage)) - ASYNC_ONLY
    sync = public_members(SyncMemoryStorage)
    missing = sorted(core - set(sync))
    assert not missing, f"SyncMemoryStorage lacks {missing}: run ./dev.sh gen"


@pytest.mark.parametrize("name", sorted(set(public_members(MemoryStorage)) - ASYNC_ONLY))
def test_sync_twin_has_the_same_signature_and_docstring(name: str) -> None:
    core = inspect.getattr_static(MemoryStorage, name)
    sync = inspect.getattr_static(SyncMemoryStorage, name)
    assert isinstance(core, property) == isinstance(sync, property), name
    if isinstance(core, property):
        assert name in HAND_WRITTEN or inspect.getdoc(sync) == inspect.getdoc(core)
        return
    assert isinstance(core, classmethod) == isinstance(sync, classmethod), name
    if isinstance(core, classmethod) and isinstance(sync, classmethod):  # load(): compare the functions
        core, sync = core.__func__, sync.__func__
    core_sig = inspect.signature(core)
    sync_sig = inspect.signature(sync)
    sync_params = [(p.name, p.kind, p.default) for p in sync_sig.parameters.values()]
    if name in RUNNER_TOO:
        assert sync_params[-1] == ("runner", inspect.Parameter.KEYWORD_ONLY, "portal")
        sync_params = sync_params[:-1]
    assert [(p.name, p.kind, p.default) for p in core_sig.parameters.values()] == sync_params
    assert name in HAND_WRITTEN or inspect.getdoc(sync) == map_doc(inspect.getdoc(core) or "")


def test_the_class_docstring_lives_in_the_async_source() -> None:
    assert inspect.getdoc(SyncMemoryStorage) == map_doc(inspect.getdoc(MemoryStorage) or "")
    assert ">>> storage = SyncMemoryStorage()" in (SyncMemoryStorage.__doc__ or "")


def test_async_types_map_to_sync_types() -> None:
    hints = SyncMemoryStorage.get.__annotations__
    assert hints["return"] == "Iterator[bytes]"
    assert SyncMemoryStorage.list.__annotations__["return"] == "Iterator[StoredFile]"
    assert SyncMemoryStorage.put.__annotations__["data"] == "SyncPutData"
    assert MemoryStorage.put.__annotations__["data"] == "PutData"


# ------------------------------------------------------------------------ basics


def test_the_spec_api_works_synchronously(storage: SyncMemoryStorage) -> None:
    stored = storage.put("docs/readme.txt", b"Hello, World!", metadata={"a": "b"})
    assert (stored.key, stored.size, stored.content_type) == ("docs/readme.txt", 13, "text/plain")
    assert storage.get_bytes("docs/readme.txt") == b"Hello, World!"
    assert list(storage.get("docs/readme.txt")) == [b"Hello, World!"]
    assert storage.exists("docs/readme.txt")
    assert storage.info("docs/readme.txt") == stored
    assert storage.url("docs/readme.txt") == "memory://docs/readme.txt"
    assert storage.copy("docs/readme.txt", "docs/copy.txt").key == "docs/copy.txt"
    assert storage.move("docs/copy.txt", "moved.txt").key == "moved.txt"
    assert [f.key for f in storage.list()] == ["docs/readme.txt", "moved.txt"]
    assert [f.key for f in storage.list("docs/")] == ["docs/readme.txt"]
    assert storage.usage == memstore.StorageUsage(2, 26, None)
    storage.delete("moved.txt")
    with pytest.raises(StorageFileNotFoundError):
        storage.get_bytes("moved.txt")
    storage.clear()
    assert storage.usage.file_count == 0


def test_list_and_get_are_lazy_and_release_their_generator(storage: SyncMemoryStorage) -> None:
    for i in range(600):
        storage.put(f"k{i:04d}", b"x")
    listing = storage.list(limit=500)
    first = [next(listing) for _ in range(3)]
    assert [f.key for f in first] == ["k0000", "k0001", "k0002"]
    storage.put("k0400a", b"late")  # sorts after the page being read: seen
    rest = [f.key for f in listing]
    assert rest[0] == "k0003"
    assert "k0400a" in rest
    assert len(rest) == 497
    listing2 = storage.list()
    assert isinstance(listing2, Generator)
    next(listing2)
    listing2.close()  # abandoning closes the async generator
    with pytest.raises(StopIteration):
        next(listing2)


def test_get_yields_chunks_of_the_configured_size() -> None:
    with SyncMemoryStorage(MemoryConfig(chunk_size=4)) as s:
        s.put("a", b"0123456789")
        assert list(s.get("a")) == [b"0123", b"4567", b"89"]


def test_put_accepts_iterables_files_and_async_iterables(storage: SyncMemoryStorage, tmp_path: Path) -> None:
    assert storage.put("list", [b"ab", b"cd"]).size == 4

    def gen() -> Iterator[bytes | bytearray]:
        yield b"x" * 3
        yield bytearray(b"yz")

    storage.put("gen", gen())
    storage.put("bytesio", io.BytesIO(b"0" * 200_000))
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(150_000))
    with path.open("rb") as fh:
        stored = storage.put("file.bin", fh)
    storage.put("async", agen(b"as", b"ync", delay=0.001))
    assert storage.get_bytes("list") == b"abcd"
    assert storage.get_bytes("gen") == b"xxxyz"
    assert storage.get_bytes("bytesio") == b"0" * 200_000
    assert storage.get_bytes("file.bin") == path.read_bytes()
    assert stored.size == 150_000
    assert storage.get_bytes("async") == b"async"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("text", "encode it first"),
        (None, "not NoneType"),
        (42, "not int"),
        ([b"ok", "bad"], "bytes-like chunks, not str"),
    ],
)
def test_put_rejects_bad_data_and_changes_nothing(
    storage: SyncMemoryStorage, data: object, message: str
) -> None:
    storage.put("keep", b"old")
    with pytest.raises(TypeError, match=message):
        storage.put("keep", data)  # type: ignore[arg-type]
    assert storage.get_bytes("keep") == b"old"
    assert storage.usage.used_bytes == 3


def test_text_mode_file_is_refused(storage: SyncMemoryStorage, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("hello")
    with path.open() as fh, pytest.raises(TypeError, match="binary mode"):
        storage.put("t.txt", fh)  # type: ignore[arg-type]
    assert not storage.exists("t.txt")


def test_quota_errors_come_through_unchanged() -> None:
    with SyncMemoryStorage(MemoryConfig(max_size=10)) as s:
        s.put("a", b"12345")
        with pytest.raises(StorageQuotaExceededError) as info:
            s.put("b", [b"123", b"456"])
        assert (info.value.max_size, info.value.used_bytes) == (10, 5)
        assert s.usage.used_bytes == 5
        assert s.async_storage._engine.reserved_bytes == 0


# --------------------------------------------------------------------- lifecycle


def test_wrap_shares_the_core_and_close_leaves_it_open() -> None:
    core = MemoryStorage()
    facade = SyncMemoryStorage.wrap(core)
    assert facade.async_storage is core
    facade.put("a", b"1")
    assert anyio.run(core.get_bytes, "a") == b"1"
    facade.close()
    assert facade.closed
    assert not core.closed
    with pytest.raises(StorageClosedError, match="SyncMemoryStorage is closed"):
        facade.get_bytes("a")
    with pytest.raises(StorageClosedError):
        list(facade.list())
    assert anyio.run(core.get_bytes, "a") == b"1"
    with pytest.raises(TypeError, match="needs a MemoryStorage"):
        SyncMemoryStorage.wrap(object())  # type: ignore[arg-type]


def test_owned_core_is_closed_with_the_facade_and_repr_says_so() -> None:
    s = SyncMemoryStorage(MemoryConfig(max_size=100))
    s.put("a", b"abc")
    assert repr(s) == "SyncMemoryStorage(files=1, used_bytes=3, max_size=100)"
    s.close()
    s.close()  # idempotent
    assert s.async_storage.closed
    assert repr(s) == "SyncMemoryStorage(closed)"
    with pytest.raises(StorageClosedError):
        s.put("a", b"x")


def test_one_portal_shared_started_lazily_and_gone_after_last_close() -> None:
    assert not portal_threads(), "another test left the portal running"
    a, b = SyncMemoryStorage(), SyncMemoryStorage()
    a.put("plain", b"x")
    assert not portal_threads()  # plain calls never need it
    a.put("x", agen(b"1"))
    first = portal_host.thread_id
    b.put("y", agen(b"2"))
    assert portal_host.thread_id == first
    assert len(portal_threads()) == 1
    a.close()
    assert len(portal_threads()) == 1  # b still holds it
    b.close()
    assert not portal_threads()
    assert portal_host.thread_id is None


def test_facades_used_from_many_threads_share_one_portal() -> None:
    errors: list[BaseException] = []
    with SyncMemoryStorage() as s:

        def work(n: int) -> None:
            try:
                for i in range(20):
                    s.put(f"t{n}/{i}", agen(b"ab", b"cd"))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert len(portal_threads()) == 1
        assert s.usage.file_count == 160
        assert s.usage.used_bytes == 640
    assert not portal_threads()


def test_calling_from_the_portal_loop_raises_instead_of_deadlocking() -> None:
    with SyncMemoryStorage() as s:
        s.put("warm", agen(b"1"))  # the portal is running now
        portal = portal_host.portal()

        def inside() -> None:
            s.put("a", agen(b"x"))  # would wait for the loop it runs on

        with pytest.raises(RuntimeError, match="await the async core instead"):
            portal.call(inside)
        assert not s.exists("a")
        portal.call(s.put, "plain", b"x")  # plain calls run right there
        assert s.get_bytes("plain") == b"x"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_portal() -> None:
    with SyncMemoryStorage() as s:
        s.put("parent", agen(b"p"))
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            signal.alarm(20)  # never hang the suite, whatever happens here
            try:
                s.put("child", agen(b"c"))
                ok = s.get_bytes("child") == b"c" and len(portal_threads()) == 1
                os.write(write, b"ok" if ok else b"bad")
            finally:
                os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        assert os.read(read, 10) == b"ok"
        os.close(read)
        assert status == 0
        assert not s.exists("child")


def test_ctrl_c_while_waiting_on_the_portal_writes_nothing() -> None:
    with SyncMemoryStorage(MemoryConfig(max_size=1000)) as s:
        s.put("key", b"old")
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))  # a real Ctrl-C
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            s.put("key", agen(b"n", b"e", b"w", b"e", b"r", delay=0.3))
        timer.join()
        # put() returned only once the cancelled task had unwound: nothing is left to wait for
        assert s.get_bytes("key") == b"old"
        assert s.usage.used_bytes == 3
        assert s.async_storage._engine.reserved_bytes == 0


def test_ctrl_c_while_reading_a_sync_stream_writes_nothing() -> None:
    with SyncMemoryStorage() as s:

        def slow() -> Iterator[bytes]:
            yield b"first"
            _thread.interrupt_main()
            time.sleep(1)
            yield b"never"

        with pytest.raises(KeyboardInterrupt):
            s.put("key", slow())
        assert not s.exists("key")
        assert s.usage.used_bytes == 0
        assert s.async_storage._engine.reserved_bytes == 0


# ------------------------------------------------------------ where it must work


def test_works_in_a_plain_script(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        "import threading\n"
        "from memstore import SyncMemoryStorage\n"
        "async def chunks():\n"
        "    yield b'a'\n"
        "    yield b'b'\n"
        "s = SyncMemoryStorage()\n"
        "s.put('x.txt', b'hi')\n"
        "s.put('y.txt', chunks())\n"
        "print(s.get_bytes('x.txt'), s.get_bytes('y.txt'), [f.key for f in s.list()])\n"
        "s.close()\n"
        "print(sorted(t.name for t in threading.enumerate()))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["b'hi' b'ab' ['x.txt', 'y.txt']", "['MainThread']"]


def test_sync_calls_from_inside_asyncio_run() -> None:
    async def cell() -> list[str]:
        with SyncMemoryStorage() as s:
            s.put("a.txt", b"inline")
            s.put("b.txt", agen(b"via ", b"portal", delay=0.001))
            assert s.get_bytes("b.txt") == b"via portal"
            await asyncio.sleep(0)  # the caller's loop is fine afterwards
            return [f.key for f in s.list()]

    assert asyncio.run(cell()) == ["a.txt", "b.txt"]


def test_sync_calls_from_inside_trio_run() -> None:
    import trio

    async def cell() -> bytes:
        with SyncMemoryStorage() as s:
            s.put("a.txt", b"x")
            s.put("b.txt", agen(b"y", b"z"))
            await trio.sleep(0)
            return s.get_bytes("a.txt") + s.get_bytes("b.txt")

    assert trio.run(cell) == b"xyz"


def test_threads_and_async_code_on_another_loop_share_one_core() -> None:
    core = MemoryStorage(MemoryConfig(max_size=2_000_000))
    facade = SyncMemoryStorage.wrap(core)
    stop = threading.Event()
    errors: list[BaseException] = []

    def hammer(n: int) -> None:
        try:
            for i in range(300):
                key = f"t{n}/{i % 17}"
                try:
                    facade.put(key, b"x" * (i % 50 + 1))
                    if i % 5 == 0:
                        facade.copy(key, f"c{n}/{i % 7}")
                    if i % 7 == 0:
                        facade.delete(key)
                except (StorageFileNotFoundError, StorageQuotaExceededError):
                    pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    async def async_side() -> None:
        i = 0
        while not stop.is_set():
            await core.put(f"async/{i % 23}", b"y" * (i % 40))
            if i % 3 == 0:
                async for _ in core.list("t1/"):
                    pass
            i += 1
            await anyio.sleep(0)

    loop_thread = threading.Thread(target=lambda: anyio.run(async_side))
    loop_thread.start()
    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    loop_thread.join()
    assert not errors
    files = list(facade.list())
    assert facade.usage.used_bytes == sum(f.size for f in files)
    assert facade.usage.file_count == len(files)
    assert [f.key for f in files] == sorted(f.key for f in files)
    facade.close()


# ------------------------------------------------------------------ nested runner


def test_nested_runner_runs_streams_bound_to_the_callers_loop() -> None:
    pytest.importorskip("nest_asyncio2")

    async def cell() -> bytes:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()  # bound to this loop

        async def from_queue() -> AsyncIterator[bytes]:
            while (item := await queue.get()) is not None:
                yield item

        async def producer() -> None:
            for part in (b"lo", b"op", None):
                await asyncio.sleep(0.01)
                await queue.put(part)

        task = asyncio.ensure_future(producer())
        with SyncMemoryStorage(runner="nested") as s:
            assert s.runner == "nested"
            s.put("q", from_queue())
            await task
            return s.get_bytes("q")

    assert asyncio.run(cell()) == b"loop"


def test_nested_runner_without_a_running_loop_uses_the_portal() -> None:
    pytest.importorskip("nest_asyncio2")
    with SyncMemoryStorage(runner="nested") as s:
        s.put("x", agen(b"1", b"2"))
        assert s.get_bytes("x") == b"12"


def test_nested_runner_needs_nest_asyncio2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nest_asyncio2", None)
    monkeypatch.setitem(sys.modules, "nest_asyncio", None)
    with pytest.raises(ImportError, match="pip install 'memstore\\[notebook\\]'"):
        SyncMemoryStorage(runner="nested")
    with pytest.raises(ValueError, match="runner must be 'portal' or 'nested'"):
        SyncMemoryStorage(runner="thread")  # type: ignore[arg-type]


def test_importing_memstore_patches_nothing() -> None:
    pytest.importorskip("nest_asyncio2")
    code = (
        "import asyncio, memstore\n"
        "from memstore import SyncMemoryStorage\n"
        "s = SyncMemoryStorage(runner='nested')\n"
        "print(hasattr(asyncio, '_nest_patched'), type(asyncio.get_event_loop_policy()).__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "False"


def test_a_facade_collected_as_the_portal_starts_never_deadlocks(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from anyio.from_thread import start_blocking_portal

    def start_with_a_collection(*args: Any, **kwargs: Any) -> Any:
        gc.collect()  # the collector may run at any allocation, e.g. right here
        return start_blocking_portal(*args, **kwargs)

    monkeypatch.setattr("memstore._portal.start_blocking_portal", start_with_a_collection)

    def dropped() -> None:
        s = SyncMemoryStorage()
        s.subscribe(lambda event: print(s))  # a cycle: only the cyclic collector frees it

    gc.disable()
    try:
        dropped()
        keep = SyncMemoryStorage()
        done = threading.Event()

        def put() -> None:
            keep.put("k", agen(b"x"))  # starts the portal, under the portal host's lock
            done.set()

        threading.Thread(target=put, daemon=True).start()
        if not done.wait(20):  # keep is left open: closing it would wait on the same lock
            pytest.fail("deadlocked: a finalizer waited for a lock its own thread held")
        assert keep.get_bytes("k") == b"x"
        keep.close()
    finally:
        gc.enable()
    gc.collect()
    assert not portal_threads()
