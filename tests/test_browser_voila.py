"""The storage browser in a real browser: Voila serves a notebook, headless Chromium drives it.

The notebook is generated into a temporary folder. It fills a storage with 26 files in
five folders and at the top level (a hostile key, hostile metadata and content types, an
HTML file, a PNG) up to 85 % of its quota, shows a ``StorageBrowser`` with 10 rows per
page, and starts a thread that puts a new key as soon as the test creates a trigger file,
to check live updates. The browser opens on the root folder: the test enters folders by
choosing their rows and comes back through the breadcrumb.

Screenshots go to ``artifacts/screenshots/`` (ignored by git) for people to look at.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
HOSTILE_KEY = '<img src=x onerror="window.__xss=1">'
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None or importlib.util.find_spec("voila") is None,
        reason="needs the playwright and voila packages (the test extra)",
    ),
]

NOTEBOOK_SETUP = """
import threading, time, struct, zlib
from pathlib import Path

import anyio
from memstore import MemoryConfig, MemoryStorage
from memstore.notebook import StorageBrowser

QUOTA = 100_000
storage = MemoryStorage(MemoryConfig(max_size=QUOTA))

def tiny_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    def row(y: int) -> bytes:
        return b"\\x00" + b"".join(bytes([4 * x, 90 + y, 255 - 4 * x]) for x in range(64))

    raw = b"".join(row(y) for y in range(40))
    ihdr = struct.pack(">IIBBBBB", 64, 40, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return b"\\x89PNG\\r\\n\\x1a\\n" + body

async def fill() -> None:
    for i in range(18):
        await storage.put(f"data/part-{i:02d}.csv", b"id,value\\n" + b"1,2\\n" * 400)
    for i in range(3):
        await storage.put(f"logs/run-{i}.log", b"started\\nok\\n" * 50)
    await storage.put(HOSTILE, b"<script>window.__xss=5</script>",
                      content_type='text/html"><img src=x onerror="window.__xss=2">',
                      metadata={"owner": '<img src=x onerror="window.__xss=3">'})
    await storage.put("pages/index.html", b'<h1>hi</h1><img src=x onerror="window.__xss=4">')
    await storage.put("images/logo.png", tiny_png())
    await storage.put("blob.bin", bytes(range(256)) * 4)
    used = storage.usage.used_bytes
    await storage.put("padding/fill.bin", b"\\x00" * (int(QUOTA * 0.85) - used))

thread = threading.Thread(target=anyio.run, args=(fill,))
thread.start()
thread.join()
"""

NOTEBOOK_LIVE = """
def put_when_triggered() -> None:
    trigger = Path(TRIGGER)
    deadline = time.monotonic() + 120
    while not trigger.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    anyio.run(storage.put, "0-live/arrived.txt", b"hello from a thread")

threading.Thread(target=put_when_triggered, daemon=True).start()
browser = StorageBrowser(storage, page_size=10)
browser
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    """PIDs of every process below ``pid`` (Linux /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop Voila and the kernels it started (they run in sessions of their own)."""
    kernels = _descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    for pid in kernels:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _write_notebook(folder: Path, trigger: Path) -> None:
    import nbformat as nbformat_untyped

    nbformat: Any = nbformat_untyped

    setup = f"HOSTILE = {HOSTILE_KEY!r}\n" + textwrap.dedent(NOTEBOOK_SETUP)
    live = f"TRIGGER = {str(trigger)!r}\n" + textwrap.dedent(NOTEBOOK_LIVE)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(setup), nbformat.v4.new_code_cell(live)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "browser.ipynb")


@pytest.fixture
def voila_url(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Serve a generated notebook with Voila on 127.0.0.1; yields its URL and the trigger path."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    trigger = tmp_path / "trigger"
    _write_notebook(notebooks, trigger)
    home = tmp_path / "home"
    env = {
        **os.environ,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH")])
        ),
    }
    port = _free_port()
    log = (tmp_path / "voila.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            str(notebooks),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("Voila did not start:\n" + (tmp_path / "voila.log").read_text()[-3000:])
                time.sleep(0.2)
        yield f"{base}/voila/render/browser.ipynb", trigger
    finally:
        _stop(proc)
        log.close()
        if os.environ.get("MEMSTORE_KEEP_VOILA_LOG"):
            shutil.copy(tmp_path / "voila.log", SCREENSHOTS.parent / "voila.log")


def _only_localhost(route: Route) -> None:
    host = route.request.url.split("/")[2].split(":")[0] if "://" in route.request.url else ""
    if host in ("127.0.0.1", "localhost") or not route.request.url.startswith("http"):
        route.continue_()
    else:
        route.abort()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".memstore-browser").screenshot(path=str(SCREENSHOTS / f"browser-{name}.png"))


def test_browser_in_voila(voila_url: tuple[str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, trigger = voila_url
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            context = chromium.new_context(viewport={"width": 1280, "height": 1000})
            context.route("**/*", _only_localhost)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            # The root folder: data/ images/ logs/ padding/ pages/, then the hostile key and blob.bin.
            expect(page.locator(".memstore-rows select option")).to_have_count(7, timeout=60_000)
            _check_initial(page)
            _shot(page, "initial")

            trigger.write_text("go")  # the kernel's thread now puts 0-live/arrived.txt
            expect(page.locator(".memstore-totals")).to_contain_text("27 files", timeout=15_000)
            expect(page.locator(".memstore-rows select option").first).to_contain_text("0-live/")
            expect(page.locator(".memstore-rows select option").first).to_contain_text("1 file")
            _shot(page, "live")

            _check_details(page)
            _check_paging_and_delete(page)
            assert page.evaluate("typeof window.__xss") == "undefined", "a hostile string ran a script"
            assert not [e for e in errors if "__xss" in e], errors
        finally:
            chromium.close()


def _check_initial(page: Page) -> None:
    from playwright.sync_api import expect

    expect(page.locator(".memstore-totals")).to_contain_text("26 files")
    bar = page.locator(".memstore-gauge .progress-bar")
    expect(bar).to_have_attribute("style", _contains("width: 85%"))
    expect(bar).to_have_class(_contains("progress-bar-warning"))
    expect(page.locator(".memstore-gauge")).to_contain_text("85.0 %")
    expect(page.locator(".memstore-page")).to_contain_text("page 1 of 1 · 5 folders · 2 files")
    expect(page.locator(".memstore-breadcrumb")).to_have_text("root")
    expect(page.locator("button.memstore-up")).to_be_disabled()
    expect(page.locator(".memstore-folder-info")).to_contain_text("26 files")
    breakdown = page.locator(".memstore-breakdown")
    expect(breakdown).to_contain_text("padding/")
    expect(breakdown).to_contain_text("data/")
    options = page.locator(".memstore-rows select option")
    expect(options.first).to_contain_text("data/")  # folders first, by name
    expect(options.first).to_contain_text("18 files")
    expect(options.nth(5)).to_contain_text("<img src=x")  # then the files
    assert page.locator(".memstore-browser img[src='x']").count() == 0


def _check_details(page: Page) -> None:
    from playwright.sync_api import expect

    rows = page.locator(".memstore-rows select")
    details = page.locator(".memstore-details")
    # The hostile key: every field and the metadata show as text.
    rows.select_option(value=_option_value(page, HOSTILE_KEY))
    expect(details).to_contain_text(HOSTILE_KEY, timeout=10_000)
    expect(details).to_contain_text('onerror="window.__xss=3"')
    expect(details).to_contain_text("<script>window.__xss=5</script>")
    assert details.locator("img[src='x'], script").count() == 0
    _shot(page, "details-hostile")
    # Choosing a folder row opens the folder; an image shows as an image.
    rows.select_option(value=_option_value(page, "\u25b8 images/"))
    expect(page.locator(".memstore-breadcrumb")).to_contain_text("images", timeout=10_000)
    expect(page.locator(".memstore-rows select option")).to_have_count(1, timeout=10_000)
    expect(page.locator("button.memstore-up")).to_be_enabled()
    rows.select_option(index=0)
    expect(details).to_contain_text("PNG image", timeout=10_000)
    expect(page.locator(".memstore-details img.memstore-image")).to_be_visible()
    _shot(page, "details-image")
    # A glob filter lists the matches from every folder: ** crosses folders, * does not.
    page.locator(".memstore-filter input").fill("**/*.log")
    page.locator(".memstore-filter input").press("Enter")
    expect(page.locator(".memstore-page")).to_contain_text("3 matching files", timeout=10_000)
    page.locator(".memstore-filter input").fill("*.log")
    page.locator(".memstore-filter input").press("Enter")
    expect(page.locator(".memstore-page")).to_contain_text("0 matching files", timeout=10_000)
    page.locator(".memstore-filter input").fill("")
    page.locator(".memstore-filter input").press("Enter")
    expect(page.locator(".memstore-rows select option")).to_have_count(1, timeout=10_000)  # images/ again
    page.locator("button.memstore-crumb", has_text="root").click()
    expect(page.locator(".memstore-page")).to_contain_text("6 folders · 2 files", timeout=10_000)


def _check_paging_and_delete(page: Page) -> None:
    from playwright.sync_api import expect

    rows = page.locator(".memstore-rows select")
    rows.select_option(value=_option_value(page, "\u25b8 data/"))
    expect(page.locator(".memstore-page")).to_contain_text("page 1 of 2 · 18 files", timeout=10_000)
    page.locator("button.memstore-next").click()
    expect(page.locator(".memstore-page")).to_contain_text("page 2 of 2", timeout=10_000)
    options = page.locator(".memstore-rows select option")
    expect(options.first).to_contain_text("part-10.csv")  # names relative to the folder
    victim = "data/" + options.nth(2).inner_text().split()[0]
    rows.select_option(index=2)
    details = page.locator(".memstore-details")
    expect(details).to_contain_text(victim, timeout=10_000)
    expect(details).to_contain_text("id,value")
    _shot(page, "page2-selected")
    page.locator("button.memstore-delete").click()
    expect(page.locator(".memstore-confirm-box")).to_contain_text(f"Delete {victim}?")
    _shot(page, "confirm-delete")
    page.locator("button.memstore-confirm").click()
    expect(page.locator(".memstore-status")).to_contain_text(f"Deleted {victim}", timeout=10_000)
    expect(page.locator(".memstore-totals")).to_contain_text("26 files")
    expect(page.locator(".memstore-rows select")).not_to_contain_text(victim)
    _shot(page, "after-delete")


def _option_value(page: Page, label_start: str) -> str:
    """The ``value`` of the row option whose text starts with ``label_start``."""
    values: list[str] = page.eval_on_selector_all(
        ".memstore-rows select option",
        "(os, start) => os.filter(o => o.textContent.replace(/\\u00a0/g, ' ').startsWith(start))"
        ".map(o => o.value)",
        label_start,
    )
    assert values, f"no row starts with {label_start!r}"
    return values[0]


def _contains(text: str) -> Any:
    import re

    return re.compile(re.escape(text))
