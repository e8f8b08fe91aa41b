"""The sync facade in a real Jupyter kernel (ipykernel, driven by nbclient / jupyter_client)."""

from __future__ import annotations

import os
import queue
import time
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupyter_client = pytest.importorskip("jupyter_client")

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(180)]


@pytest.fixture
def jupyter_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every Jupyter/IPython file of the test out of the user's home."""
    for name, sub in [
        ("HOME", "home"),
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("IPYTHONDIR", "ipython"),
    ]:
        path = tmp_path / sub
        path.mkdir()
        monkeypatch.setenv(name, str(path))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    return tmp_path


def text_outputs(cell: Any) -> list[str]:
    out: list[str] = []
    for output in cell.outputs:
        if output.output_type == "stream":
            out.append(output.text.strip())
        elif output.output_type in ("execute_result", "display_data") and "text/plain" in output.data:
            out.append(output.data["text/plain"].strip())
        elif output.output_type == "error":
            raise AssertionError(f"cell failed: {output.ename}: {output.evalue}")
    return out


CELLS = [
    # 0: the sync API in a cell, where the kernel's event loop is already running
    "from memstore import SyncMemoryStorage, MemoryConfig\n"
    "storage = SyncMemoryStorage(MemoryConfig(max_size=1000))\n"
    "storage.put('notes/a.txt', b'hello').size",
    # 1: an async stream goes through the portal
    "async def chunks():\n"
    "    for part in (b'str', b'eam'):\n"
    "        yield part\n"
    "storage.put('notes/b.txt', chunks())\n"
    "storage.get_bytes('notes/b.txt')",
    # 2: top-level await on the async core shares the same files
    "core = storage.async_storage\n"
    "await core.put('c.txt', b'awaited')\n"
    "[f.key for f in storage.list()], storage.usage.used_bytes",
    # 3: the nested runner with a stream bound to the kernel's own loop
    "import asyncio\n"
    "q = asyncio.Queue()\n"
    "async def from_queue():\n"
    "    while (item := await q.get()) is not None:\n"
    "        yield item\n"
    "for item in (b'lo', b'op', None):\n"
    "    q.put_nowait(item)\n"
    "nested = SyncMemoryStorage.wrap(core, runner='nested')\n"
    "nested.put('q.bin', from_queue()).size",
    # 4: closing leaves no thread behind
    "import threading\n"
    "nested.close(); storage.close()\n"
    "print(storage.closed, sorted(t.name for t in threading.enumerate() if 'memstore' in t.name))",
]


def test_sync_facade_in_a_real_kernel(jupyter_env: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    client = nbclient.NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {}})
    client.execute()
    outputs = [text_outputs(cell) for cell in nb.cells]
    assert outputs[0] == ["5"]
    assert outputs[1] == ["b'stream'"]
    assert outputs[2] == ["(['c.txt', 'notes/a.txt', 'notes/b.txt'], 18)"]
    assert outputs[3] == ["4"]
    assert outputs[4] == ["True []"]


RUN_ALL_FIRST = """\
import asyncio
from memstore import SyncMemoryStorage
storage = SyncMemoryStorage(runner="nested")
async def slow():
    for _ in range(5):
        await asyncio.sleep(0.2)   # on the kernel's own loop, re-entered by nest-asyncio2
        yield b"x"
storage.put("slow.bin", slow())
print("first", storage.get_bytes("slow.bin"))
"""


def test_run_all_every_queued_cell_is_answered_while_a_nested_call_runs(jupyter_env: Path) -> None:
    """JupyterLab's Run All queues every cell at once; with nest-asyncio 1.6 the kernel
    dropped the requests that arrived during a nested run and Run All hung."""
    km = jupyter_client.KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(jupyter_env), env={**os.environ})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        ids = [kc.execute(RUN_ALL_FIRST)]
        ids += [kc.execute(f"print('cell', {i})") for i in range(2, 8)]  # queued meanwhile
        replies: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(replies) < len(ids) and time.monotonic() < deadline:
            try:
                msg = kc.get_shell_msg(timeout=1)
            except queue.Empty:
                continue
            parent = msg["parent_header"].get("msg_id")
            if msg["msg_type"] == "execute_reply" and parent in ids:
                replies[parent] = msg["content"]["status"]
        assert [replies.get(i) for i in ids] == ["ok"] * len(ids), "some queued cells were never answered"
        printed: list[str] = []
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=2)
            except queue.Empty:
                break
            if msg["msg_type"] == "stream":
                printed.extend(msg["content"]["text"].splitlines())
        assert printed == ["first b'xxxxx'"] + [f"cell {i}" for i in range(2, 8)]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
