"""The storage browser in a real JupyterLab, as a user meets it: Run All, both themes, clicks.

A JupyterLab server serves a copy of ``notebooks/03_live_browser.ipynb``; headless Chromium
opens it, runs every cell, and checks that the browser rendered with the tutorial's data.
Then, in the light and in the dark theme, every piece of text in every browser must have
a contrast ratio of at least 4.5:1 (WCAG AA) against the background it is drawn on. Last,
it uses the browser with the mouse: a row, a folder, the filter, the pager, an upload and
a download.

Screenshots go to ``artifacts/screenshots/jupyterlab-*.png`` (ignored by git).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.test_browser_voila import CHROMIUM, LAUNCH_ARGS, SCREENSHOTS, _free_port, _only_localhost, _stop

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "03_live_browser.ipynb"
AA = 4.5  # WCAG AA for normal text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None or importlib.util.find_spec("jupyterlab") is None,
        reason="needs the playwright and jupyterlab packages (the test extra)",
    ),
]

# The contrast of every visible text node under `root`: its computed colour, alpha-blended
# onto the first opaque background up its ancestors (each translucent layer blended in).
# Disabled controls are exempt (WCAG 1.4.3 excludes inactive user interface components).
CONTRAST_JS = """
(root) => {
  const parse = (c) => {
    const m = c && c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const found = [];
  const seen = new Set();
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    if (!text) continue;
    let el = node.parentElement;
    const select = el.closest('select');
    if (select && !(select.size > 1 || select.multiple)) el = select;  // a dropdown shows its value
    if (seen.has(el) || el.closest('style, script')) continue;
    seen.add(el);
    if (el.closest(':disabled, .mod-disabled')) continue;
    const visible = el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
    if (el.tagName !== 'OPTION' && !visible) continue;
    if (el.tagName === 'OPTION' && el.selected) continue;  // drawn in the system's highlight colours
    const style = getComputedStyle(el);
    const bg = background(el);
    const fg = over(parse(style.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    found.push({ text: text.slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05), color: style.color,
                 background: `rgb(${Math.round(bg.r)}, ${Math.round(bg.g)}, ${Math.round(bg.b)})` });
  }
  return found;
}
"""


KERNEL_READY_JS = """
async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  const kernel = panel.sessionContext.session.kernel;
  await kernel.info;
  await kernel.requestKernelInfo();
  return kernel.connectionStatus;
}
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """A JupyterLab server on 127.0.0.1 serving a copy of notebook 03; yields the notebook's URL."""
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    home = tmp_path / "home"
    settings = home / "lab-settings" / "@jupyterlab"
    for plugin, values in {
        "docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        "notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
    }.items():
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / plugin).write_text(json.dumps(values))
    env = {
        **os.environ,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    port = _free_port()
    token = uuid.uuid4().hex
    log_path = tmp_path / "jupyterlab.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run commands
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start:\n" + log_path.read_text()[-3000:])
                time.sleep(0.2)
        yield f"{base}/lab/tree/{NOTEBOOK.name}?token={token}"
    finally:
        _stop(proc)
        log.close()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"jupyterlab-{name}.png"), full_page=False)
    widget = page.locator(".memstore-browser").first
    widget.screenshot(path=str(SCREENSHOTS / f"jupyterlab-{name}-widget.png"))


def _low_contrast(page: Page) -> list[dict[str, Any]]:
    measured: list[dict[str, Any]] = []
    for browser in page.locator(".memstore-browser").all():
        measured.extend(browser.evaluate(CONTRAST_JS))
    assert len(measured) > 40, f"too few text elements measured: {measured}"
    return [m for m in measured if m["ratio"] < AA]


def _set_theme(page: Page, theme: str, light: bool) -> None:
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    page.wait_for_function(
        "(light) => document.body.dataset.jpThemeLight === String(light)", arg=light, timeout=30_000
    )
    page.wait_for_timeout(500)  # let the new stylesheet apply before measuring (not a correctness wait)


def test_run_all_in_jupyterlab_in_both_themes_and_use_the_browser(lab: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        context = chromium.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
        context.route("**/*", _only_localhost)
        page = context.new_page()
        try:
            page.goto(lab)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=60_000)
            expect(page.locator(".jp-Notebook")).to_be_visible(timeout=60_000)
            # The kernel must be connected and ready before Run All: a Run All sent while the
            # session is still starting runs the first cell only.
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
                1, timeout=60_000
            )
            status = page.evaluate(KERNEL_READY_JS)
            assert status == "connected", status
            page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            browser = page.locator(".memstore-browser").first
            expect(browser.locator(".memstore-totals")).to_contain_text("162 files", timeout=90_000)
            expect(page.locator(".jp-InputPrompt", has_text="[*]")).to_have_count(0, timeout=90_000)
            expect(page.locator(".memstore-browser")).to_have_count(2)
            expect(browser.locator(".memstore-rows select option")).to_have_count(3)  # images/ logs/ notes/
            expect(browser.locator(".widget-hprogress")).to_be_visible()
            stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert stderr.count() == 0, stderr.all_inner_texts()

            # ---- contrast, light then dark
            _set_theme(page, "JupyterLab Light", light=True)
            browser.scroll_into_view_if_needed()
            _shot(page, "light")
            assert _low_contrast(page) == []
            _set_theme(page, "JupyterLab Dark", light=False)
            browser.scroll_into_view_if_needed()
            _shot(page, "dark")
            assert _low_contrast(page) == []

            # ---- the keyboard: arrows move without opening, Enter opens, Delete asks
            rows = browser.locator(".memstore-rows select")
            rows.focus()
            page.keyboard.press("ArrowDown")  # images/: highlighted only
            expect(browser.locator(".memstore-status")).to_contain_text("Enter opens images/")
            page.keyboard.press("ArrowDown")
            expect(browser.locator(".memstore-status")).to_contain_text("Enter opens logs/")
            page.keyboard.press("Enter")
            expect(browser.locator(".memstore-breadcrumb")).to_contain_text("logs")
            expect(page.locator(".jp-Notebook.jp-mod-editMode")).to_have_count(0)  # JupyterLab kept out
            page.keyboard.press("ArrowDown")
            details = browser.locator(".memstore-details")
            expect(details).to_contain_text("logs/run-000.log")
            expect(details).to_contain_text("log line")  # a .log without a text type previews as text
            page.keyboard.press("Delete")
            expect(browser.locator(".memstore-confirm-box")).to_contain_text("Delete logs/run-000.log?")
            page.keyboard.press("Escape")
            expect(browser.locator(".memstore-confirm-box")).to_be_hidden()
            browser.locator(".memstore-crumb", has_text="root").click()
            expect(rows.locator("option")).to_have_count(3)

            # ---- a folder row, a file row, the preview
            _choose(rows, "▸ notes/")
            expect(browser.locator(".memstore-breadcrumb")).to_contain_text("notes")
            _choose(rows, "readme.md")
            expect(details).to_contain_text("The browser previews text files.")
            expect(details).to_contain_text("text/markdown")
            assert _low_contrast(page) == []  # the preview pane, in the dark theme

            # ---- download the selected file
            with page.expect_download() as download_info:
                browser.locator("a.memstore-download").click()
            saved = tmp_path / "readme.md"
            download_info.value.save_as(saved)
            assert saved.read_bytes() == b"# Notes\nThe browser previews text files."

            # ---- upload into the folder shown
            with page.expect_file_chooser() as chooser:
                browser.locator(".memstore-upload").click()
            chooser.value.set_files(
                {"name": "uploaded.txt", "mimeType": "text/plain", "buffer": b"from the browser"}
            )
            expect(browser.locator(".memstore-status")).to_contain_text("Uploaded notes/uploaded.txt")
            expect(browser.locator(".memstore-totals")).to_contain_text("163 files")
            expect(details).to_contain_text("from the browser")

            # ---- filter and page
            filter_box = browser.locator(".memstore-filter input")
            filter_box.fill("images/*.png")
            filter_box.press("Enter")
            expect(browser.locator(".memstore-page")).to_contain_text("120 matching files")
            expect(browser.locator(".memstore-page")).to_contain_text("page 1 of 6")
            browser.locator(".memstore-next").click()
            expect(browser.locator(".memstore-page")).to_contain_text("page 2 of 6")
            expect(rows.locator("option").first).to_contain_text("images/img-020.png")
            _choose(rows, "images/img-021.png")
            expect(details.locator("img.memstore-image")).to_be_visible()
            _shot(page, "dark-in-use")
        except BaseException:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "jupyterlab-failure.png"))
            raise
        finally:
            context.close()
            chromium.close()


def _choose(rows: Any, start: str) -> None:
    """Click the row of ``rows`` (the list's ``<select>``) whose label starts with ``start``."""
    labels: list[str] = rows.locator("option").all_inner_texts()
    for index, label in enumerate(labels):
        if label.replace("\xa0", " ").strip().startswith(start):
            rows.select_option(index=index)
            return
    raise AssertionError(f"no row starts with {start!r}: {labels}")
