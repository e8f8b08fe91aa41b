"""Random sequences of writes against a plain-dict model (hypothesis stateful testing).

The model predicts every outcome exactly, quota errors included: the storage must
agree on contents, sizes, etags, key order, usage and per-prefix usage after every step.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from memstore import (
    InvalidKeyError,
    MemoryConfig,
    PrefixUsage,
    StorageFileExistsError,
    StorageFileNotFoundError,
    StoragePreconditionFailedError,
    StorageQuotaExceededError,
    StorageUsage,
    validate_key,
)
from tests.faces import FACES, make_factory

KEYS = ["a", "b", "ab", "a/1", "a/2", "a/1/x", "b/x/y", "é", "c.txt"]
PREFIXES = ["", "a", "a/", "a/1", "b", "b/", "c", "é", "z"]

keys = st.sampled_from(KEYS)
payloads = st.builds(
    lambda n, start: bytes((start + i) % 256 for i in range(n)),
    st.integers(0, 60),
    st.integers(0, 255),
)
chunk_types = st.sampled_from([bytes, bytearray, memoryview])


class Boom(Exception):
    pass


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (clamped, repeated cuts give empty chunks)."""
    points = sorted(min(c, len(data)) for c in cuts)
    chunks: list[bytes] = []
    start = 0
    for p in points:
        chunks.append(data[start:p])
        start = p
    chunks.append(data[start:])
    return chunks


def etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


def top_prefix(key: str) -> str:
    i = key.find("/")
    return key[: i + 1] if i >= 0 else ""


async def stream(chunks: list[bytes], kind: Any, pause: bool, fail: bool = False) -> AsyncIterator[Any]:
    for chunk in chunks:
        if pause:
            await anyio.lowlevel.checkpoint()
        yield kind(chunk)
    if fail:
        raise Boom("the stream failed")


class StorageMachine(RuleBasedStateMachine):
    """Drives one MemoryStorage through a blocking portal and mirrors it in a dict."""

    portal: BlockingPortal  # set by a subclass per backend
    face = "async"  # set by a subclass: the face under test (tests/faces.py)

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, bytes] = {}
        self.max_size: int | None = None
        self.chunk_size = 1
        self.make, self.close_all = make_factory(self.face)
        self.storage = self.make()

    # ------------------------------------------------------------ model helpers
    @property
    def used(self) -> int:
        return sum(map(len, self.model.values()))

    def fits(self, key: str, size: int) -> bool:
        if self.max_size is None:
            return True
        return self.used - len(self.model.get(key, b"")) + size <= self.max_size

    def stream_fits(self, key: str, chunks: list[bytes]) -> bool:
        """Whether every prefix of the stream fits (a stream is refused at the first one that does not)."""
        received = 0
        for chunk in chunks:
            received += len(chunk)
            if not self.fits(key, received):
                return False
        return True

    # ------------------------------------------------------------------- rules
    @initialize(
        max_size=st.one_of(st.none(), st.integers(0, 200), st.integers(30, 120)),
        chunk_size=st.integers(1, 40),
    )
    def setup(self, max_size: int | None, chunk_size: int) -> None:
        self.max_size = max_size
        self.chunk_size = chunk_size
        self.storage = self.make(MemoryConfig(max_size=max_size, chunk_size=chunk_size, offload_threshold=32))

    @rule(key=keys, data=payloads, kind=chunk_types, meta=st.booleans())
    def put(self, key: str, data: bytes, kind: Any, meta: bool) -> None:
        metadata = {"n": str(len(data))} if meta else None
        if self.fits(key, len(data)):
            file = self.portal.call(lambda: self.storage.put(key, kind(data), metadata=metadata))
            assert file.size == len(data)
            assert file.etag == etag(data)
            assert dict(file.metadata) == (metadata or {})
            if key in self.model and not self.fits(key + "/new", len(data)):
                event("overwrite that fits only thanks to the old size")
            self.model[key] = data
        else:
            event("put refused")
            with pytest.raises(StorageQuotaExceededError) as info:
                self.portal.call(lambda: self.storage.put(key, kind(data), metadata=metadata))
            assert info.value.max_size == self.max_size
            assert info.value.used_bytes == self.used
            assert info.value.requested_bytes == len(data)

    @rule(
        key=keys,
        data=payloads,
        cuts=st.lists(st.integers(0, 60), max_size=6),
        kind=chunk_types,
        pause=st.booleans(),
    )
    def put_stream(self, key: str, data: bytes, cuts: list[int], kind: Any, pause: bool) -> None:
        chunks = split(data, cuts)
        if self.stream_fits(key, chunks):
            file = self.portal.call(lambda: self.storage.put(key, stream(chunks, kind, pause)))
            assert file.size == len(data)
            assert file.etag == etag(data)
            self.model[key] = data
        else:
            with pytest.raises(StorageQuotaExceededError):
                self.portal.call(lambda: self.storage.put(key, stream(chunks, kind, pause)))

    @rule(key=keys, data=payloads, cuts=st.lists(st.integers(0, 60), max_size=4), pause=st.booleans())
    def put_failing_stream(self, key: str, data: bytes, cuts: list[int], pause: bool) -> None:
        chunks = split(data, cuts)
        expected: type[Exception] = Boom if self.stream_fits(key, chunks) else StorageQuotaExceededError
        with pytest.raises(expected):
            self.portal.call(lambda: self.storage.put(key, stream(chunks, bytes, pause, fail=True)))

    @precondition(lambda self: self.face == "async")  # a sync put has no task to cancel
    @rule(key=keys, data=payloads, cuts=st.lists(st.integers(0, 60), max_size=4), after=st.integers(0, 5))
    def put_cancelled_stream(self, key: str, data: bytes, cuts: list[int], after: int) -> None:
        chunks = split(data, cuts)
        sent = chunks[:after]

        async def cancelled() -> bool:
            with anyio.CancelScope() as scope:

                async def gen() -> AsyncIterator[bytes]:
                    for chunk in sent:
                        yield chunk
                    scope.cancel()
                    await anyio.sleep_forever()
                    yield b"never"

                await self.storage.put(key, gen())
            return scope.cancelled_caught

        if self.stream_fits(key, sent):
            assert self.portal.call(cancelled)
        else:
            with pytest.raises(StorageQuotaExceededError):
                self.portal.call(cancelled)

    @rule(key=keys)
    def delete(self, key: str) -> None:
        if key in self.model:
            self.portal.call(self.storage.delete, key)
            del self.model[key]
        else:
            with pytest.raises(StorageFileNotFoundError):
                self.portal.call(self.storage.delete, key)

    @rule(source=keys, destination=keys)
    def copy(self, source: str, destination: str) -> None:
        if source not in self.model:
            with pytest.raises(StorageFileNotFoundError):
                self.portal.call(self.storage.copy, source, destination)
            return
        size = len(self.model[source])
        growth = size - len(self.model.get(destination, b""))
        if source != destination and growth > 0 and not self.fits(destination, size):
            with pytest.raises(StorageQuotaExceededError):
                self.portal.call(self.storage.copy, source, destination)
            return
        file = self.portal.call(self.storage.copy, source, destination)
        assert file.key == destination
        assert file.size == size
        self.model[destination] = self.model[source]

    @rule(source=keys, destination=keys)
    def move(self, source: str, destination: str) -> None:
        if source not in self.model:
            with pytest.raises(StorageFileNotFoundError):
                self.portal.call(self.storage.move, source, destination)
            return
        file = self.portal.call(self.storage.move, source, destination)
        assert file.key == destination
        self.model[destination] = self.model.pop(source)

    @rule(prefix=st.sampled_from(PREFIXES), limit=st.one_of(st.none(), st.integers(0, 10)))
    def list(self, prefix: str, limit: int | None) -> None:
        async def listing() -> list[tuple[str, int]]:
            return [(f.key, f.size) async for f in self.storage.list(prefix, limit=limit)]

        expected = [(k, len(self.model[k])) for k in sorted(self.model) if k.startswith(prefix)]
        assert self.portal.call(listing) == (expected if limit is None else expected[:limit])

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))

        async def chunks() -> list[bytes]:
            return [c async for c in self.storage.get(key)]

        got = self.portal.call(chunks)
        assert b"".join(got) == self.model[key]
        size = len(self.model[key])
        if size <= self.chunk_size:
            assert len(got) == 1
        else:
            assert [len(c) for c in got[:-1]] == [self.chunk_size] * (len(got) - 1)
            assert 0 < len(got[-1]) <= self.chunk_size

    @rule()
    def clear(self) -> None:
        self.portal.call(self.storage.clear)
        self.model.clear()

    @rule(key=st.sampled_from(["", "..", "a/./b", "bad\x00key"]), data=payloads)
    def put_invalid_key(self, key: str, data: bytes) -> None:
        with pytest.raises(InvalidKeyError):
            self.portal.call(self.storage.put, key, data)

    # -------------------------------------------------------------- invariants
    @rule(key=keys, data=payloads, create_only=st.booleans(), stale=st.booleans())
    def conditional_put(self, key: str, data: bytes, create_only: bool, stale: bool) -> None:
        """S3's conditions against the model: create-only, or compare-and-swap on an ETag."""
        current = self.model.get(key)
        if create_only:
            call = lambda: self.storage.put(key, data, if_none_match="*")  # noqa: E731
            allowed = current is None
        else:
            wanted = etag(b"not stored" if stale or current is None else current)
            call = lambda: self.storage.put(key, data, if_match=wanted)  # noqa: E731
            allowed = current is not None and not stale
        if not allowed:
            event("conditional put refused")
            with pytest.raises((StorageFileExistsError, StoragePreconditionFailedError)):
                self.portal.call(call)
        elif self.fits(key, len(data)):
            self.portal.call(call)
            self.model[key] = data
        else:
            with pytest.raises(StorageQuotaExceededError):
                self.portal.call(call)

    @rule(prefix=st.sampled_from(["a", "b", "a/", "b/", "a/b", "x"]))
    def delete_prefix(self, prefix: str) -> None:
        doomed = [k for k in self.model if k.startswith(prefix)]
        assert self.portal.call(self.storage.delete_prefix, prefix) == len(doomed)
        for key in doomed:
            del self.model[key]

    @rule(prefix=st.sampled_from(["", "a", "a/", "b/", "a/b/"]))
    def list_dir(self, prefix: str) -> None:
        listing = self.portal.call(self.storage.list_dir, prefix)
        below = sorted(k for k in self.model if k.startswith(prefix))
        files = [k for k in below if "/" not in k[len(prefix) :]]
        folders = sorted(
            {prefix + k[len(prefix) :].split("/")[0] + "/" for k in below if "/" in k[len(prefix) :]}
        )
        assert [f.key for f in listing.files] == files
        assert list(listing.prefixes) == folders

    @invariant()
    def matches_the_model(self) -> None:
        storage = self.storage

        async def observe() -> tuple[list[tuple[str, int, str | None]], dict[str, bytes], StorageUsage, int]:
            files = [(f.key, f.size, f.etag) async for f in storage.list()]
            contents = {key: await storage.get_bytes(key) for key, _, _ in files}
            return files, contents, storage.usage, storage._engine.reserved_bytes

        files, contents, usage, reserved = self.portal.call(observe)
        model = self.model
        assert files == [(k, len(model[k]), etag(model[k])) for k in sorted(model)]
        assert contents == model
        assert usage == StorageUsage(len(model), self.used, self.max_size)
        assert reserved == 0
        if self.max_size is not None:
            assert usage.used_bytes <= self.max_size
        expected_prefixes: dict[str, list[int]] = {}
        for key, value in model.items():
            counters = expected_prefixes.setdefault(top_prefix(key), [0, 0])
            counters[0] += 1
            counters[1] += len(value)
        assert sorted(storage.prefix_usage(), key=lambda p: p.prefix) == [
            PrefixUsage(p, c, b) for p, (c, b) in sorted(expected_prefixes.items())
        ]

    def teardown(self) -> None:
        self.portal.call(self.storage.close)
        self.close_all()


@contextmanager
def portal_for(backend: str) -> Iterator[BlockingPortal]:
    with start_blocking_portal(backend) as portal:
        yield portal


@pytest.mark.parametrize("face_under_test", FACES)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_storage_matches_a_dict_model(backend: str, face_under_test: str) -> None:
    with portal_for(backend) as backend_portal:

        class Machine(StorageMachine):
            portal = backend_portal
            face = face_under_test

        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=200,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )


# ------------------------------------------------------------------ key order

key_chars = st.sampled_from(["a", "b", "A", "/", ".", "-", "_", "0", "é", "\U0001f600", "\uffff", " ", "~"])


def is_valid(key: str) -> bool:
    try:
        validate_key(key)
    except InvalidKeyError:
        return False
    return True


valid_keys = st.one_of(
    st.text(key_chars, min_size=1, max_size=8),
    st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=6),
).filter(is_valid)


@pytest.mark.anyio
@settings(max_examples=60, deadline=None)
@given(
    stored=st.lists(valid_keys, max_size=40, unique=True),
    prefix=st.one_of(st.just(""), st.text(key_chars, max_size=3)),
    limit=st.one_of(st.none(), st.integers(0, 50)),
)
@pytest.mark.parametrize("face_under_test", FACES)
async def test_list_is_in_key_order(
    stored: list[str], prefix: str, limit: int | None, face_under_test: str
) -> None:
    make, close_all = make_factory(face_under_test)
    storage = make()
    for key in stored:
        await storage.put(key, key.encode("utf-8"))
    expected = sorted(k for k in stored if k.startswith(prefix))
    if limit is not None:
        expected = expected[:limit]
    assert [f.key async for f in storage.list(prefix, limit=limit)] == expected
    assert [f.key async for f in storage.list()] == sorted(stored)
    close_all()
