"""A table of bad inputs: each raises the right error, says what is wrong, and changes nothing.

Keys go through one validator for every entry point (docs/guides/design.md, invariant 6); wrong types
raise ``TypeError`` and bad configuration ``ConfigurationError`` (invariant 8).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from memstore import (
    MAX_KEY_LENGTH,
    ConfigurationError,
    InvalidKeyError,
    MemoryConfig,
    MemoryStorage,
    PrefixUsage,
    StorageError,
    StorageEvent,
    StorageUsage,
    StoredFile,
    validate_key,
)
from tests.faces import Make, memory_only

Call = Callable[[MemoryStorage], Any]
State = tuple[list[StoredFile], dict[str, bytes], StorageUsage, list[PrefixUsage], int]

LONG_KEY = "k" * (MAX_KEY_LENGTH + 1)
HUGE_KEY = "h" * 5000


async def drain(iterator: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in iterator]


async def agen(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def sync_gen() -> Iterator[bytes]:
    yield b"a"


def bad_key_cases(name: str, call: Callable[[MemoryStorage, Any], Any], what: str = "key") -> list[Any]:
    """A few bad keys pushed through one entry point."""
    return [
        pytest.param(
            lambda s: call(s, 123), TypeError, [f"{what} must be a str", "int"], id=f"{name}-key-int"
        ),
        pytest.param(
            lambda s: call(s, ""), InvalidKeyError, [f"{what} must not be empty"], id=f"{name}-key-empty"
        ),
        pytest.param(
            lambda s: call(s, "a\x00b"),
            InvalidKeyError,
            ["control character", repr("a\x00b")],
            id=f"{name}-key-nul",
        ),
        pytest.param(
            lambda s: call(s, "x/../existing"),
            InvalidKeyError,
            ["'.' or '..'", repr("x/../existing")],
            id=f"{name}-key-dotdot",
        ),
    ]


BAD_INPUTS: list[Any] = [
    # ---- keys, through put
    pytest.param(lambda s: s.put(123, b"x"), TypeError, ["key must be a str", "int"], id="key-int"),
    pytest.param(lambda s: s.put(None, b"x"), TypeError, ["key must be a str", "NoneType"], id="key-None"),
    pytest.param(
        lambda s: s.put(b"existing", b"x"), TypeError, ["key must be a str", "bytes"], id="key-bytes"
    ),
    pytest.param(lambda s: s.put(["a"], b"x"), TypeError, ["key must be a str", "list"], id="key-list"),
    pytest.param(lambda s: s.put("", b"x"), InvalidKeyError, ["must not be empty"], id="key-empty"),
    pytest.param(
        lambda s: s.put("a\x00b", b"x"), InvalidKeyError, ["control character", "\\x00"], id="key-NUL"
    ),
    pytest.param(
        lambda s: s.put("a\nb", b"x"), InvalidKeyError, ["control character", "\\n"], id="key-newline"
    ),
    pytest.param(
        lambda s: s.put("tab\tkey", b"x"), InvalidKeyError, ["control character", "\\t"], id="key-tab"
    ),
    pytest.param(lambda s: s.put("esc\x1b[0m", b"x"), InvalidKeyError, ["control character"], id="key-ESC"),
    pytest.param(
        lambda s: s.put("del\x7f", b"x"), InvalidKeyError, ["control character", "\\x7f"], id="key-DEL"
    ),
    pytest.param(
        lambda s: s.put("c1\x85", b"x"), InvalidKeyError, ["control character", "\\x85"], id="key-C1-NEL"
    ),
    pytest.param(
        lambda s: s.put("lone\ud800", b"x"),
        InvalidKeyError,
        ["lone surrogate", "\\ud800"],
        id="key-surrogate",
    ),
    pytest.param(lambda s: s.put("\udfff", b"x"), InvalidKeyError, ["surrogate"], id="key-low-surrogate"),
    pytest.param(lambda s: s.put(".", b"x"), InvalidKeyError, ["'.' or '..' path segments"], id="key-dot"),
    pytest.param(
        lambda s: s.put("..", b"x"), InvalidKeyError, ["'.' or '..' path segments"], id="key-dotdot"
    ),
    pytest.param(lambda s: s.put("a/./b", b"x"), InvalidKeyError, ["'.' or '..'"], id="key-dot-segment"),
    pytest.param(lambda s: s.put("a/../b", b"x"), InvalidKeyError, ["'.' or '..'"], id="key-dotdot-segment"),
    pytest.param(
        lambda s: s.put("../escape", b"x"), InvalidKeyError, ["'.' or '..'"], id="key-leading-dotdot"
    ),
    pytest.param(lambda s: s.put("./a", b"x"), InvalidKeyError, ["'.' or '..'"], id="key-leading-dot"),
    pytest.param(lambda s: s.put("a/..", b"x"), InvalidKeyError, ["'.' or '..'"], id="key-trailing-dotdot"),
    pytest.param(lambda s: s.put("a/.", b"x"), InvalidKeyError, ["'.' or '..'"], id="key-trailing-dot"),
    pytest.param(
        lambda s: s.put(LONG_KEY, b"x"),
        InvalidKeyError,
        [f"{MAX_KEY_LENGTH + 1} characters long", f"maximum is {MAX_KEY_LENGTH}"],
        id="key-too-long",
    ),
    # ---- data
    pytest.param(
        lambda s: s.put("existing", "text"), TypeError, ["data must be bytes", "not str"], id="data-str"
    ),
    pytest.param(
        lambda s: s.put("existing", 42), TypeError, ["data must be bytes", "not int"], id="data-int"
    ),
    pytest.param(
        lambda s: s.put("existing", None), TypeError, ["data must be bytes", "NoneType"], id="data-None"
    ),
    pytest.param(
        lambda s: s.put("existing", [b"a"]), TypeError, ["async iterable", "not list"], id="data-list"
    ),
    pytest.param(
        lambda s: s.put("existing", 1.5), TypeError, ["data must be bytes", "float"], id="data-float"
    ),
    pytest.param(
        lambda s: s.put("existing", iter([b"a"])),
        TypeError,
        ["async iterable", "list_iterator"],
        id="data-iterator",
    ),
    pytest.param(
        lambda s: s.put("existing", sync_gen()),
        TypeError,
        ["async iterable", "generator"],
        id="data-sync-generator",
    ),
    pytest.param(
        lambda s: s.put("existing", {b"a": b"b"}), TypeError, ["data must be bytes", "dict"], id="data-dict"
    ),
    # ---- metadata
    pytest.param(
        lambda s: s.put("existing", b"new", metadata=["a"]),
        TypeError,
        ["metadata must be a dict[str, str]", "list"],
        id="metadata-list",
    ),
    pytest.param(
        lambda s: s.put("existing", b"new", metadata="a=b"),
        TypeError,
        ["metadata must be a dict[str, str]", "str"],
        id="metadata-str",
    ),
    pytest.param(
        lambda s: s.put("existing", b"new", metadata={"a": 1}),
        TypeError,
        ["metadata must map str to str", "int"],
        id="metadata-int-value",
    ),
    pytest.param(
        lambda s: s.put("existing", b"new", metadata={"a": None}),
        TypeError,
        ["metadata must map str to str", "NoneType"],
        id="metadata-None-value",
    ),
    pytest.param(
        lambda s: s.put("existing", b"new", metadata={"ok": "fine", "a": b"b"}),
        TypeError,
        ["metadata must map str to str", "bytes"],
        id="metadata-bytes-value",
    ),
    pytest.param(
        lambda s: s.put("existing", b"new", metadata={1: "a"}),
        TypeError,
        ["metadata must map str to str", "int"],
        id="metadata-int-key",
    ),
    pytest.param(
        lambda s: s.put("existing", agen(b"new"), metadata={"a": 1}),
        TypeError,
        ["metadata must map str to str"],
        id="metadata-bad-with-stream",
    ),
    # ---- content_type
    pytest.param(
        lambda s: s.put("existing", b"new", content_type=5),
        TypeError,
        ["content_type must be a str or None", "int"],
        id="content-type-int",
    ),
    pytest.param(
        lambda s: s.put("existing", b"new", content_type=b"text/plain"),
        TypeError,
        ["content_type must be a str or None", "bytes"],
        id="content-type-bytes",
    ),
    # ---- list
    pytest.param(
        lambda s: drain(s.list(limit=-1)), ValueError, ["limit must be >= 0", "-1"], id="limit-negative"
    ),
    pytest.param(
        lambda s: drain(s.list(limit=1.5)), TypeError, ["limit must be an int", "float"], id="limit-float"
    ),
    pytest.param(
        lambda s: drain(s.list(limit=True)), TypeError, ["limit must be an int", "bool"], id="limit-bool"
    ),
    pytest.param(
        lambda s: drain(s.list(limit="3")), TypeError, ["limit must be an int", "str"], id="limit-str"
    ),
    pytest.param(
        lambda s: drain(s.list(None)), TypeError, ["prefix must be a str", "NoneType"], id="prefix-None"
    ),
    pytest.param(
        lambda s: drain(s.list(b"a")), TypeError, ["prefix must be a str", "bytes"], id="prefix-bytes"
    ),
    pytest.param(lambda s: drain(s.list(1)), TypeError, ["prefix must be a str", "int"], id="prefix-int"),
    # ---- url
    pytest.param(
        lambda s: s.url("existing", expires_in=60),
        TypeError,
        ["expires_in must be a timedelta or None", "int"],
        id="expires-in-int",
    ),
    pytest.param(
        lambda s: s.url("existing", expires_in="1h"),
        TypeError,
        ["expires_in must be a timedelta or None", "str"],
        id="expires-in-str",
    ),
    # ---- subscribe
    pytest.param(
        lambda s: s.subscribe("print"), TypeError, ["callback must be callable", "str"], id="subscribe"
    ),
    # ---- every other entry point validates keys the same way
    *bad_key_cases("get", lambda s, k: drain(s.get(k))),
    *bad_key_cases("get_bytes", lambda s, k: s.get_bytes(k)),
    *bad_key_cases("delete", lambda s, k: s.delete(k)),
    *bad_key_cases("exists", lambda s, k: s.exists(k)),
    *bad_key_cases("info", lambda s, k: s.info(k)),
    *bad_key_cases("url", lambda s, k: s.url(k)),
    *bad_key_cases("copy-source", lambda s, k: s.copy(k, "dst"), "source"),
    *bad_key_cases("copy-destination", lambda s, k: s.copy("existing", k), "destination"),
    *bad_key_cases("move-source", lambda s, k: s.move(k, "dst"), "source"),
    *bad_key_cases("move-destination", lambda s, k: s.move("existing", k), "destination"),
    pytest.param(
        lambda s: s.move("existing", LONG_KEY),
        InvalidKeyError,
        ["destination is 1025 characters long"],
        id="move-destination-too-long",
    ),
    pytest.param(
        lambda s: s.copy("existing", "a\ud800"),
        InvalidKeyError,
        ["destination contains"],
        id="copy-surrogate",
    ),
    pytest.param(
        lambda s: s.url("tab\t", expires_in=timedelta(1)),
        InvalidKeyError,
        ["control character"],
        id="url-tab",
    ),
]


async def populate(make: Make) -> tuple[MemoryStorage, list[StorageEvent]]:
    storage = make(MemoryConfig(max_size=10_000, chunk_size=4))
    await storage.put("existing", b"old contents", metadata={"v": "1"}, content_type="text/x-old")
    await storage.put("dir/a", b"a" * 100)
    await storage.put("dir/b", agen(b"b" * 10, b"c" * 10))
    events: list[StorageEvent] = []
    storage.subscribe(events.append)
    return storage, events


async def state_of(storage: MemoryStorage) -> State:
    files = [f async for f in storage.list()]
    contents = {f.key: await storage.get_bytes(f.key) for f in files}
    return files, contents, storage.usage, list(storage.prefix_usage()), storage._engine.reserved_bytes


async def invoke(call: Call, storage: MemoryStorage) -> None:
    result = call(storage)
    if inspect.isawaitable(result):
        await result


SYNC_FACE_TAKES = ("data-list", "data-iterator", "data-sync")  # inputs that only the sync face accepts


def test_the_table_is_big_enough() -> None:
    assert len(BAD_INPUTS) >= 30


@pytest.mark.anyio
@pytest.mark.parametrize(("call", "error", "expected"), BAD_INPUTS)
async def test_bad_input_raises_and_changes_nothing(
    call: Call,
    error: type[Exception],
    expected: list[str],
    make: Make,
    face: str,
    request: pytest.FixtureRequest,
) -> None:
    if face == "sync" and any(taken in request.node.callspec.id for taken in SYNC_FACE_TAKES):
        pytest.skip("the sync face stores sync iterables (tests/test_sync_facade.py)")
    storage, events = await populate(make)
    before = await state_of(storage)
    with pytest.raises(error) as info:
        await invoke(call, storage)
    message = str(info.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    if isinstance(info.value, InvalidKeyError):
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, StorageError)
        assert isinstance(info.value.key, str)
        assert info.value.reason in message
        assert len(message) < 300
    assert await state_of(storage) == before
    assert events == []
    # and the storage still works
    await storage.put("after", b"ok")
    assert await storage.get_bytes("after") == b"ok"


@pytest.mark.anyio
async def test_invalid_key_message_shows_a_truncated_repr(make: Make) -> None:
    storage, _ = await populate(make)
    with pytest.raises(InvalidKeyError) as info:
        await storage.put(HUGE_KEY, b"x")
    message = str(info.value)
    assert info.value.key == HUGE_KEY
    assert len(message) < 250
    assert "'hhhhhhhh" in message
    assert "5000" in message


@pytest.mark.anyio
async def test_bad_stream_is_not_consumed_when_other_arguments_are_bad(make: Make) -> None:
    storage, _ = await populate(make)
    consumed: list[bytes] = []

    async def stream() -> AsyncIterator[bytes]:
        consumed.append(b"started")
        yield b"x"

    for kwargs in ({"metadata": {"a": 1}}, {"content_type": 3}):
        with pytest.raises(TypeError):
            await storage.put("existing", stream(), **kwargs)
    with pytest.raises(InvalidKeyError):
        await storage.put("..", stream())
    assert consumed == []


@pytest.mark.parametrize(
    "key",
    ["", "\x00", "a\x1fb", "\x7f", "\x9f", "\ud800", "\udbff\udc00x", ".", "..", "a/.", "./", "x" * 1025],
)
def test_validate_key_rejects(key: str) -> None:
    with pytest.raises(InvalidKeyError):
        validate_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "x" * MAX_KEY_LENGTH,
        ".a",
        "a.",
        "...",
        "a/...",
        "a/.b/c",
        "a b",
        "é",
        "\U0001f600",
        "a//b",
        "/",
        "/leading",
        "trailing/",
    ],
)
def test_validate_key_accepts(key: str) -> None:
    assert validate_key(key) == key


# ------------------------------------------------------------------ configuration

BAD_CONFIGS: list[Any] = [
    pytest.param(
        {"max_size": -1}, ConfigurationError, ["max_size must be >= 0", "-1"], id="max-size-negative"
    ),
    pytest.param({"max_size": 1.5}, TypeError, ["max_size must be an int", "float"], id="max-size-float"),
    pytest.param(
        {"max_size": 100.0}, TypeError, ["max_size must be an int", "float"], id="max-size-float-integral"
    ),
    pytest.param({"max_size": "10"}, TypeError, ["max_size must be an int", "str"], id="max-size-str"),
    pytest.param({"max_size": True}, TypeError, ["max_size must be an int", "bool"], id="max-size-bool"),
    pytest.param({"chunk_size": 0}, ConfigurationError, ["chunk_size must be >= 1", "0"], id="chunk-size-0"),
    pytest.param(
        {"chunk_size": -4}, ConfigurationError, ["chunk_size must be >= 1"], id="chunk-size-negative"
    ),
    pytest.param(
        {"chunk_size": None}, TypeError, ["chunk_size must be an int", "NoneType"], id="chunk-size-None"
    ),
    pytest.param({"chunk_size": 1.0}, TypeError, ["chunk_size must be an int"], id="chunk-size-float"),
    pytest.param(
        {"offload_threshold": -1}, ConfigurationError, ["offload_threshold must be >= 0"], id="offload-neg"
    ),
    pytest.param(
        {"offload_threshold": "big"}, TypeError, ["offload_threshold must be an int"], id="offload-str"
    ),
]


@pytest.mark.parametrize(("kwargs", "error", "expected"), BAD_CONFIGS)
def test_bad_config(kwargs: dict[str, Any], error: type[Exception], expected: list[str]) -> None:
    with pytest.raises(error) as info:
        MemoryConfig(**kwargs)
    for fragment in expected:
        assert fragment in str(info.value)
    if error is ConfigurationError:
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, StorageError)


@memory_only("MemoryConfig is the memory backend's (tests/test_redis.py checks RedisConfig)")
@pytest.mark.parametrize("config", [{"max_size": 1}, 5, "max_size=1"])
def test_storage_needs_a_memory_config(config: object, make: Make) -> None:
    with pytest.raises(TypeError, match="config must be a MemoryConfig"):
        make(config)


def test_good_configs(make: Make) -> None:
    assert MemoryConfig().max_size is None
    assert MemoryConfig(max_size=0).max_size == 0
    assert MemoryConfig(chunk_size=1, offload_threshold=0).chunk_size == 1
    assert make(MemoryConfig(max_size=5)).usage.max_size == 5


@pytest.mark.parametrize(
    "key",
    ["a\u200bb", "\u202eevil.txt", "line\u2028break", "\ufeffbom", "join\u200dme", "iso\u2066late"],
)
def test_invisible_format_characters_are_refused(key: str) -> None:
    with pytest.raises(InvalidKeyError, match="invisible format character"):
        validate_key(key)
