# mypy: disable-error-code="override"
# (the minimal backends here implement only the reference library's API, on purpose)
"""The storage browser at the model level: drive a storage, read what the widget tree shows.

No front end is involved: ipywidgets without a kernel keeps the model state in Python,
which is exactly what a front end would be sent.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import gc
import html
import random
import struct
import threading
import time
import weakref
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import pytest

ipywidgets = pytest.importorskip("ipywidgets")

from memstore import BaseStorage, MemoryConfig, MemoryStorage, StoredFile, SyncMemoryStorage  # noqa: E402
from memstore.notebook import StorageBrowser  # noqa: E402
from memstore.notebook._query import PageSource, parse_filter  # noqa: E402
from memstore.notebook._render import FOLDER_MARK, PREVIEW_BYTES, hexdump, make_preview  # noqa: E402
from memstore.types import EMPTY_METADATA  # noqa: E402

HOSTILE = '<img src=x onerror="window.__xss=1">'
DEADLINE = 5.0  # seconds; the throttle refreshes within 0.25 s, this only bounds a failure


# ----------------------------------------------------------------- helpers
def put(storage: MemoryStorage, key: str, data: bytes, **kwargs: Any) -> StoredFile:
    """Put through the public async API (from whatever thread calls it)."""

    async def go() -> StoredFile:
        return await storage.put(key, data, **kwargs)

    return anyio.run(go)


def fill_engine(storage: MemoryStorage, keys: list[str], size: int = 10) -> None:
    """Fill cheaply through the engine's commit step (no event loop), a second apart from 2024."""
    engine = storage._engine
    data = b"x" * size
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for i, key in enumerate(keys):
        file = engine.commit_put(key, data, size, "text/plain", None, EMPTY_METADATA)
        engine.entry(key).file = dataclasses.replace(file, last_modified=start + timedelta(seconds=i))


def find(root: Any, css_class: str) -> Any:
    """The first widget below ``root`` (depth-first) with ``css_class``."""
    todo = [root]
    while todo:
        widget = todo.pop(0)
        if css_class in getattr(widget, "_dom_classes", ()):
            return widget
        todo.extend(getattr(widget, "children", ()))
    raise AssertionError(f"no widget with class {css_class!r}")


def html_of(root: Any, css_class: str) -> str:
    widget = find(root, css_class)
    if isinstance(widget, ipywidgets.HTML):
        return str(widget.value)
    return "".join(str(c.value) for c in widget.children if isinstance(c, ipywidgets.HTML))


def text_of(root: Any, css_class: str) -> str:
    """The visible text of the HTML under ``css_class`` (tags dropped, entities decoded)."""
    import re

    return html.unescape(re.sub(r"<[^>]*>", "", html_of(root, css_class)))


def all_html(root: Any) -> list[str]:
    out: list[str] = []
    todo = [root]
    while todo:
        widget = todo.pop()
        if isinstance(widget, ipywidgets.HTML):
            out.append(str(widget.value))
        todo.extend(getattr(widget, "children", ()))
    return out


def row_keys(browser: StorageBrowser) -> list[str]:
    return [value for _, value in find(browser, "memstore-rows").options]


def click(browser: StorageBrowser, css_class: str) -> None:
    find(browser, css_class).click()


def choose_row(browser: StorageBrowser, key: str) -> None:
    """Select a row the way the front end does: by setting the index."""
    rows = find(browser, "memstore-rows")
    rows.index = row_keys(browser).index(key)


def eventually(check: Callable[[], object], timeout: float = DEADLINE) -> None:
    """Poll ``check`` until it returns without raising, or re-raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def in_thread(fn: Callable[[], object]) -> None:
    """Run ``fn`` in another thread and wait for it."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert not errors, errors


def refresh_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "memstore-browser-refresh"]


def png_bytes() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + b"\x10\x20\x30" * 4 for _ in range(4))
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


@pytest.fixture
def storage() -> Iterator[MemoryStorage]:
    s = MemoryStorage(MemoryConfig(max_size=1000))
    yield s
    s._engine.close()


@pytest.fixture
def browsers() -> Iterator[list[StorageBrowser]]:
    """Browsers to close after the test."""
    made: list[StorageBrowser] = []
    yield made
    for b in made:
        b.close()


def browse(browsers: list[StorageBrowser], storage: object, **kwargs: Any) -> StorageBrowser:
    b = StorageBrowser(storage, **kwargs)  # type: ignore[arg-type]
    browsers.append(b)
    return b


# ------------------------------------------------------------ construction
def test_accepts_a_memory_storage_or_a_sync_facade(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    assert browse(browsers, storage).storage is storage
    facade = SyncMemoryStorage.wrap(storage)
    assert browse(browsers, facade).storage is facade
    assert isinstance(storage.browse(page_size=5), StorageBrowser)
    facade.close()


def test_sync_memory_storage_is_accepted(browsers: list[StorageBrowser]) -> None:
    with SyncMemoryStorage() as sync_storage:
        b = browse(browsers, sync_storage)
        assert b.storage is sync_storage
        sync_storage.put(HOSTILE, b"x", metadata={"m": HOSTILE})
        eventually(lambda: assert_equal(row_keys(b), [HOSTILE]))
        page = sync_storage._repr_html_()
        assert "<img" not in page
        assert html.escape(HOSTILE) in page
        browsers.append(sync_storage.browse(page_size=5))
        assert row_keys(browsers[-1]) == [HOSTILE]


def test_the_core_imports_without_ipywidgets() -> None:
    import subprocess
    import sys

    code = "import sys, memstore, memstore.memory; assert 'ipywidgets' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("bad", [None, "storage", object(), {"async_storage": 1}])
def test_rejects_other_objects(bad: object) -> None:
    with pytest.raises(TypeError, match="a MemoryStorage, a SyncMemoryStorage or another BaseStorage"):
        StorageBrowser(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"page_size": 0}, ValueError),
        ({"page_size": 1.5}, TypeError),
        ({"refresh_interval": 0.0}, ValueError),
        ({"refresh_interval": float("inf")}, ValueError),
        ({"refresh_interval": float("nan")}, ValueError),
        ({"refresh_interval": "1"}, TypeError),
        ({"sort": "name"}, ValueError),
        ({"pattern": 3}, TypeError),
    ],
)
def test_rejects_bad_arguments(
    storage: MemoryStorage, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        StorageBrowser(storage, **kwargs)


def test_closed_storage_is_refused_and_closing_later_shows_it(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    b = browse(browsers, storage)
    put(storage, "a.txt", b"a")
    storage._engine.close()
    b.refresh()
    assert "closed" in text_of(b, "memstore-totals")
    assert row_keys(b) == []
    with pytest.raises(Exception, match="closed"):
        StorageBrowser(storage)


# ------------------------------------------------------ totals, gauge, rows
def test_rows_totals_and_pagination(browsers: list[StorageBrowser]) -> None:
    storage = MemoryStorage()
    keys = [f"k{i:03d}.txt" for i in range(25)]
    fill_engine(storage, keys)
    b = browse(browsers, storage, page_size=10)
    assert "25 files" in text_of(b, "memstore-totals")
    assert "250 B" in text_of(b, "memstore-totals")
    assert row_keys(b) == keys[:10]
    assert "page 1 of 3" in text_of(b, "memstore-page")
    assert find(b, "memstore-prev").disabled
    click(b, "memstore-next")
    assert row_keys(b) == keys[10:20]
    assert "page 2 of 3" in text_of(b, "memstore-page")
    click(b, "memstore-next")
    assert row_keys(b) == keys[20:]
    assert find(b, "memstore-next").disabled
    click(b, "memstore-prev")
    assert b.page == 1
    label, _ = find(b, "memstore-rows").options[0]
    assert label.startswith("k010.txt")
    assert "10 B" in label
    assert "text/plain" in label
    assert "2024-01-01 00:00:10" in label
    # Without a quota the gauge says so and hides its bar.
    assert "unlimited" in text_of(b, "memstore-gauge")
    assert find(b, "memstore-gauge-bar").layout.display == "none"


@pytest.mark.parametrize(("used", "style"), [(500, ""), (850, "warning"), (970, "danger")])
def test_gauge_follows_writes_from_another_thread(
    storage: MemoryStorage, browsers: list[StorageBrowser], used: int, style: str
) -> None:
    b = browse(browsers, storage)
    bar = find(b, "memstore-gauge-bar")
    assert bar.value == 0.0
    in_thread(lambda: put(storage, "data/blob.bin", b"\0" * used))

    def check() -> None:
        assert bar.value == pytest.approx(used / 10)
        assert bar.bar_style == style
        assert f"{used / 10:.1f} %" in text_of(b, "memstore-gauge")
        assert "1 file " in text_of(b, "memstore-totals")

    eventually(check)
    assert bar.layout.display is None


def test_gauge_thresholds_move_both_ways(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    b = browse(browsers, storage)
    bar = find(b, "memstore-gauge-bar")
    for used, style in [
        (790, ""),
        (800, "warning"),
        (949, "warning"),
        (950, "danger"),
        (1000, "danger"),
        (10, ""),
    ]:
        in_thread(functools.partial(put, storage, "f", b"\0" * used))
        eventually(functools.partial(assert_equal_attr, bar, "bar_style", style))


def assert_equal(a: object, b: object) -> None:
    assert a == b, (a, b)


def assert_equal_attr(obj: object, name: str, expected: object) -> None:
    assert_equal(getattr(obj, name), expected)


def test_breakdown_shows_the_ten_largest_prefixes(browsers: list[StorageBrowser]) -> None:
    storage = MemoryStorage()
    b = browse(browsers, storage)

    def write() -> None:
        for i in range(12):
            put(storage, f"p{i:02d}/f", b"\0" * (100 * (i + 1)))
        put(storage, "top-level-file", b"\0" * 50)
        put(storage, f"{HOSTILE}/x", b"\0" * 5000)

    in_thread(write)

    def check() -> None:
        text = text_of(b, "memstore-breakdown")
        assert "p11/" in text
        assert text.index(f"{HOSTILE}/") < text.index("p11/") < text.index("p10/") < text.index("p03/")
        assert "p02/" not in text
        assert "(top level)" not in text
        assert "… and 4 more folders" in text
        assert "1.1 KiB" in text  # p10/ holds 1100 bytes

    eventually(check)
    assert HOSTILE not in html_of(b, "memstore-breakdown")
    assert html.escape(HOSTILE) in html_of(b, "memstore-breakdown")


# ------------------------------------------------------------ live updates
def test_live_refreshes_are_throttled_with_a_trailing_update(browsers: list[StorageBrowser]) -> None:
    storage = MemoryStorage()
    b = browse(browsers, storage, refresh_interval=0.1)
    b.open_folder("live/")  # not there yet: it fills live
    before = b.refresh_count
    started = time.monotonic()

    def writer() -> None:
        for i in range(3000):
            put(storage, f"live/{i:05d}", b"x")

    in_thread(writer)
    eventually(lambda: assert_equal(row_keys(b)[:2], ["live/00000", "live/00001"]))

    def settled() -> None:
        # One render sets the totals before the pager: wait for both parts of the last one.
        assert_in("3,000 files", text_of(b, "memstore-totals"))
        assert_in("page 1 of 60 · 3,000 files", text_of(b, "memstore-page"))

    eventually(settled)
    elapsed = time.monotonic() - started
    refreshes = b.refresh_count - before
    # 3000 events, but at most one refresh per interval (plus the leading and trailing ones).
    assert 1 <= refreshes <= elapsed / 0.1 + 3, (refreshes, elapsed)


def test_a_restore_re_renders_the_whole_view(browsers: list[StorageBrowser]) -> None:
    storage = SyncMemoryStorage()
    for i in range(3):
        storage.put(f"kept/{i}.txt", b"x" * 10)
    snapshot = storage.snapshot()
    storage.clear()
    storage.put("scratch.tmp", b"y")
    b = browse(browsers, storage, refresh_interval=0.05)
    eventually(lambda: assert_in("1 file", text_of(b, "memstore-totals")))
    before = b.refresh_count
    storage.restore(snapshot)  # one "restore" event for the whole new contents
    eventually(lambda: assert_in("3 files", text_of(b, "memstore-totals")))
    eventually(lambda: assert_equal(row_keys(b), ["kept/"]))
    assert b.refresh_count > before
    b.close()
    storage.close()


def assert_in(part: str, whole: str) -> None:
    assert part in whole, (part, whole)


def test_events_from_many_threads(browsers: list[StorageBrowser]) -> None:
    storage = MemoryStorage()
    b = browse(browsers, storage)

    def writer(n: int) -> Callable[[], None]:
        def go() -> None:
            for i in range(200):
                put(storage, f"t{n}/{i:03d}", b"ab")

        return go

    threads = [threading.Thread(target=writer(n)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    eventually(lambda: assert_in("800 files", text_of(b, "memstore-totals")))
    eventually(lambda: assert_in("1.6 KiB", text_of(b, "memstore-totals")))


# --------------------------------------------------- filter, glob and sorting
def test_filter_by_prefix_and_glob(browsers: list[StorageBrowser]) -> None:
    storage = MemoryStorage()
    keys = [f"data/{i:02d}.csv" for i in range(12)] + [f"data/{i:02d}.json" for i in range(3)]
    keys += ["logs/a.txt", "logs/b.csv", "readme.md"]
    fill_engine(storage, sorted(keys))
    b = browse(browsers, storage, page_size=5)
    box = find(b, "memstore-filter")
    box.value = "data/"
    assert "15 matching files" in text_of(b, "memstore-page")
    assert row_keys(b) == sorted(k for k in keys if k.startswith("data/"))[:5]
    box.value = "**/*.csv"  # `*` stays within one folder, `**` crosses folders
    assert "13 matching files" in text_of(b, "memstore-page")
    click(b, "memstore-next")
    click(b, "memstore-next")
    assert row_keys(b) == ["data/10.csv", "data/11.csv", "logs/b.csv"]
    box.value = "data/0?.json"
    assert row_keys(b) == ["data/00.json", "data/01.json", "data/02.json"]
    assert b.page == 0
    box.value = "  nothing-here  "
    assert row_keys(b) == []
    assert "page 1 of 1 · 0 matching files" in text_of(b, "memstore-page")
    box.value = ""  # back to the folder view of the root
    assert "2 folders · 1 file" in text_of(b, "memstore-page")
    assert row_keys(b) == ["data/", "logs/", "readme.md"]


def test_sort_by_size_and_modified(browsers: list[StorageBrowser]) -> None:
    storage = MemoryStorage()
    rng = random.Random(4)
    sizes = {f"f{i:02d}": rng.randrange(1, 500) for i in range(30)}
    for key, size in sizes.items():
        put(storage, key, b"\0" * size)
    put(storage, "f05", b"\0" * 3)  # rewritten last: the newest file
    sizes["f05"] = 3
    b = browse(browsers, storage, page_size=7, sort="modified")
    assert row_keys(b)[0] == "f05"
    assert row_keys(b)[1:] == [f"f{i:02d}" for i in range(29, 23, -1)]
    find(b, "memstore-sort").value = "size"
    expected = sorted(sizes, key=lambda k: (-sizes[k], k))
    assert row_keys(b) == expected[:7]
    click(b, "memstore-next")
    assert row_keys(b) == expected[7:14]
    find(b, "memstore-sort").value = "key"
    assert row_keys(b) == sorted(sizes)[:7]
    assert b.page == 0


def glob_reference(pattern: str, key: str) -> bool:
    """Glob semantics, brute force: segment by segment; ``**`` stands for any number of segments."""
    import fnmatch

    def match(parts: list[str], names: list[str]) -> bool:
        if not parts:
            return not names
        if parts[0] == "**":
            return any(match(parts[1:], names[i:]) for i in range(len(names) + 1))
        return bool(names) and fnmatch.fnmatchcase(names[0], parts[0]) and match(parts[1:], names[1:])

    return match(pattern.split("/"), key.split("/"))


@pytest.mark.parametrize(
    "pattern", ["", "a/", "a/1", "*", "*/*", "*.csv", "**/*.csv", "**", "b/*x*", "?/[0-4]*", "zzz"]
)
@pytest.mark.parametrize("sort", ["key", "size", "modified"])
def test_pages_match_a_brute_force_reference(pattern: str, sort: Any) -> None:
    storage = MemoryStorage()
    rng = random.Random(pattern + sort)
    for _i in range(300):
        key = f"{rng.choice('abc')}/{rng.randrange(1000)}{rng.choice(['.csv', '.x', ''])}"
        put(storage, key, b"\0" * rng.randrange(50))
    view = storage.as_sync()
    files = list(view.list())
    flt = parse_filter(pattern)
    if flt.is_glob:
        files = [f for f in files if glob_reference(pattern, f.key)]
    else:
        files = [f for f in files if f.key.startswith(pattern)]
    order = list(reversed(storage._engine._entries))  # modification order, newest first
    if sort == "size":
        files.sort(key=lambda f: -f.size)
    elif sort == "modified":
        files.sort(key=lambda f: order.index(f.key))
    source = PageSource()
    got: list[str] = []
    index = 0
    while True:
        page = source.page(view, flt, sort, index, 13, generation=0)
        assert page.total == len(files)
        got.extend(f.key for f in page.files)
        if index >= page.pages - 1:
            break
        index += 1
    if sort == "modified":  # timestamps may tie; the order of ties is not specified
        assert sorted(got) == sorted(f.key for f in files)
        stamps = [storage._engine.entry(k).file.last_modified for k in got]
        assert stamps == sorted(stamps, reverse=True)  # type: ignore[type-var]
    else:
        assert got == [f.key for f in files]


def test_glob_literal_prefix() -> None:
    assert parse_filter("logs/2024-*.txt").prefix == "logs/2024-"
    assert parse_filter("*.csv").prefix == ""
    assert not parse_filter("data/").is_glob
    assert parse_filter("a[bc]d").prefix == "a"
    assert parse_filter(" **/*.csv ").is_glob
    assert parse_filter(" **/*.csv ").text == "**/*.csv"


# ----------------------------------------------------------------- details
def test_details_of_the_selected_file(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    put(storage, "notes/a.txt", b"hello\nworld", metadata={"owner": "ann", "tag": "<b>x</b>"})
    put(storage, "bin/blob", bytes(range(40)), content_type="application/octet-stream")
    b = browse(browsers, storage)
    assert "Select a file" in text_of(b, "memstore-details")
    assert find(b, "memstore-delete").disabled
    b.open_folder("notes/")
    choose_row(b, "notes/a.txt")
    assert b.selected == "notes/a.txt"
    text = text_of(b, "memstore-details")
    file = storage._engine.entry("notes/a.txt").file
    for expected in [
        "notes/a.txt",
        "11 B (11 bytes)",
        "text/plain",
        str(file.etag),
        "owner",
        "ann",
        "<b>x</b>",
    ]:
        assert expected in text
    assert file.last_modified is not None
    # Details and the list show the time in one format (UTC, to the second).
    when = file.last_modified.strftime("%Y-%m-%d %H:%M:%S")
    assert f"{when} UTC" in text
    assert any(label.endswith(when) for label in row_labels(b))
    assert "<pre class='memstore-preview memstore-preview-text'>hello\nworld</pre>" in html_of(
        b, "memstore-details"
    )
    assert not find(b, "memstore-delete").disabled
    b.open_folder("bin/")
    choose_row(b, "bin/blob")
    assert "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|" in text_of(
        b, "memstore-details"
    )
    assert "no metadata" in text_of(b, "memstore-details")


def test_details_follow_live_changes_of_the_selected_file(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    put(storage, "a.txt", b"one")
    b = browse(browsers, storage)
    choose_row(b, "a.txt")
    in_thread(lambda: put(storage, "a.txt", b"two two"))
    eventually(lambda: assert_in("two two", text_of(b, "memstore-details")))
    in_thread(lambda: anyio.run(storage.delete, "a.txt"))
    eventually(lambda: assert_in("a.txt is no longer stored", text_of(b, "memstore-details")))
    assert find(b, "memstore-delete").disabled


def test_preview_kinds() -> None:
    def preview(data: bytes, ctype: str | None) -> Any:
        file = StoredFile("k", len(data), ctype, None, None)
        return make_preview(file, data)

    big = b"a" * 5000 + b"END"
    p = preview(big, "text/csv")
    assert p.kind == "text"
    assert "END" not in p.html
    assert "first 4,096 of 5,003 bytes" in p.html
    assert preview(b"", "text/plain").kind == "empty"
    assert preview(b'{"a": 1}', "application/json").kind == "text"
    assert preview(b"x", "application/vnd.api+json").kind == "text"
    assert preview("é".encode("latin-1"), "text/plain; charset=latin-1").html.count("é") == 1
    svg = b'<svg onload="window.__xss=1"><script>alert(1)</script></svg>'
    p = preview(svg, "image/svg+xml")
    assert p.kind == "text"
    assert "<svg" not in p.html
    assert "&lt;svg onload=" in p.html
    p = preview(b"<h1>hi</h1><img src=x onerror=alert(1)>", "text/html")
    assert p.kind == "text"
    assert "<img" not in p.html
    png = png_bytes()
    p = preview(png, "image/png")
    assert p.kind == "image"
    assert p.image == png
    assert p.image_format == "png"
    assert preview(b"GIF89a" + b"\0" * 20, "image/gif").image_format == "gif"
    assert preview(b"\xff\xd8\xff\xe0" + b"\0" * 20, "image/jpeg").image_format == "jpeg"
    p = preview(b"not a png at all", "image/png")
    assert p.kind == "text"  # clean UTF-8 shows as text whatever the type claims
    assert "not a valid PNG" in p.html
    p = preview(b"\xff\xfe\x00binary", "image/png")
    assert p.kind == "hex"
    assert "not a valid PNG" in p.html
    # A log stored without a text type is sniffed: UTF-8 that decodes cleanly is text.
    log = "2026-11-30 12:00:01 INFO démarré\n2026-11-30 12:00:02 WARN slow\n".encode()
    p = preview(log, "application/octet-stream")
    assert p.kind == "text"
    assert "WARN slow" in p.html
    assert "démarré" in p.html
    assert preview(log, None).kind == "text"
    assert preview(b"\x01\x02abc", "application/octet-stream").kind == "hex"  # control bytes
    assert preview(b"caf\xe9", "application/octet-stream").kind == "hex"  # not UTF-8
    # A multi-byte character cut by the 4 KiB preview window is still text.
    assert preview("é".encode() * 3000, "application/octet-stream").kind == "text"
    assert preview(b"\0\1\2", "text/plain").kind == "hex"  # NUL bytes: not text
    assert preview(b"\0\1\2", None).kind == "hex"
    # Chunked contents: only the first 4 KiB are joined.
    chunks = (b"a" * 3000, b"b" * 3000, b"c" * 3000)
    p = make_preview(StoredFile("k", 9000, "text/plain", None, None), chunks)
    shown = p.html.split("</pre>")[0].rsplit(">", 1)[1]
    assert shown == "a" * 3000 + "b" * (PREVIEW_BYTES - 3000)


def test_hexdump_format() -> None:
    assert hexdump(b"AB\x00") == "00000000  41 42 00" + " " * 42 + "|AB.|"
    assert len(hexdump(bytes(range(256))).splitlines()) == 16


def test_image_preview_in_the_widget(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    put(storage, "img/p.png", png_bytes())
    b = browse(browsers, storage)
    b.open_folder("img/")
    choose_row(b, "img/p.png")
    image = find(b, "memstore-image")
    assert image.value == png_bytes()
    assert image.format == "png"
    assert image.layout.display is None
    put(storage, "a.txt", b"x")
    b.open_folder("")
    choose_row(b, "a.txt")
    assert_equal_attr(image.layout, "display", "none")


# ------------------------------------------------------------------ delete
def test_delete_needs_a_confirmation(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    for key in ["a", "b", "c"]:
        put(storage, key, b"123")
    b = browse(browsers, storage)
    confirm_box = find(b, "memstore-confirm-box")
    assert_equal_attr(confirm_box.layout, "display", "none")
    choose_row(b, "b")
    click(b, "memstore-delete")
    assert confirm_box.layout.display is None
    assert "Delete b?" in text_of(b, "memstore-confirm-box")
    assert storage._engine.contains("b")  # nothing happens before the confirmation
    click(b, "memstore-cancel")
    assert_equal_attr(confirm_box.layout, "display", "none")
    assert storage._engine.contains("b")
    click(b, "memstore-delete")
    click(b, "memstore-confirm")
    assert not storage._engine.contains("b")
    assert_equal_attr(confirm_box.layout, "display", "none")
    assert "Deleted b." in text_of(b, "memstore-status")
    assert row_keys(b) == ["a", "c"]
    assert "2 files" in text_of(b, "memstore-totals")
    assert b.selected is None
    assert find(b, "memstore-delete").disabled


def test_confirmation_is_dropped_when_the_selection_changes(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    for key in ["a", "b"]:
        put(storage, key, b"1")
    b = browse(browsers, storage)
    choose_row(b, "a")
    click(b, "memstore-delete")
    choose_row(b, "b")
    b.refresh()
    assert find(b, "memstore-confirm-box").layout.display == "none"
    click(b, "memstore-confirm")  # a stale click deletes nothing
    assert storage._engine.contains("a")
    assert storage._engine.contains("b")


def test_delete_of_a_file_deleted_meanwhile(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    put(storage, "a", b"1")
    b = browse(browsers, storage, refresh_interval=30.0)
    choose_row(b, "a")
    click(b, "memstore-delete")
    b._last_refresh = time.monotonic()  # the live refresh will come too late
    storage._engine.delete("a")
    click(b, "memstore-confirm")
    assert "already deleted" in text_of(b, "memstore-status")


def test_a_live_deletion_withdraws_the_confirmation(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    put(storage, "a", b"1")
    b = browse(browsers, storage)
    choose_row(b, "a")
    click(b, "memstore-delete")
    in_thread(lambda: anyio.run(storage.delete, "a"))
    eventually(lambda: assert_equal(find(b, "memstore-confirm-box").layout.display, "none"))
    assert find(b, "memstore-delete").disabled


# ---------------------------------------------------------------- escaping
def test_hostile_strings_are_escaped_everywhere(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    hostile_type = 'text/html"><img src=x onerror="window.__xss=2">'
    put(
        storage,
        HOSTILE,
        b"<script>window.__xss=3</script>",
        content_type=hostile_type,
        metadata={HOSTILE: HOSTILE},
    )
    put(storage, f"{HOSTILE}/inner", b"x")
    b = browse(browsers, storage)
    choose_row(b, HOSTILE)
    click(b, "memstore-delete")
    fragments = all_html(b)
    assert fragments
    for fragment in fragments:
        assert "<img" not in fragment, fragment
        assert "<script" not in fragment, fragment
    joined = "".join(fragments)
    assert html.escape(HOSTILE) in joined
    assert html.escape(hostile_type) in joined
    # The rows are plain text (an <option>'s textContent), shown as typed: the folder first.
    assert row_keys(b) == [f"{HOSTILE}/", HOSTILE]
    assert find(b, "memstore-rows").options[0][0].startswith(f"{FOLDER_MARK}{HOSTILE}/")
    assert find(b, "memstore-rows").options[1][0].startswith(HOSTILE)


def test_repr_html_escapes(storage: MemoryStorage) -> None:
    put(storage, HOSTILE, b"x", content_type="<b>type</b>", metadata={"<k>": "<v onload=1>"})
    page = storage._repr_html_()
    card = storage._engine.entry(HOSTILE).file._repr_html_()
    for fragment in (page, card):
        assert "<img" not in fragment
        assert html.escape(HOSTILE) in fragment
    assert "<b>type</b>" not in page
    assert "&lt;b&gt;type&lt;/b&gt;" in card
    assert "&lt;v onload=1&gt;" in card
    assert "<v " not in card


# --------------------------------------------------------- lifetime, threads
def test_close_unsubscribes_and_stops_the_timer(storage: MemoryStorage) -> None:
    b = StorageBrowser(storage, refresh_interval=5.0)
    b.refresh()  # a refresh just happened, so the next event waits ~5 s in a timer
    b._last_refresh = time.monotonic()
    put(storage, "a", b"1")
    assert refresh_threads()
    assert storage._engine._subscribers
    b.close()
    b.close()  # idempotent
    assert b.closed
    assert repr(b) == "StorageBrowser(closed)"
    assert not storage._engine._subscribers
    eventually(lambda: assert_equal(refresh_threads(), []))
    ref = weakref.ref(b)
    del b
    gc.collect()
    assert ref() is None
    put(storage, "b", b"2")  # nobody listens any more
    assert refresh_threads() == []


def test_the_storage_holds_the_browser_only_weakly(storage: MemoryStorage) -> None:
    b = StorageBrowser(storage)
    # Drop the kernel-side widget registry's references without calling our close():
    # what remains is only what the storage and its threads hold.
    for widget in [*b._all_widgets(), b]:
        ipywidgets.Widget.close(widget)
    ref = weakref.ref(b)
    del b, widget
    gc.collect()
    assert ref() is None
    assert not storage._engine._subscribers  # the finalizer unsubscribed
    put(storage, "a", b"1")
    assert refresh_threads() == []


def test_refresh_threads_do_not_linger(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    b = browse(browsers, storage, refresh_interval=0.05)
    for i in range(50):
        put(storage, f"k{i}", b"1")
    eventually(lambda: assert_in("50 files", text_of(b, "memstore-totals")))
    eventually(lambda: assert_equal(refresh_threads(), []))


# -------------------------------------------------------------- big stores
@pytest.mark.slow
def test_a_large_store_renders_only_the_visible_page(browsers: list[StorageBrowser]) -> None:
    n = 200_000
    storage = MemoryStorage()
    fill_engine(storage, [f"f{i % 50:02d}/k{i:07d}" for i in range(n)], size=3)
    b = browse(browsers, storage, page_size=50, pattern="f")  # a flat list: every key starts with f
    assert f"{n:,} files" in text_of(b, "memstore-totals")
    assert "page 1 of 4,000" in text_of(b, "memstore-page")
    assert len(row_keys(b)) == 50
    assert "… and 40 more folders" in text_of(b, "memstore-breakdown")
    click(b, "memstore-next")
    assert row_keys(b)[0] == "f00/k0002500"  # the 51st key: f00/ holds every 50th
    find(b, "memstore-sort").value = "modified"
    assert row_keys(b)[0] == f"f{(n - 1) % 50:02d}/k{n - 1:07d}"
    find(b, "memstore-filter").value = "f07/"
    assert f"{n // 50:,} matching files" in text_of(b, "memstore-page")
    find(b, "memstore-sort").value = "key"
    in_thread(lambda: put(storage, "f07/0-new", b"new"))
    eventually(lambda: assert_equal(row_keys(b)[0], "f07/0-new"))


def test_closing_the_storage_shows_at_once(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    put(storage, "a.txt", b"x")
    b = browse(browsers, storage)
    in_thread(storage._engine.close)  # the "close" event reaches the browser from that thread

    def shows_closed() -> None:
        assert "closed" in html_of(b, "memstore-header")

    eventually(shows_closed)


def test_a_browser_does_not_keep_its_storage_alive(browsers: list[StorageBrowser]) -> None:
    from memstore import SyncMemoryStorage

    facade = SyncMemoryStorage()
    facade.put("big.bin", bytes(1024 * 1024))
    b = browse(browsers, facade)  # still registered with ipywidgets, as a displayed widget is
    core = weakref.ref(facade.async_storage)
    del facade
    gc.collect()
    assert core() is None, "the browser kept the storage (and its bytes) alive"
    b.refresh()
    assert "closed" in html_of(b, "memstore-header")
    assert "<gone>" in repr(b)


@pytest.mark.parametrize("charset", ["rot13", "hex", "zlib", "base64", "no-such-codec", "latin-1"])
def test_a_files_charset_never_runs_a_non_text_codec(
    storage: MemoryStorage, browsers: list[StorageBrowser], charset: str
) -> None:
    put(storage, "a.txt", b"first file")
    put(
        storage,
        "b.txt",
        "caf\u00e9".encode("latin-1" if charset == "latin-1" else "utf-8"),
        content_type=f"text/plain; charset={charset}",
    )
    b = browse(browsers, storage)
    b.select("a.txt")
    b.select("b.txt")  # used to raise for rot13/hex/zlib/base64 and leave a.txt on show
    details = html_of(b, "memstore-details")
    assert "b.txt" in details
    assert "caf\u00e9" in html.unescape(details)


# ------------------------------------------------------- any backend, review fixes
class MinimalBackend(BaseStorage):
    """A backend with only the seven core methods: everything else is the contract's default."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, StoredFile]] = {}

    async def put(
        self, key: str, data: Any, *, content_type: str | None = None, metadata: Any = None
    ) -> StoredFile:
        file = StoredFile(key, len(data), content_type or "text/plain", None, None, metadata or {})
        self.files[key] = (bytes(data), file)
        return file

    async def get(self, key: str) -> AsyncIterator[bytes]:
        yield self.files[key][0]

    async def delete(self, key: str) -> None:
        del self.files[key]

    async def exists(self, key: str) -> bool:
        return key in self.files

    async def list(self, prefix: str = "", *, limit: int | None = None) -> AsyncIterator[StoredFile]:
        for key in sorted(self.files)[:limit]:
            if key.startswith(prefix):
                yield self.files[key][1]

    async def url(self, key: str, *, expires_in: Any = None) -> str:
        return f"minimal://{key}"

    async def info(self, key: str) -> StoredFile:
        return self.files[key][1]


def test_the_browser_works_on_any_backend_of_the_contract(browsers: list[StorageBrowser]) -> None:
    backend = MinimalBackend()
    for i in range(12):
        anyio.run(backend.put, f"d{i % 3}/f{i:02d}.txt", b"x" * i)
    b = browse(browsers, backend, page_size=5)
    assert row_keys(b) == ["d0/", "d1/", "d2/"]
    b.open_folder("d0/")
    assert row_keys(b) == ["d0/f00.txt", "d0/f03.txt", "d0/f06.txt", "d0/f09.txt"]
    assert "12 files" in text_of(b, "memstore-totals")
    assert "d2/" in text_of(b, "memstore-breakdown")
    choose_row(b, "d0/f09.txt")
    assert "xxxxxxxxx" in text_of(b, "memstore-details")
    click(b, "memstore-delete")
    click(b, "memstore-confirm")
    assert "d0/f09.txt" not in backend.files  # through the contract's delete
    b.refresh()  # no events on this backend: the browser shows changes on refresh
    assert "11 files" in text_of(b, "memstore-totals")
    assert "MinimalBackend(files=11" in repr(backend)
    assert "d0/f00.txt" in backend._repr_html_()


def test_a_scan_is_dropped_when_the_storage_changes(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    for i in range(30):
        put(storage, f"f{i:02d}.csv", b"x" * i)
    b = browse(browsers, storage, pattern="*.csv", sort="size")
    assert len(b._source._candidates) == 30  # the glob's scan, cached while nothing changes
    with b._render_lock:  # (no live refresh can run meanwhile)
        put(storage, "f00.csv", b"changed")
        assert b._source._candidates == []  # dropped at once: no outdated file is kept alive
    b.refresh()
    assert len(b._source._candidates) == 30


def test_a_failed_construction_leaves_no_widget_and_no_subscriber() -> None:
    from ipywidgets.widgets import widget as widget_module

    class Broken(SyncMemoryStorage):
        def get_usage(self) -> Any:
            raise RuntimeError("the backend is down")

    storage = Broken()
    before = set(widget_module._instances)
    with pytest.raises(RuntimeError, match="the backend is down"):
        StorageBrowser(storage)
    gc.collect()
    assert set(widget_module._instances) == before  # every widget it made was closed
    assert not storage._engine._subscribers  # and it did not stay subscribed
    storage.close()


# ------------------------------------------------------- folder navigation
def crumbs(browser: StorageBrowser) -> list[str]:
    """The breadcrumb as shown: the buttons' texts."""
    return [
        c.description
        for c in find(browser, "memstore-breadcrumb").children
        if isinstance(c, ipywidgets.Button)
    ]


def click_crumb(browser: StorageBrowser, name: str) -> None:
    for c in find(browser, "memstore-breadcrumb").children:
        if isinstance(c, ipywidgets.Button) and c.description == name:
            c.click()
            return
    raise AssertionError(f"no crumb {name!r} in {crumbs(browser)}")


def row_labels(browser: StorageBrowser) -> list[str]:
    return [label for label, _ in find(browser, "memstore-rows").options]


def test_the_breadcrumb_shows_the_path_and_navigates_up(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    for key in ["a/b/c/file.txt", "a/x.txt", "top.txt"]:
        put(storage, key, b"1")
    b = browse(browsers, storage)
    assert b.folder == ""
    assert crumbs(b) == ["root"]
    assert find(b, "memstore-up").disabled
    assert row_keys(b) == ["a/", "top.txt"]
    b.open_folder("a/b/c/")
    assert b.folder == "a/b/c/"
    assert crumbs(b) == ["root", "a", "b", "c"]
    assert "root / a / b / c" in " ".join(
        c.description if isinstance(c, ipywidgets.Button) else text_of(c, "memstore-crumb-sep")
        for c in find(b, "memstore-breadcrumb").children
    )
    current = [
        c for c in find(b, "memstore-breadcrumb").children if "memstore-crumb-current" in c._dom_classes
    ]
    assert [c.description for c in current] == ["c"]
    assert row_keys(b) == ["a/b/c/file.txt"]
    assert row_labels(b)[0].startswith("file.txt ")  # names relative to the folder
    assert not find(b, "memstore-up").disabled
    click_crumb(b, "a")
    assert b.folder == "a/"
    assert crumbs(b) == ["root", "a"]
    assert row_keys(b) == ["a/b/", "a/x.txt"]
    b.open_folder("a/b/")
    click(b, "memstore-up")
    assert b.folder == "a/"
    click(b, "memstore-up")
    assert b.folder == ""
    assert find(b, "memstore-up").disabled
    b.open_folder("a/b/c/")
    click_crumb(b, "root")
    assert (b.folder, crumbs(b), row_keys(b)) == ("", ["root"], ["a/", "top.txt"])
    assert "folder=''" in repr(b)


def test_folder_rows_come_first_with_their_counts_and_sizes(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    put(storage, "z.txt", b"\0" * 5)
    put(storage, "data/a.csv", b"\0" * 100)
    put(storage, "data/sub/b.csv", b"\0" * 200)
    put(storage, "data/sub/c.csv", b"\0" * 300)
    put(storage, "logs/x.log", b"\0" * 300)
    put(storage, "a.txt", b"\0" * 7)
    b = browse(browsers, storage)
    assert row_keys(b) == ["data/", "logs/", "a.txt", "z.txt"]
    data, logs, a_txt, _ = row_labels(b)
    assert data.startswith(f"{FOLDER_MARK}data/ ")
    assert "600 B" in data
    assert "3 files" in data
    assert logs.startswith(f"{FOLDER_MARK}logs/ ")
    assert "300 B" in logs
    assert "1 file" in logs
    assert a_txt.startswith("a.txt ")
    assert "7 B" in a_txt
    # The size columns line up.
    assert data.index("600 B") + len("600 B") == a_txt.index("7 B") + len("7 B")
    assert "page 1 of 1 · 2 folders · 2 files" in text_of(b, "memstore-page")
    assert "6 files · 912 B in this folder" in text_of(b, "memstore-nav")
    assert text_of(b, "memstore-list").lstrip().startswith("name")  # the column header
    b.open_folder("data/")
    assert row_keys(b) == ["data/sub/", "data/a.csv"]
    assert row_labels(b)[0].startswith(f"{FOLDER_MARK}sub/ ")
    assert "500 B" in row_labels(b)[0]
    assert "2 files" in row_labels(b)[0]
    assert "3 files · 600 B in this folder" in text_of(b, "memstore-nav")
    assert "page 1 of 1 · 1 folder · 1 file" in text_of(b, "memstore-page")


def test_choosing_a_folder_row_enters_it(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    put(storage, "data/a.csv", b"x,y")
    put(storage, "data/sub/b.csv", b"1,2")
    put(storage, "top.txt", b"top")
    b = browse(browsers, storage)
    choose_row(b, "top.txt")
    assert b.selected == "top.txt"
    choose_row(b, "data/")  # a click on a folder row opens the folder
    assert b.folder == "data/"
    assert crumbs(b) == ["root", "data"]
    assert row_keys(b) == ["data/sub/", "data/a.csv"]
    assert find(b, "memstore-rows").index is None  # no row is selected in the new folder
    assert_equal(b.selected, None)  # the file chosen before left the view: details clear
    assert "Select a file" in text_of(b, "memstore-details")
    choose_row(b, "data/sub/")
    assert b.folder == "data/sub/"
    assert row_keys(b) == ["data/sub/b.csv"]
    choose_row(b, "data/sub/b.csv")  # a file row shows its details, as before
    assert b.selected == "data/sub/b.csv"
    assert b.folder == "data/sub/"
    assert "1,2" in text_of(b, "memstore-details")
    assert find(b, "memstore-rows").index == 0
    click(b, "memstore-up")
    click(b, "memstore-up")
    choose_row(b, "data/")
    assert b.folder == "data/"


def test_files_directly_in_the_folder_sorted_within_it(browsers: list[StorageBrowser]) -> None:
    storage = MemoryStorage()
    keys = [f"d/f{i}.bin" for i in range(6)] + ["d/zz/deep.bin", "d/aa/deep.bin", "other/x.bin", "d.bin"]
    fill_engine(storage, keys)  # one second apart, in this order
    sizes = {"d/f0.bin": 30, "d/f1.bin": 10, "d/f2.bin": 50, "d/f3.bin": 20, "d/f4.bin": 40, "d/f5.bin": 50}
    for key, size in sizes.items():
        entry = storage._engine.entry(key)
        entry.file = dataclasses.replace(entry.file, size=size)  # only what the rows show
    b = browse(browsers, storage, page_size=20)
    b.open_folder("d/")
    direct = [f"d/f{i}.bin" for i in range(6)]
    assert row_keys(b) == ["d/aa/", "d/zz/", *direct]  # files further down are not listed
    find(b, "memstore-sort").value = "size"
    assert row_keys(b) == [
        "d/aa/",
        "d/zz/",
        "d/f2.bin",
        "d/f5.bin",
        "d/f4.bin",
        "d/f0.bin",
        "d/f3.bin",
        "d/f1.bin",
    ]
    find(b, "memstore-sort").value = "modified"
    assert row_keys(b) == ["d/aa/", "d/zz/", *reversed(direct)]
    find(b, "memstore-sort").value = "key"
    assert row_keys(b) == ["d/aa/", "d/zz/", *direct]


def test_pages_run_across_folders_and_files(browsers: list[StorageBrowser]) -> None:
    storage = MemoryStorage()
    folders = [f"p/dir{i}/" for i in range(7)]
    files = [f"p/file{i}.txt" for i in range(8)]
    fill_engine(storage, sorted([f + "x" for f in folders] + files))
    b = browse(browsers, storage, page_size=5)
    b.open_folder("p/")
    assert row_keys(b) == folders[:5]
    assert "page 1 of 3 · 7 folders · 8 files" in text_of(b, "memstore-page")
    click(b, "memstore-next")
    assert row_keys(b) == folders[5:] + files[:3]
    find(b, "memstore-sort").value = "modified"  # folders stay first, by name
    click(b, "memstore-next")
    assert row_keys(b) == folders[5:] + files[::-1][:3]
    click(b, "memstore-next")
    assert row_keys(b) == files[::-1][3:]
    assert find(b, "memstore-next").disabled
    click(b, "memstore-prev")
    assert b.page == 1
    b.open_folder("p/")  # opening a folder starts at its first page
    assert b.page == 0
    assert row_keys(b) == folders[:5]


class CountingStorage(SyncMemoryStorage):
    """Records the calls the browser makes to ``glob`` and ``list``."""

    def __init__(self) -> None:
        super().__init__()
        self.globs: list[str] = []
        self.lists: list[str] = []

    def glob(self, pattern: str, *, limit: int | None = None) -> Iterator[StoredFile]:
        self.globs.append(pattern)
        return super().glob(pattern, limit=limit)

    def list(self, prefix: str = "", *, limit: int | None = None) -> Iterator[StoredFile]:
        self.lists.append(prefix)
        return super().list(prefix, limit=limit)


def test_the_glob_filter_has_glob_semantics(browsers: list[StorageBrowser]) -> None:
    with CountingStorage() as storage:
        for key in ["a.csv", "b.txt", "data/c.csv", "data/deep/d.csv", "data/e.txt"]:
            storage.put(key, b"1")
        b = browse(browsers, storage, page_size=2)
        box = find(b, "memstore-filter")
        assert "**/*.csv" in box.placeholder
        assert "**" in box.tooltip
        box.value = "*.csv"  # `*` stays within one folder: the top level only
        assert row_keys(b) == ["a.csv"]
        assert "1 matching file" in text_of(b, "memstore-page")
        assert "filtered" in text_of(b, "memstore-nav")
        assert text_of(b, "memstore-list").lstrip().startswith("key")
        box.value = "**/*.csv"  # `**` crosses folders
        assert "3 matching files" in text_of(b, "memstore-page")
        assert row_keys(b) == ["a.csv", "data/c.csv"]
        assert row_labels(b)[1].startswith("data/c.csv ")  # full keys in a flat list
        click(b, "memstore-next")
        assert row_keys(b) == ["data/deep/d.csv"]
        box.value = "data/*.csv"
        assert row_keys(b) == ["data/c.csv"]
        box.value = "data/**"
        assert "3 matching files" in text_of(b, "memstore-page")
        box.value = "d?ta/[c]*"
        assert row_keys(b) == ["data/c.csv"]
        assert storage.globs == ["*.csv", "**/*.csv", "data/*.csv", "data/**", "d?ta/[c]*"]
        # Paging through an unchanged result reads it once; a change reads it again.
        box.value = "**"
        click(b, "memstore-next")
        click(b, "memstore-next")
        assert storage.globs.count("**") == 1
        storage.put("f.csv", b"1")
        eventually(lambda: assert_equal(storage.globs.count("**"), 2))
        eventually(lambda: assert_in("6 matching files", text_of(b, "memstore-page")))
        # A plain prefix keeps its flat listing of every key under it.
        box.value = "data/"
        assert row_keys(b) == ["data/c.csv", "data/deep/d.csv"]
        assert "3 matching files" in text_of(b, "memstore-page")


def test_the_folder_view_reads_one_level_only(browsers: list[StorageBrowser]) -> None:
    with CountingStorage() as storage:
        for i in range(30):
            storage.put(f"big/{i:02d}/x.bin", b"1")
        storage.put("big/top.bin", b"22")
        b = browse(browsers, storage, page_size=10)
        b.open_folder("big/")
        find(b, "memstore-sort").value = "size"
        click(b, "memstore-next")
        assert "page 2 of 4 · 30 folders · 1 file" in text_of(b, "memstore-page")
        assert storage.lists == []  # list_dir and get_prefix_usage: never a listing of every key
        assert storage.globs == []


def test_a_filter_and_the_folder(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    for key in ["a/1.csv", "a/b/2.csv", "c.csv"]:
        put(storage, key, b"1")
    b = browse(browsers, storage, pattern="**/*.csv")
    assert row_keys(b) == ["a/1.csv", "a/b/2.csv", "c.csv"]
    choose_row(b, "a/b/2.csv")  # a file row of a flat list is a file, whatever its folder
    assert b.selected == "a/b/2.csv"
    assert b.folder == ""
    box = find(b, "memstore-filter")
    box.value = ""
    b.open_folder("a/")
    box.value = "a/"  # a prefix filter is a flat list of every key under it
    assert row_keys(b) == ["a/1.csv", "a/b/2.csv"]
    assert crumbs(b) == ["root", "a"]  # the folder to come back to
    box.value = ""
    assert row_keys(b) == ["a/b/", "a/1.csv"]
    box.value = "*"
    b.open_folder("a/b/")  # opening a folder clears the filter
    assert box.value == ""
    assert row_keys(b) == ["a/b/2.csv"]
    box.value = "*"
    click_crumb(b, "b")  # so does a click on the breadcrumb
    assert box.value == ""
    assert row_keys(b) == ["a/b/2.csv"]


def test_open_folder_checks_its_argument(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    put(storage, "a/x", b"1")
    b = browse(browsers, storage)
    with pytest.raises(TypeError):
        b.open_folder(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        b.open_folder(b"a/")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ends with '/'"):
        b.open_folder("a")
    assert b.folder == ""
    b.open_folder("nowhere/")  # a folder without files shows no rows
    assert b.folder == "nowhere/"
    assert row_keys(b) == []
    assert "page 1 of 1 · 0 files" in text_of(b, "memstore-page")
    assert "0 files" in text_of(b, "memstore-nav")
    b.open_folder("")
    assert row_keys(b) == ["a/"]


def test_the_folder_view_follows_live_changes(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    put(storage, "data/a.txt", b"1")
    b = browse(browsers, storage)
    b.open_folder("data/")
    in_thread(lambda: put(storage, "data/new/x.txt", b"123"))
    eventually(lambda: assert_equal(row_keys(b), ["data/new/", "data/a.txt"]))
    in_thread(lambda: put(storage, "data/new/y.txt", b"4567"))
    eventually(lambda: assert_in("2 files", row_labels(b)[0]))
    assert "7 B" in row_labels(b)[0]
    in_thread(lambda: anyio.run(storage.delete_prefix, "data/"))
    eventually(lambda: assert_equal(row_keys(b), []))
    assert b.folder == "data/"  # an emptied folder stays open, showing no rows


def test_hostile_folder_names_are_escaped_everywhere(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    put(storage, f"{HOSTILE}/a.txt", b"<script>window.__xss=3</script>", metadata={"m": HOSTILE})
    put(storage, f"{HOSTILE}/{HOSTILE}/b.txt", b"x")
    b = browse(browsers, storage)
    assert row_keys(b) == [f"{HOSTILE}/"]
    choose_row(b, f"{HOSTILE}/")
    assert b.folder == f"{HOSTILE}/"
    choose_row(b, f"{HOSTILE}/{HOSTILE}/")
    assert crumbs(b) == ["root", HOSTILE, HOSTILE]  # button texts: never HTML
    b.open_folder(f"{HOSTILE}/")
    choose_row(b, f"{HOSTILE}/a.txt")
    click(b, "memstore-delete")  # the confirmation names the key too
    find(b, "memstore-filter").value = f"{HOSTILE}/**"
    assert row_keys(b) == [f"{HOSTILE}/{HOSTILE}/b.txt", f"{HOSTILE}/a.txt"]
    find(b, "memstore-filter").value = ""
    fragments = all_html(b)
    for fragment in fragments:
        assert "<img" not in fragment, fragment
        assert "<script" not in fragment, fragment
    assert html.escape(HOSTILE) in "".join(fragments)
    # The breadcrumb's parts are Buttons, whose text the front end sets as textContent.
    parts = find(b, "memstore-breadcrumb").children
    assert all(
        isinstance(c, ipywidgets.Button) for c in parts if HOSTILE in str(getattr(c, "description", ""))
    )
    assert row_labels(b)[0].startswith(f"{FOLDER_MARK}{HOSTILE}/")


@pytest.mark.parametrize("kind", ["memory", "sync", "minimal"])
def test_folders_on_every_kind_of_storage(kind: str, browsers: list[StorageBrowser]) -> None:
    keys = {"a.csv": 1, "docs/readme.md": 20, "docs/img/x.png": 300, "docs/img/y.png": 400, "z/q.csv": 5}
    storage: Any
    if kind == "memory":
        storage = MemoryStorage()
        for key, size in keys.items():
            put(storage, key, b"\0" * size)
    elif kind == "sync":
        storage = SyncMemoryStorage()
        for key, size in keys.items():
            storage.put(key, b"\0" * size)
    else:
        storage = MinimalBackend()
        for key, size in keys.items():
            anyio.run(storage.put, key, b"\0" * size)
    b = browse(browsers, storage, page_size=3)
    assert row_keys(b) == ["docs/", "z/", "a.csv"]
    assert "720 B" in row_labels(b)[0]
    assert "3 files" in row_labels(b)[0]
    assert "5 files · 726 B in this folder" in text_of(b, "memstore-nav")
    choose_row(b, "docs/")
    assert row_keys(b) == ["docs/img/", "docs/readme.md"]
    choose_row(b, "docs/img/")
    assert crumbs(b) == ["root", "docs", "img"]
    find(b, "memstore-sort").value = "size"
    assert row_keys(b) == ["docs/img/y.png", "docs/img/x.png"]
    choose_row(b, "docs/img/y.png")
    assert "400 B" in text_of(b, "memstore-details")
    click(b, "memstore-up")
    assert b.folder == "docs/"
    find(b, "memstore-filter").value = "*.csv"
    assert row_keys(b) == ["a.csv"]
    find(b, "memstore-filter").value = "**/*.csv"
    assert row_keys(b) == ["z/q.csv", "a.csv"]  # still by size
    find(b, "memstore-filter").value = ""
    assert row_keys(b) == ["docs/img/", "docs/readme.md"]
    if kind == "sync":
        storage.close()


def test_the_breadcrumb_reuses_its_widgets_and_close_closes_them(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    from ipywidgets.widgets import widget as widget_module

    put(storage, "a/b/c/d/e.txt", b"1")
    b = StorageBrowser(storage)
    b.open_folder("a/b/c/d/")
    b.open_folder("")
    before = len(widget_module._instances)
    for _ in range(5):
        b.open_folder("a/b/c/d/")
        b.open_folder("a/")
        click(b, "memstore-up")
    assert len(widget_module._instances) == before  # no widget made per navigation
    crumb_widgets = [w for w in b._all_widgets() if "memstore-crumb" in getattr(w, "_dom_classes", ())]
    assert len(crumb_widgets) == 5  # root, a, b, c, d: kept although only "root" is on show
    b.close()
    assert all(w.comm is None for w in crumb_widgets)
    assert not set(map(id, crumb_widgets)) & {id(w) for w in widget_module._instances.values()}


def test_a_folder_without_sub_folders_is_paged_like_a_prefix(browsers: list[StorageBrowser]) -> None:
    with CountingStorage() as storage:
        keys = [f"k{i:03d}.txt" for i in range(25)]
        for key in keys:
            storage.put(key, b"1")
        b = browse(browsers, storage, page_size=10)
        click(b, "memstore-next")
        assert row_keys(b) == keys[10:20]
        assert "page 2 of 3 · 25 files" in text_of(b, "memstore-page")
        assert "25 files · 25 B in this folder" in text_of(b, "memstore-nav")
        find(b, "memstore-sort").value = "modified"
        assert row_keys(b) == keys[::-1][:10]
        assert storage.lists == []  # count and list_page: O(log n + page), not a listing
        storage.put("sub/x.txt", b"1")  # now the root has a folder: list_dir takes over
        b.refresh()
        assert row_keys(b)[:2] == ["sub/", keys[-1]]
        assert "1 folder · 25 files" in text_of(b, "memstore-page")


# ------------------------------------------- what people expect of a file browser
def uploaded(name: str, content: bytes, kind: str = "") -> dict[str, Any]:
    """One file as ipywidgets' FileUpload reports it."""
    return {
        "name": name,
        "type": kind,
        "size": len(content),
        "content": memoryview(content),
        "last_modified": datetime.now(timezone.utc),
    }


def test_a_selection_that_leaves_the_view_is_cleared(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    for key in ["a.txt", "b.txt", "c.csv"]:
        put(storage, key, b"1")
    b = browse(browsers, storage)
    choose_row(b, "a.txt")
    assert not find(b, "memstore-delete").disabled
    find(b, "memstore-filter").value = "*.csv"  # a.txt is filtered out
    assert row_keys(b) == ["c.csv"]
    assert_equal(b.selected, None)
    assert "Select a file" in text_of(b, "memstore-details")
    assert find(b, "memstore-delete").disabled
    choose_row(b, "c.csv")
    find(b, "memstore-sort").value = "size"  # still in view: still selected
    assert b.selected == "c.csv"
    assert "c.csv" in text_of(b, "memstore-details")


def test_the_list_is_as_tall_as_its_rows(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    put(storage, "a.txt", b"1")
    put(storage, "b.txt", b"1")
    b = browse(browsers, storage, page_size=50)
    rows = find(b, "memstore-rows")
    assert rows.rows == 3  # two rows, and never less than three lines
    for i in range(40):
        put(storage, f"k{i:02d}", b"1")
    b.refresh()
    assert len(row_keys(b)) == 42
    assert rows.rows == 20  # at most twenty lines; the list scrolls beyond


def test_controls_are_disabled_on_a_closed_storage(browsers: list[StorageBrowser]) -> None:
    storage = MemoryStorage()
    put(storage, "a.txt", b"1")
    b = browse(browsers, storage)
    names = ["memstore-filter", "memstore-sort", "memstore-refresh", "memstore-upload"]
    assert not any(find(b, name).disabled for name in names)
    anyio.run(storage.close)
    eventually(lambda: assert_in("closed", text_of(b, "memstore-totals")))
    assert all(find(b, name).disabled for name in names)


def test_upload_stores_files_in_the_folder_shown(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    put(storage, "data/old.txt", b"1")
    b = browse(browsers, storage)
    b.open_folder("data/")
    find(b, "memstore-upload").value = (uploaded("new.csv", b"x,y\n1,2\n", "text/csv"),)
    assert anyio.run(storage.get_bytes, "data/new.csv") == b"x,y\n1,2\n"
    assert anyio.run(storage.info, "data/new.csv").content_type == "text/csv"
    assert "Uploaded data/new.csv" in text_of(b, "memstore-status")
    assert row_keys(b) == ["data/new.csv", "data/old.txt"]
    assert b.selected == "data/new.csv"  # one file uploaded: its details show
    assert find(b, "memstore-upload").value == ()  # cleared for the next upload


def test_an_upload_over_the_quota_stores_nothing_of_that_file(browsers: list[StorageBrowser]) -> None:
    storage = MemoryStorage(MemoryConfig(max_size=100))
    b = browse(browsers, storage)
    find(b, "memstore-upload").value = (
        uploaded("small.txt", b"fits"),
        uploaded("big.bin", b"\0" * 500),
        uploaded("bad\x00name", b"x"),
    )
    assert anyio.run(storage.exists, "small.txt")
    assert not anyio.run(storage.exists, "big.bin")
    assert storage.usage.used_bytes == 4  # nothing of big.bin was kept
    status = text_of(b, "memstore-status")
    assert "Uploaded small.txt" in status
    assert "big.bin was not stored" in status
    assert "quota" in status.lower()
    assert "was not stored" in status.split("big.bin was not stored", 1)[1]  # the bad name too


def test_download_link_carries_the_file(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    body = b"id,name\n1,Ada\n"
    put(storage, "data/people.csv", body, content_type="text/csv")
    b = browse(browsers, storage)
    b.select("data/people.csv")
    link = html_of(b, "memstore-download-box")
    assert "download='people.csv'" in link
    href = link.split("href='", 1)[1].split("'", 1)[0]
    assert href.startswith("data:text/csv;base64,")
    assert base64.b64decode(href.split(",", 1)[1]) == body


def test_a_file_over_the_download_limit_says_how_to_read_it(browsers: list[StorageBrowser]) -> None:
    from memstore.notebook._render import DOWNLOAD_LIMIT

    storage = MemoryStorage()
    put(storage, "big.bin", b"\0" * (DOWNLOAD_LIMIT + 1))
    b = browse(browsers, storage)
    b.select("big.bin")
    text = text_of(b, "memstore-download-box")
    assert "download limit" in text
    assert "storage.get_bytes('big.bin')" in text
    assert "href" not in html_of(b, "memstore-download-box")


def test_a_hostile_content_type_cannot_break_out_of_the_download_link(
    storage: MemoryStorage, browsers: list[StorageBrowser]
) -> None:
    put(storage, "x.txt", b"1", content_type="text/html' onclick='alert(1)")
    b = browse(browsers, storage)
    b.select("x.txt")
    link = html_of(b, "memstore-download-box")
    assert "onclick" not in link
    assert "data:application/octet-stream;base64," in link


def test_usage_trend_keeps_a_bounded_history() -> None:
    from memstore.notebook._query import UsageTrend

    now = [0.0]
    trend = UsageTrend(window=60.0, buckets=6, clock=lambda: now[0])
    for second in range(600):
        now[0] = float(second)
        trend.record(second * 10)
    points = trend.points()
    assert len(points) <= 9  # one per 10-second slot over the last minute, and the ends
    assert points[-1] == (0.0, 5990)
    assert all(ago <= 70.0 for ago, _ in points)
    assert [used for _, used in points] == sorted(used for _, used in points)
    now[0] = 700.0  # nothing changed since: the line stays flat up to now
    assert trend.points()[-1] == (0.0, 5990)


def test_the_sparkline_follows_used_bytes(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    b = browse(browsers, storage)
    put(storage, "a.bin", b"\0" * 300)
    b.refresh()
    spark = html_of(b, "memstore-trend")
    assert "<svg" in spark
    assert "<polyline" in spark
    assert "used bytes over the last 5 minutes: +300 B" in spark


def press(browser: StorageBrowser, key: str) -> None:
    """A key pressed in the list of rows, as the front end reports it."""
    find(browser, "memstore-keys")._handle_custom_msg({"key": key}, [])


def test_the_keyboard_moves_opens_and_deletes(storage: MemoryStorage, browsers: list[StorageBrowser]) -> None:
    put(storage, "data/a.csv", b"1,2")
    put(storage, "data/b.csv", b"3,4")
    put(storage, "logs/x.log", b"x")
    put(storage, "top.txt", b"top")
    b = browse(browsers, storage)
    assert row_keys(b) == ["data/", "logs/", "top.txt"]
    press(b, "down")  # onto data/: highlighted, not opened
    assert b.folder == ""
    assert find(b, "memstore-rows").index == 0
    assert "Enter opens data/" in text_of(b, "memstore-status")
    press(b, "down")
    press(b, "up")
    b.refresh()  # a live refresh keeps the keyboard on the folder row
    assert find(b, "memstore-rows").index == 0
    press(b, "enter")
    assert b.folder == "data/"
    assert row_keys(b) == ["data/a.csv", "data/b.csv"]
    press(b, "down")  # onto a file: its details show
    assert b.selected == "data/a.csv"
    assert "1,2" in text_of(b, "memstore-details")
    press(b, "end")
    assert b.selected == "data/b.csv"
    press(b, "down")  # stays on the last row
    assert b.selected == "data/b.csv"
    press(b, "delete")  # asks first
    assert find(b, "memstore-confirm-box").layout.display is None
    assert "Delete data/b.csv?" in text_of(b, "memstore-confirm-box")
    press(b, "escape")
    assert find(b, "memstore-confirm-box").layout.display == "none"
    assert anyio.run(storage.exists, "data/b.csv")
    press(b, "home")
    assert b.selected == "data/a.csv"
    press(b, "unknown-key")  # ignored
    assert b.selected == "data/a.csv"
