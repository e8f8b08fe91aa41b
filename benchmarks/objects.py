"""Scenarios ``range``, ``list_dir`` and ``create``: memstore's object-store API (issue 9).

Every scenario measures memstore's two faces: the sync face (``SyncMemoryStorage``,
called from plain code) and the async core (``MemoryStorage``, awaited in a loop; each
batch runs in its own ``anyio.run``, outside the timer). The cases of one comparison are
interleaved repeat by repeat, as everywhere in this suite.

range
    ``get_bytes(key, start=..., end=...)`` of the 1 KiB in the middle of a 1 GiB file
    (64 MiB in ``--quick``). The range straddles the boundary between two stored parts.
    memstore holds the file twice: streamed through the async core in chunks of 1 MiB
    (stored as 1,024 parts of 1 MiB) and put as one ``bytes`` object. obstore's
    ``MemoryStore`` (``obstore.get_range``, which returns a zero-copy ``Bytes`` view)
    and fsspec's memory filesystem (``cat_file(path, start, end)``) keep one contiguous
    buffer however a file arrives, so they are measured once, on the file put as one
    ``bytes`` object. ``get_ranges`` of 16 ranges of 1 KiB spread over the file is
    measured the same way (obstore ``get_ranges``, fsspec ``cat_ranges``). One call of
    each face is traced with ``tracemalloc``: its peak is what the read copies (about
    1 KiB, not the file).

list_dir
    A store of ``dir_folders * dir_files + dir_files`` keys (1,001,000; 10,100 in
    ``--quick``): ``root/`` holds 1,000 sub-folders of 1,000 files each and ``flat/``
    holds 1,000 files. Times ``list_dir("root/")`` (1,000 prefixes) and
    ``list_dir("flat/")`` (1,000 files), against obstore's ``list_with_delimiter`` and
    fsspec's ``ls(path, detail=False)`` over the same layout. Target: listing the 1,000
    sub-folders costs at most 2x listing the 1,000 files. The stores are filled through
    their public put, in a shuffled order; fsspec lists by scanning every key, so it is
    measured on its own, with fewer repeats, after memstore and obstore are released.

create
    ``put(key, 1 KiB, if_none_match="*")`` at fresh keys against a plain ``put`` at
    fresh keys, in a fresh store each repeat; obstore's ``put(..., mode="create")``
    against its plain ``put`` for reference. Target: the sync face's create-only put
    within 1.2x of its plain put.
"""

from __future__ import annotations

import gc
import os
import random
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import anyio

from benchmarks._model import Check, Config, KiB, ScenarioResult
from benchmarks._stores import FsspecStore, KeySource
from benchmarks._timing import Plan, SyncCase, Timing, gc_paused, measure_sync
from memstore import MemoryStorage, SyncMemoryStorage

__all__ = ["run_create", "run_list_dir", "run_range"]

_perf = time.perf_counter_ns

SYNC = "memstore (sync)"
ASYNC = "memstore (async)"
OBSTORE = "obstore"
FSSPEC = "fsspec"
MEMSTORE_FACES = (SYNC, ASYNC)


def _in_loop(run: Callable[[int], Awaitable[float]]) -> Callable[[int], float]:
    """A batch of awaits in its own event loop; only the awaits are timed (inside ``run``)."""

    def batch(n: int) -> float:
        return anyio.run(run, n)

    return batch


def _label(store: str, case: str) -> str:
    return f"{store} | {case}"


def _record(result: ScenarioResult, case: str, timings: dict[str, Timing], stores: tuple[str, ...]) -> None:
    picked = {}
    for store in stores:
        timing = timings.get(_label(store, case))
        if timing is not None:
            result.add(case, store, timing.ns_per_op / 1000, "us/op")
            picked[store] = timing
    result.note_noise(case, picked)


def _size(n: int) -> str:
    return f"{n >> 30} GiB" if n >= 1 << 30 else f"{n >> 20} MiB"


def _light(plan: Plan, repeats: int) -> Plan:
    """``plan`` with at most ``repeats`` repeats."""
    return Plan(
        repeats=min(plan.repeats, repeats),
        batches=plan.batches,
        batch_ns=plan.batch_ns,
        probe_ops=plan.probe_ops,
        min_ops=plan.min_ops,
        max_ops=plan.max_ops,
    )


# ----------------------------------------------------------------------------- range
PARTS_KEY = "big/streamed.bin"
WHOLE_KEY = "big/whole.bin"
RANGES = 16


def run_range(config: Config) -> ScenarioResult:
    """Read 1 KiB (and 16 x 1 KiB) from a big file, without copying the file."""
    import obstore
    from obstore.store import MemoryStore

    size, chunk, width = config.range_bytes, config.range_chunk, KiB
    lo = size // 2 - width // 2
    hi = lo + width
    starts = [(2 * i + 1) * size // (2 * RANGES) for i in range(RANGES)]
    ends = [s + width for s in starts]
    pairs = list(zip(starts, ends, strict=True))
    parts_get = f"get_bytes 1 KiB, {_size(size)} streamed in {_size(chunk)} parts"
    whole_get = f"get_bytes 1 KiB, {_size(size)} put as one bytes object"
    parts_ranges = f"get_ranges {RANGES} x 1 KiB, {_size(chunk)} parts"
    whole_ranges = f"get_ranges {RANGES} x 1 KiB, one bytes object"
    result = ScenarioResult(
        "range", f"read 1 KiB from the middle of a {_size(size)} file (range {lo:,}..{hi:,})", anchor=OBSTORE
    )

    block = os.urandom(chunk)
    source = block * (size // chunk)
    expected = source[lo:hi]
    expected_ranges = [source[s:e] for s, e in pairs]
    core = MemoryStorage()
    fs_store = FsspecStore()
    try:
        t0 = time.perf_counter()

        async def fill() -> None:
            async def chunks() -> Any:
                for i in range(0, size, chunk):
                    yield source[i : i + chunk]

            await core.put(PARTS_KEY, chunks())
            await core.put(WHOLE_KEY, source)

        anyio.run(fill)
        fill_memstore = time.perf_counter() - t0
        facade = SyncMemoryStorage.wrap(core)
        ob = MemoryStore()
        obstore.put(ob, WHOLE_KEY, source, use_multipart=False)  # keeps a view of `source`
        fs = fs_store.fs
        t0 = time.perf_counter()
        fs.pipe_file(WHOLE_KEY, source)
        fs.cat_file(WHOLE_KEY, 0, 1)  # its first read copies the whole file once: not timed
        fill_fsspec = time.perf_counter() - t0

        # every store returns the right bytes (and is warm)
        for key in (PARTS_KEY, WHOLE_KEY):
            assert facade.get_bytes(key, start=lo, end=hi) == expected
            assert facade.get_ranges(key, pairs) == expected_ranges
        assert bytes(obstore.get_range(ob, WHOLE_KEY, start=lo, end=hi)) == expected
        assert [
            bytes(b) for b in obstore.get_ranges(ob, WHOLE_KEY, starts=starts, ends=ends)
        ] == expected_ranges
        assert fs.cat_file(WHOLE_KEY, lo, hi) == expected
        assert fs.cat_ranges([WHOLE_KEY] * RANGES, starts, ends) == expected_ranges

        def sync_get(key: str) -> Callable[[int], float]:
            def run(n: int) -> float:
                get_bytes = facade.get_bytes
                t0 = _perf()
                for _ in range(n):
                    get_bytes(key, start=lo, end=hi)
                return _perf() - t0

            return run

        def async_get(key: str) -> Callable[[int], float]:
            async def run(n: int) -> float:
                get_bytes = core.get_bytes
                t0 = _perf()
                for _ in range(n):
                    await get_bytes(key, start=lo, end=hi)
                return _perf() - t0

            return _in_loop(run)

        def sync_ranges(key: str) -> Callable[[int], float]:
            def run(n: int) -> float:
                get_ranges = facade.get_ranges
                t0 = _perf()
                for _ in range(n):
                    get_ranges(key, pairs)
                return _perf() - t0

            return run

        def async_ranges(key: str) -> Callable[[int], float]:
            async def run(n: int) -> float:
                get_ranges = core.get_ranges
                t0 = _perf()
                for _ in range(n):
                    await get_ranges(key, pairs)
                return _perf() - t0

            return _in_loop(run)

        def obstore_get(n: int) -> float:
            get_range = obstore.get_range
            t0 = _perf()
            for _ in range(n):
                get_range(ob, WHOLE_KEY, start=lo, end=hi)
            return _perf() - t0

        def obstore_ranges(n: int) -> float:
            get_ranges = obstore.get_ranges
            t0 = _perf()
            for _ in range(n):
                get_ranges(ob, WHOLE_KEY, starts=starts, ends=ends)
            return _perf() - t0

        def fsspec_get(n: int) -> float:
            cat_file = fs.cat_file
            t0 = _perf()
            for _ in range(n):
                cat_file(WHOLE_KEY, lo, hi)
            return _perf() - t0

        paths = [WHOLE_KEY] * RANGES

        def fsspec_ranges(n: int) -> float:
            cat_ranges = fs.cat_ranges
            t0 = _perf()
            for _ in range(n):
                cat_ranges(paths, starts, ends)
            return _perf() - t0

        cases = [
            SyncCase(_label(SYNC, parts_get), sync_get(PARTS_KEY)),
            SyncCase(_label(ASYNC, parts_get), async_get(PARTS_KEY)),
            SyncCase(_label(SYNC, whole_get), sync_get(WHOLE_KEY)),
            SyncCase(_label(ASYNC, whole_get), async_get(WHOLE_KEY)),
            SyncCase(_label(OBSTORE, whole_get), obstore_get),
            SyncCase(_label(FSSPEC, whole_get), fsspec_get),
            SyncCase(_label(SYNC, parts_ranges), sync_ranges(PARTS_KEY)),
            SyncCase(_label(ASYNC, parts_ranges), async_ranges(PARTS_KEY)),
            SyncCase(_label(SYNC, whole_ranges), sync_ranges(WHOLE_KEY)),
            SyncCase(_label(ASYNC, whole_ranges), async_ranges(WHOLE_KEY)),
            SyncCase(_label(OBSTORE, whole_ranges), obstore_ranges),
            SyncCase(_label(FSSPEC, whole_ranges), fsspec_ranges),
        ]
        timings = measure_sync(cases, _light(config.plan, 5))
        peaks: dict[tuple[str, str], int] = {}
        for key in (PARTS_KEY, WHOLE_KEY):
            peaks[SYNC, key] = _traced_peak(partial(facade.get_bytes, key, start=lo, end=hi))
            peaks[ASYNC, key] = anyio.run(_traced_peak_async, core, key, lo, hi)
        facade.close()
    finally:
        anyio.run(core.close)
        anyio.run(fs_store.close)

    stores = (SYNC, ASYNC, OBSTORE, FSSPEC)
    for case in (parts_get, whole_get, parts_ranges, whole_ranges):
        _record(result, case, timings, stores)
    layout = f"{_size(chunk)} parts / one bytes object"
    for face in MEMSTORE_FACES:
        for what, parts, whole in (
            ("get_bytes", parts_get, whole_get),
            ("get_ranges", parts_ranges, whole_ranges),
        ):
            a = timings[_label(face, parts)].ns_per_op
            b = timings[_label(face, whole)].ns_per_op
            result.add(f"{what}: {layout}", face, a / b, "x")
    for key, what in ((PARTS_KEY, f"{_size(chunk)} parts"), (WHOLE_KEY, "one bytes object")):
        for face in MEMSTORE_FACES:
            result.add(f"peak traced memory of one get_bytes, {what}", face, peaks[face, key], "B")
    result.notes += [
        f"memstore holds the file twice: streamed through the async core in {_size(chunk)} chunks "
        f"({size // chunk:,} stored parts) and put as one bytes object (both puts: {fill_memstore:.1f} s, "
        "MD5 included). The 1 KiB range straddles the boundary of two parts.",
        "obstore and fsspec keep one contiguous buffer however a file arrives; they are measured on "
        "the file put as one bytes object. obstore.get_range returns a zero-copy view (obstore.Bytes); "
        "memstore and fsspec return a new bytes object.",
        f"fsspec copies the whole file on its first read (pipe_file and that read took {fill_fsspec:.1f} s, "
        "untimed).",
        f"get_ranges reads {RANGES} ranges of 1 KiB spread evenly over the file "
        "(obstore get_ranges, fsspec cat_ranges).",
    ]
    return result


def _traced_peak(call: Callable[[], object]) -> int:
    """The peak of the memory ``tracemalloc`` sees during ``call()`` (its result included)."""
    gc.collect()
    tracemalloc.start()
    try:
        out = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return peak


async def _traced_peak_async(core: MemoryStorage, key: str, lo: int, hi: int) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        out = await core.get_bytes(key, start=lo, end=hi)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return peak


# -------------------------------------------------------------------------- list_dir
def _dir_keys(folders: int, files: int) -> list[str]:
    nested = [f"root/d{i:05d}/f{j:05d}.bin" for i in range(folders) for j in range(files)]
    flat = [f"flat/f{j:05d}.bin" for j in range(files)]
    keys = nested + flat
    random.Random(9).shuffle(keys)
    return keys


def _fill(keys: Sequence[str], put: Callable[[str], object]) -> float:
    """Put every key (gc paused), then freeze the survivors; return the seconds it took."""
    t0 = time.perf_counter()
    with gc_paused():
        for key in keys:
            put(key)
    gc.freeze()  # a million long-lived objects: keep the collector from rescanning them
    return time.perf_counter() - t0


def _check_listing(name: str, got: tuple[int, int], want: tuple[int, int]) -> None:
    if got != want:
        raise AssertionError(
            f"{name} listed {got[0]} prefixes and {got[1]} files, not {want[0]} and {want[1]}"
        )


def _dir_memstore_obstore(
    keys: Sequence[str],
    payload: bytes,
    wants: dict[str, tuple[int, int]],
    plan: Plan,
    seconds: dict[str, float],
) -> dict[str, Timing]:
    """Fill memstore and obstore, then time both faces and obstore interleaved (``{label: Timing}``)."""
    import obstore
    from obstore.store import MemoryStore

    core = MemoryStorage()
    facade = SyncMemoryStorage.wrap(core)
    ob = MemoryStore()

    def sync_run(prefix: str) -> Callable[[int], float]:
        def run(n: int) -> float:
            list_dir = facade.list_dir
            t0 = _perf()
            for _ in range(n):
                out = list_dir(prefix)
            elapsed = _perf() - t0
            _check_listing(SYNC, (len(out.prefixes), len(out.files)), wants[prefix])
            return elapsed

        return run

    def async_run(prefix: str) -> Callable[[int], float]:
        async def run(n: int) -> float:
            list_dir = core.list_dir
            t0 = _perf()
            for _ in range(n):
                out = await list_dir(prefix)
            elapsed = _perf() - t0
            _check_listing(ASYNC, (len(out.prefixes), len(out.files)), wants[prefix])
            return elapsed

        return _in_loop(run)

    def obstore_run(prefix: str) -> Callable[[int], float]:
        def run(n: int) -> float:
            list_with_delimiter = obstore.list_with_delimiter
            t0 = _perf()
            for _ in range(n):
                out = list_with_delimiter(ob, prefix)
            elapsed = _perf() - t0
            _check_listing(OBSTORE, (len(out["common_prefixes"]), len(out["objects"])), wants[prefix])
            return elapsed

        return run

    try:
        put, ob_put = facade.put, obstore.put
        seconds[SYNC] = _fill(keys, lambda key: put(key, payload))
        seconds[OBSTORE] = _fill(keys, lambda key: ob_put(ob, key, payload))
        cases = [
            SyncCase(_label(store, case), make(prefix))
            for store, make in ((SYNC, sync_run), (ASYNC, async_run), (OBSTORE, obstore_run))
            for case, prefix in ((ROOT_CASE, "root/"), (FLAT_CASE, "flat/"))
        ]
        return measure_sync(cases, plan)
    finally:
        facade.close()
        anyio.run(core.close)
        gc.unfreeze()


def _dir_fsspec(
    keys: Sequence[str],
    payload: bytes,
    wants: dict[str, tuple[int, int]],
    plan: Plan,
    seconds: dict[str, float],
) -> dict[str, Timing]:
    """Fill fsspec's memory filesystem, then time ``ls`` of both folders (``{label: Timing}``)."""
    fs_store = FsspecStore()
    fs = fs_store.fs

    def fsspec_run(prefix: str) -> Callable[[int], float]:
        path = prefix.rstrip("/")
        want = sum(wants[prefix])

        def run(n: int) -> float:
            ls = fs.ls
            t0 = _perf()
            for _ in range(n):
                out = ls(path, detail=False)
            elapsed = _perf() - t0
            if len(out) != want:
                raise AssertionError(f"fsspec listed {len(out)} entries under {path!r}, not {want}")
            return elapsed

        return run

    try:
        pipe_file = fs.pipe_file
        seconds[FSSPEC] = _fill(keys, lambda key: pipe_file(key, payload))
        cases = [
            SyncCase(_label(FSSPEC, ROOT_CASE), fsspec_run("root/")),
            SyncCase(_label(FSSPEC, FLAT_CASE), fsspec_run("flat/")),
        ]
        return measure_sync(cases, plan)
    finally:
        anyio.run(fs_store.close)
        gc.unfreeze()


ROOT_CASE = "list_dir root/ (sub-folders)"
FLAT_CASE = "list_dir flat/ (files)"


def run_list_dir(config: Config) -> ScenarioResult:
    """list_dir of 1,000 sub-folders against 1,000 files, in a store of 1M keys."""
    folders, files = config.dir_folders, config.dir_files
    keys = _dir_keys(folders, files)
    total = len(keys)
    result = ScenarioResult(
        "list_dir",
        f"one folder level (Delimiter='/'): root/ holds {folders:,} sub-folders of {files:,} files, "
        f"flat/ holds {files:,} files ({total:,} keys)",
        anchor=OBSTORE,
    )
    payload = b"x" * 64  # one shared small object: listing does not read contents
    wants = {"root/": (folders, 0), "flat/": (0, files)}
    seconds: dict[str, float] = {}
    timings = _dir_memstore_obstore(keys, payload, wants, config.slow_plan, seconds)
    gc.collect()
    slow = config.slow_plan
    fs_plan = Plan(repeats=2, batches=1, batch_ns=slow.batch_ns, probe_ops=1, max_ops=slow.max_ops)
    timings |= _dir_fsspec(keys, payload, wants, fs_plan, seconds)
    gc.collect()

    stores = (SYNC, ASYNC, OBSTORE, FSSPEC)
    for case in (ROOT_CASE, FLAT_CASE):
        for store in stores:
            result.add(case, store, timings[_label(store, case)].ns_per_op / 1e6, "ms")
        result.note_noise(case, {s: timings[_label(s, case)] for s in stores})
    ratio_case = "sub-folders / files"
    ratios = {}
    for store in stores:
        ratios[store] = (
            timings[_label(store, ROOT_CASE)].ns_per_op / timings[_label(store, FLAT_CASE)].ns_per_op
        )
        result.add(ratio_case, store, ratios[store], "x")
    root_ms = timings[_label(SYNC, ROOT_CASE)].ns_per_op / 1e6
    flat_ms = timings[_label(SYNC, FLAT_CASE)].ns_per_op / 1e6
    result.checks.append(
        Check(
            f"list_dir at {total:,} keys: {folders:,} sub-folders / {files:,} files (sync face)",
            ratios[SYNC],
            2.0,
            detail=f"{root_ms:.3f} ms vs {flat_ms:.3f} ms; async core {ratios[ASYNC]:.2f}x",
            issue=9,
        )
    )
    result.notes += [
        "Filled through each store's public put, one key at a time in a shuffled order: "
        + ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items())
        + ". memstore and obstore are measured interleaved; fsspec (whose ls scans every key) "
        "afterwards, alone, with 2 repeats of 1 batch.",
        "obstore: list_with_delimiter(store, prefix); fsspec: ls(path, detail=False). "
        "memstore's files are StoredFile objects, obstore's are dicts, fsspec's are names.",
    ]
    return result


# ---------------------------------------------------------------------------- create
def run_create(config: Config) -> ScenarioResult:
    """Create-only put (``if_none_match="*"``) against a plain put, at fresh keys."""
    import obstore
    from obstore.store import MemoryStore

    data = os.urandom(config.payload)
    plain_case = "put 1 KiB, fresh keys"
    create_case = 'put 1 KiB, fresh keys, create-only (if_none_match="*")'
    result = ScenarioResult(
        "create", "create-only put against a plain put (1 KiB, fresh store)", anchor=OBSTORE
    )
    cap = config.put_max_ops
    stores: dict[str, list[Any]] = {}
    cases: list[SyncCase] = []

    def fresh(label: str, make: Callable[[], Any], close: Callable[[Any], None]) -> Callable[[], None]:
        holder = stores.setdefault(label, [])

        def setup() -> None:
            if holder:
                close(holder.pop())
            holder.append(make())

        return setup

    def close_core(core: MemoryStorage) -> None:
        anyio.run(core.close)

    for create in (False, True):
        case = create_case if create else plain_case

        label = _label(SYNC, case)
        setup = fresh(label, SyncMemoryStorage, SyncMemoryStorage.close)
        keys = KeySource()

        def sync_run(n: int, label: str = label, keys: KeySource = keys, create: bool = create) -> float:
            put = stores[label][0].put
            batch = keys.take(n)
            t0 = _perf()
            if create:
                for key in batch:
                    put(key, data, if_none_match="*")
            else:
                for key in batch:
                    put(key, data)
            return _perf() - t0

        cases.append(SyncCase(label, sync_run, setup, max_ops=cap))

        label = _label(ASYNC, case)
        setup = fresh(label, MemoryStorage, close_core)
        keys = KeySource()

        async def async_run(
            n: int, label: str = label, keys: KeySource = keys, create: bool = create
        ) -> float:
            put = stores[label][0].put
            batch = keys.take(n)
            t0 = _perf()
            if create:
                for key in batch:
                    await put(key, data, if_none_match="*")
            else:
                for key in batch:
                    await put(key, data)
            return _perf() - t0

        cases.append(SyncCase(label, _in_loop(async_run), setup, max_ops=cap))

        label = _label(OBSTORE, case)
        setup = fresh(label, MemoryStore, lambda s: None)
        keys = KeySource()

        def obstore_run(n: int, label: str = label, keys: KeySource = keys, create: bool = create) -> float:
            put, store = obstore.put, stores[label][0]
            batch = keys.take(n)
            t0 = _perf()
            if create:
                for key in batch:
                    put(store, key, data, mode="create")
            else:
                for key in batch:
                    put(store, key, data)
            return _perf() - t0

        cases.append(SyncCase(label, obstore_run, setup, max_ops=cap))

    try:
        timings = measure_sync(cases, _light(config.plan, 7))
    finally:
        for label, holder in stores.items():
            while holder:
                store = holder.pop()
                if label.startswith(SYNC):
                    store.close()
                elif label.startswith(ASYNC):
                    close_core(store)

    names = (SYNC, ASYNC, OBSTORE)
    for case in (plain_case, create_case):
        _record(result, case, timings, names)
    ratios = {}
    for name in names:
        ratios[name] = (
            timings[_label(name, create_case)].ns_per_op / timings[_label(name, plain_case)].ns_per_op
        )
        result.add("create-only / plain", name, ratios[name], "x")

    def us(name: str, case: str) -> str:
        return f"{timings[_label(name, case)].ns_per_op / 1000:.2f} us"

    result.checks.append(
        Check(
            'put if_none_match="*" / plain put (sync face, fresh keys)',
            ratios[SYNC],
            1.2,
            detail=(
                f"{us(SYNC, create_case)} vs {us(SYNC, plain_case)}; async core {ratios[ASYNC]:.2f}x, "
                f'obstore mode="create" {ratios[OBSTORE]:.2f}x'
            ),
            issue=9,
        )
    )
    result.notes.append(
        "Each repeat starts from a fresh store; keys are scattered over the key space (KeySource). "
        'obstore: put(store, key, data, mode="create") against put(store, key, data).'
    )
    return result
