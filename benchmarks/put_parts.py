"""Scenario ``put_parts``: where the time of one ``put`` goes (issue 14, "profile first").

A sync ``put(key, 1 KiB)`` at a fresh key does a fixed list of steps. Each step is timed
here on its own, in a tight loop over the same kind of scattered keys, interleaved with
the whole put and with obstore's put, in a fresh store (a few thousand keys) and with
``Config.prefill`` keys present (100k):

* ``key validation``: :func:`memstore._keys.validate_key` (the fast path of a plain key);
* ``content type``: the guess from the extension (cached per extension);
* ``StoredFile + entry``: the returned :class:`~memstore.StoredFile` (lazy ETag) and the
  engine's entry that holds it with the contents;
* ``timestamp``: the file's ``last_modified``, taken as ``time.time_ns() // 1000`` (made a
  ``datetime`` only when first read);
* ``lock``: one acquire and release of the engine's lock;
* ``sorted index``: inserting the key into the sorted key index, which keeps ``list`` and
  ``list_dir`` in key order without sorting;
* ``hash map``: storing the entry in a ``dict``;
* ``folder counters``: the per-folder file and byte counts that keep ``get_usage`` by
  folder and the browser's gauges O(1) (the engine's ``_account``, which the put inlines);
* ``engine commit``: the engine's whole locked step (all of the above but validation and
  content type, plus the quota, the folder counters, the conditions and the event check),
  called directly without a face.

The shares are of the whole sync put measured in the same run. What the steps leave over
("rest") is the face itself (argument checks and the call into the engine), the engine's
quota and condition checks, and what the steps cost more inside a put than alone in a
tight loop (a put keeps what it allocates, a loop here frees it at once and reuses warm
memory). One profile by ablation (each step removed from the engine's commit in turn, 20k
puts into a fresh store, best of 27 runs) put the steps' costs inside a put at: the sorted
index 0.61 us, the StoredFile 0.38 us and its timestamp (then ``datetime.now(UTC)``)
0.27 us, the folder counters 0.37 us, the lock 0.16 us, the entry 0.14 us, of an engine
commit of 2.09 us. Deferring the ``datetime`` and dropping two slots then took the
commit to about 1.8 us and the memory per file from 345 B to 317 B.

The scenario uses private names of memstore to time its own parts; nothing here is a
target.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import obstore
from obstore.store import MemoryStore
from sortedcontainers import SortedList

from benchmarks._model import Config, ScenarioResult
from benchmarks._stores import PUT_START, KeySource
from benchmarks._timing import SyncCase, measure_sync
from memstore import SyncMemoryStorage
from memstore._keys import validate_key
from memstore._ops import guess_content_type
from memstore.memory._engine import Engine, Entry, _insert_key
from memstore.types import EMPTY_METADATA, new_lazy_file

__all__ = ["run_put_parts"]

_perf = time.perf_counter_ns

WHOLE = "sync put (whole)"
OBSTORE = "obstore sync put"
STEPS = (
    "key validation",
    "content type",
    "StoredFile + entry",
    "timestamp",
    "lock",
    "sorted index",
    "hash map",
    "folder counters",
)
ENGINE = "engine commit"
REST = "rest: the face's checks and call, the engine's bookkeeping"


def _timed(body: Callable[[list[str]], None], source: KeySource) -> Callable[[int], float]:
    def run(n: int) -> float:
        keys = source.take(n)
        t0 = _perf()
        body(keys)
        return _perf() - t0

    return run


class _State:
    """What the cases of one store size share: the stores each repeat starts from."""

    storage: SyncMemoryStorage
    engine: Engine
    obstore: MemoryStore
    index: SortedList
    map: dict[str, object]
    counters: Engine


def _cases(data: bytes, prefill: list[str], cap: int) -> list[SyncCase]:
    """The cases for one store size (``prefill`` keys present before each repeat)."""
    size = len(data)
    ref = Engine(None).ref  # the weak reference every lazy-ETag file holds
    ctype = "application/octet-stream"
    state = _State()

    def fresh_storage() -> None:
        old = getattr(state, "storage", None)
        if old is not None:
            old.close()
        storage = SyncMemoryStorage()
        for key in prefill:
            storage.put(key, data)
        state.storage = storage
        state.engine = storage._open()

    def fresh_obstore() -> None:
        store = MemoryStore()
        for key in prefill:
            obstore.put(store, key, data)
        state.obstore = store

    def fresh_index() -> None:
        state.index = SortedList(prefill)
        state.map = dict.fromkeys(prefill)

    def whole(keys: list[str]) -> None:
        put = state.storage.put
        for key in keys:
            put(key, data)

    def engine(keys: list[str]) -> None:
        commit = state.engine.commit_put
        for key in keys:
            commit(key, data, size, ctype, None, EMPTY_METADATA)

    def ob(keys: list[str]) -> None:
        store = state.obstore
        put = obstore.put
        for key in keys:
            put(store, key, data)

    def validation(keys: list[str]) -> None:
        for key in keys:
            validate_key(key)

    def content_type(keys: list[str]) -> None:
        for key in keys:
            guess_content_type(key)

    def stored_file(keys: list[str]) -> None:
        for key in keys:
            Entry(data).file = new_lazy_file(key, size, ctype, ref, 0, EMPTY_METADATA)

    def timestamp(keys: list[str]) -> None:
        now = time.time_ns
        for _ in keys:
            now() // 1000

    def lock(keys: list[str]) -> None:
        guard = threading.Lock()
        for _ in keys:
            with guard:
                pass

    def index(keys: list[str]) -> None:
        sorted_keys = state.index
        for key in keys:
            _insert_key(sorted_keys, key)

    def counters(keys: list[str]) -> None:
        account = state.counters._account
        for key in keys:
            account(key, 1, size)

    def fresh_counters() -> None:
        state.counters = Engine(None)

    def hash_map(keys: list[str]) -> None:
        entries = state.map
        for key in keys:
            entries[key] = data

    start = PUT_START  # keys that interleave with the prefill, as in the put scenario
    return [
        SyncCase(WHOLE, _timed(whole, KeySource(start=start)), fresh_storage, max_ops=cap),
        SyncCase(ENGINE, _timed(engine, KeySource(start=start)), fresh_storage, max_ops=cap),
        SyncCase(OBSTORE, _timed(ob, KeySource(start=start)), fresh_obstore, max_ops=cap),
        SyncCase(STEPS[0], _timed(validation, KeySource(start=start)), max_ops=cap),
        SyncCase(STEPS[1], _timed(content_type, KeySource(start=start)), max_ops=cap),
        SyncCase(STEPS[2], _timed(stored_file, KeySource(start=start)), max_ops=cap),
        SyncCase(STEPS[3], _timed(timestamp, KeySource(start=start)), max_ops=cap),
        SyncCase(STEPS[4], _timed(lock, KeySource(start=start)), max_ops=cap),
        SyncCase(STEPS[5], _timed(index, KeySource(start=start)), fresh_index, max_ops=cap),
        SyncCase(STEPS[6], _timed(hash_map, KeySource(start=start)), fresh_index, max_ops=cap),
        SyncCase(STEPS[7], _timed(counters, KeySource(start=start)), fresh_counters, max_ops=cap),
    ]


def run_put_parts(config: Config) -> ScenarioResult:
    """Time each step of a sync put beside the whole put and obstore's put."""
    result = ScenarioResult("put_parts", "where one sync put of 1 KiB goes", anchor="")
    data = os.urandom(config.payload)
    for label, prefill in (
        ("fresh store", []),
        (f"{config.prefill:,} keys present", KeySource().take(config.prefill)),
    ):
        timings = measure_sync(_cases(data, prefill, config.put_max_ops), config.plan)
        whole = timings[WHOLE].ns_per_op
        parts = sum(timings[step].ns_per_op for step in STEPS)
        for name, timing in timings.items():
            result.add(name, label, timing.ns_per_op / 1000, "us/op")
            result.add(name, f"share ({label})", 100 * timing.ns_per_op / whole, "%")
        rest = whole - parts
        result.add(REST, label, rest / 1000, "us/op")
        result.add(REST, f"share ({label})", 100 * rest / whole, "%")
        result.note_noise(label, timings)
        peer = timings[OBSTORE].ns_per_op
        shares = ", ".join(f"{step} {timings[step].ns_per_op / whole:.0%}" for step in STEPS)
        result.notes.append(
            f"{label}: the whole sync put is {whole / 1000:.2f} us ({whole / peer:.2f}x "
            f"obstore's {peer / 1000:.2f} us); "
            f"its shares: {shares}; "
            f"the engine's locked step alone {timings[ENGINE].ns_per_op / whole:.0%}."
        )
    return result
