"""Ctrl-C (KeyboardInterrupt) can land between any two statements of the main thread:
whatever it interrupts, the storage stays consistent and nothing is lost."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from memstore import MemoryConfig, MemoryStorage, StorageError, SyncMemoryStorage
from memstore._keys import top_prefix
from memstore.memory import _engine
from memstore.memory._engine import Engine


def assert_consistent(engine: Engine) -> None:
    entries = engine._entries
    assert list(engine._keys) == sorted(entries)
    assert engine._used == sum(e.file.size for e in entries.values())
    expected: dict[str, list[int]] = {}
    for key, entry in entries.items():
        counters = expected.setdefault(top_prefix(key), [0, 0])
        counters[0] += 1
        counters[1] += entry.file.size
    assert engine._prefixes == expected
    deep: dict[str, list[int]] = {}
    for key, entry in entries.items():
        parts = key.split("/")[:-1]
        for depth in range(2, len(parts) + 1):
            counters = deep.setdefault("/".join(parts[:depth]) + "/", [0, 0])
            counters[0] += 1
            counters[1] += entry.file.size
    assert engine._deep == deep
    assert engine.reserved_bytes >= 0


class Interrupting(list[str]):
    """Stands in for the sorted index: raises KeyboardInterrupt on add/remove."""

    def add(self, key: str) -> None:
        raise KeyboardInterrupt

    @property
    def _maxes(self) -> list[str]:  # what the engine's own insertion reads first
        raise KeyboardInterrupt

    def remove(self, key: str) -> None:
        raise KeyboardInterrupt


class InterruptingDict(dict[str, list[int]]):
    """Stands in for the prefix counters: raises KeyboardInterrupt when read."""

    def get(self, key: str, default: object = None) -> list[int]:
        raise KeyboardInterrupt


@pytest.mark.parametrize("operation", ["put-new", "put-over", "delete", "copy", "move", "move-over"])
def test_an_interrupt_inside_a_commit_step_is_repaired(operation: str) -> None:
    with SyncMemoryStorage(MemoryConfig(max_size=1000)) as s:
        s.put("a/one", b"11111")
        s.put("b/two", b"22")
        engine = s.async_storage._engine
        engine._keys = Interrupting(engine._keys)
        if operation == "put-over":
            engine._prefixes = InterruptingDict(engine._prefixes)
        action: Callable[[], object] = {
            "put-new": lambda: s.put("c/three", b"333"),
            "put-over": lambda: s.put("a/one", b"1"),
            "delete": lambda: s.delete("a/one"),
            "copy": lambda: s.copy("a/one", "c/copy"),
            "move": lambda: s.move("a/one", "c/moved"),
            "move-over": lambda: s.move("a/one", "b/two"),
        }[operation]
        with pytest.raises(KeyboardInterrupt):
            action()
        assert_consistent(engine)
        expected = {
            "put-new": {"a/one": b"11111", "b/two": b"22", "c/three": b"333"},
            "put-over": {"a/one": b"1", "b/two": b"22"},
            "delete": {"b/two": b"22"},
            "copy": {"a/one": b"11111", "b/two": b"22", "c/copy": b"11111"},
            "move": {"b/two": b"22", "c/moved": b"11111"},
            "move-over": {"b/two": b"11111"},
        }[operation]
        assert {f.key: s.get_bytes(f.key) for f in s.list()} == expected  # the write happened in full
        assert s.usage.used_bytes == sum(map(len, expected.values()))


STORM = 300  # real SIGINTs, each one handled before the next is sent


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="needs the main thread")
def test_a_storm_of_real_ctrl_c_never_corrupts_the_storage() -> None:
    storage = MemoryStorage(MemoryConfig(max_size=50_000))
    facade = SyncMemoryStorage.wrap(storage)
    handled = 0
    failure: list[str] = []
    done = threading.Event()

    def interrupter() -> None:
        # Counts, not clocks: each interrupt waits until the main thread handled the one
        # before, however slow a loaded machine is (a generous bound catches a hang).
        try:
            for sent in range(1, STORM + 1):
                os.kill(os.getpid(), signal.SIGINT)
                deadline = time.monotonic() + 60
                while handled < sent:
                    if time.monotonic() > deadline:
                        failure.append(f"interrupt {sent} was never handled")
                        return
                    time.sleep(0.0002)
        finally:
            done.set()

    def one_round(i: int) -> None:
        key = f"d{i % 7}/k{i % 211}"
        try:
            facade.put(key, b"x" * (i % 97))
            if i % 3 == 0:
                facade.copy(key, f"c/{i % 53}")
            if i % 5 == 0:
                facade.move(key, f"m/{i % 31}")
            if i % 4 == 0:
                facade.delete(f"c/{(i // 4) % 53}")
        except StorageError:
            pass

    thread = threading.Thread(target=interrupter, daemon=True)
    i = 0
    # Python's own handler, whatever an earlier test left installed (asyncio and trio
    # runners replace it while they run).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    # A KeyboardInterrupt raised inside a finalizer (an earlier test's trio nursery found
    # by the garbage collector mid-storm) is swallowed as "unraisable" and never reaches
    # the handler below: collect now, and keep the collector off during the storm.
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    # Everything sits inside the try, the thread's start and the loops' backward jumps too.
    while True:
        try:
            try:
                if thread.ident is None:
                    thread.start()
                while not done.is_set():
                    i += 1
                    one_round(i)
                break
            except KeyboardInterrupt:
                handled += 1
        except KeyboardInterrupt:  # one that landed in the handler above
            handled += 1
    thread.join()
    signal.signal(signal.SIGINT, previous)
    if gc_was_enabled:
        gc.enable()
    assert not failure, failure
    assert handled == STORM
    assert_consistent(storage._engine)
    files = list(facade.list())
    assert facade.usage.used_bytes == sum(f.size for f in files) <= 50_000
    facade.close()


SCENARIOS: dict[str, Callable[[SyncMemoryStorage], object]] = {
    "put-new": lambda s: s.put("c/new", b"333"),
    "put-over": lambda s: s.put("a/one", b"1"),
    "stream-put": lambda s: s.put("a/one", [b"12", b"345", b"6789"]),
    "delete": lambda s: s.delete("a/one"),
    "copy": lambda s: s.copy("a/one", "c/copy"),
    "move": lambda s: s.move("a/one", "c/moved"),
    "move-over": lambda s: s.move("a/one", "b/two"),
    "delete-prefix": lambda s: s.delete_prefix("a/"),
    "put-if-match": lambda s: s.put("a/one", b"1", if_match=s.info("a/one").etag),
    "put-deep": lambda s: s.put("c/d/e/f", b"deep"),
}


def fresh() -> SyncMemoryStorage:
    s = SyncMemoryStorage(MemoryConfig(max_size=60))
    s.put("a/one", b"11111")
    s.put("b/two", b"22")
    s.put("a/x/y/z", b"333")
    return s


def contents(s: SyncMemoryStorage) -> dict[str, bytes]:
    return {f.key: s.get_bytes(f.key) for f in s.list()}


def engine_lines(action: Callable[[], object]) -> list[int]:
    """The lines of memstore/memory/_engine.py that ``action`` runs, in order."""
    seen: list[int] = []

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename != _engine.__file__:
            return None

        def local(frame: FrameType, event: str, arg: object) -> Any:
            if event == "line" and frame.f_lineno not in seen:
                seen.append(frame.f_lineno)
            return local

        return local

    previous = sys.gettrace()  # coverage's tracer: put it back, or the rest of the run goes unmeasured
    sys.settrace(tracer)
    try:
        action()
    finally:
        sys.settrace(previous)
    return seen


def interrupt_at(line: int, action: Callable[[], object]) -> bool:
    """Run ``action`` with a KeyboardInterrupt raised when it reaches ``line`` of _engine.py."""
    fired = False

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename != _engine.__file__:
            return None

        def local(frame: FrameType, event: str, arg: object) -> Any:
            nonlocal fired
            if event == "line" and frame.f_lineno == line and not fired:
                fired = True
                raise KeyboardInterrupt
            return local

        return local

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        action()
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(previous)
    return fired


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_an_interrupt_at_every_line_of_a_write_leaves_before_or_after(name: str) -> None:
    """Ctrl-C is injected at each line of the engine a write runs (one run per line): the
    storage is then consistent, and holds exactly what it held before or after the write."""
    scenario = SCENARIOS[name]
    reference = fresh()
    before = contents(reference)
    lines = engine_lines(lambda: scenario(reference))
    after = contents(reference)
    assert before != after
    assert len(lines) > 5
    source = Path(_engine.__file__).read_text().splitlines()
    # A `try:` line runs no instruction a real signal can stop at; an exception raised by
    # the trace function there escapes the enclosing `with lock:` in CPython 3.11.
    lines = [n for n in lines if source[n - 1].strip() != "try:"]
    for line in lines:
        s = fresh()
        assert interrupt_at(line, lambda s=s: scenario(s)), line  # type: ignore[misc]
        engine = s.async_storage._engine
        assert_consistent(engine)
        assert engine.reserved_bytes == 0, f"line {line} leaked a reservation"
        assert contents(s) in (before, after), f"an interrupt at _engine.py:{line} half-wrote {name}"
        s.close()
