"""What a new user meets first: errors that say what to do, at the call that is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from memstore import (
    InvalidKeyError,
    MemoryStorage,
    StorageClosedError,
    StorageFileNotFoundError,
    SyncMemoryStorage,
)
from tests.faces import Make

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.anyio
async def test_get_raises_when_called_not_when_iterated(make: Make, backend: str, face: str) -> None:
    storage = make()
    with pytest.raises(InvalidKeyError):
        storage.get("../x")
    with pytest.raises(TypeError, match="start must be an int"):
        storage.get("missing", start="1")  # type: ignore[arg-type]
    await storage.put("k", b"old")
    if backend == "redis" and face == "async":
        # an async call cannot reach a server without awaiting: the stream looks the file
        # up as its first step, before it yields anything
        missing = storage.get("missing")
        with pytest.raises(StorageFileNotFoundError):
            await missing.__anext__()
        chunks = storage.get("k")
        assert [c async for c in chunks] == [b"old"]
    else:
        with pytest.raises(StorageFileNotFoundError):
            storage.get("missing")
        chunks = storage.get("k")  # the version current at this call ...
        await storage.put("k", b"new")
        assert [c async for c in chunks] == [b"old"]  # ... is the one read
    await storage.close()
    with pytest.raises(StorageClosedError):
        storage.get("k")


@pytest.mark.anyio
async def test_the_async_put_of_a_str_says_to_encode_it(make: Make) -> None:
    storage = make()
    with pytest.raises(TypeError, match="encode it first"):
        await storage.put("k", "text")  # type: ignore[arg-type]


def test_browse_without_the_notebook_extra_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['ipywidgets'] = None  # as if not installed\n"
        "from memstore import SyncMemoryStorage\n"
        "try:\n"
        "    SyncMemoryStorage().browse()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "memstore[notebook]"' in done.stdout


def test_dev_sh_help_and_an_unknown_command() -> None:
    helped = subprocess.run(
        ["bash", str(ROOT / "dev.sh"), "help"], capture_output=True, text=True, check=False
    )
    assert helped.returncode == 0
    assert "#   ./dev.sh demo" in helped.stdout
    assert "#   ./dev.sh docs" in helped.stdout
    assert "set -euo" not in helped.stdout
    wrong = subprocess.run(
        ["bash", str(ROOT / "dev.sh"), "tset"], capture_output=True, text=True, check=False
    )
    assert wrong.returncode == 2
    assert "unknown command 'tset'" in wrong.stderr


def test_a_browser_names_the_class_the_user_holds() -> None:
    pytest.importorskip("ipywidgets")
    from memstore import SyncMemoryStorage

    with SyncMemoryStorage() as storage:
        browser = storage.browse()
        assert "SyncMemoryStorage" in browser._totals.value
        browser.close()


def test_the_sync_put_data_type_is_public() -> None:
    import memstore
    from memstore import SyncMemoryStorage

    assert "SyncPutData" in memstore.__all__
    assert SyncMemoryStorage.put.__annotations__["data"] == "SyncPutData"


@pytest.mark.anyio
async def test_html_reprs_align_left_and_say_empty(make: Make) -> None:
    storage = make()
    page = storage._repr_html_()
    assert "<i>empty</i>" in page
    assert "<table>" not in page
    file = await storage.put("a.txt", b"x", metadata={"k": "v"})
    page = storage._repr_html_()
    assert "text-align:left" in page
    assert "a.txt" in page
    assert "text-align:left" in file._repr_html_()


@pytest.mark.parametrize("cls", [MemoryStorage, SyncMemoryStorage], ids=lambda c: c.__name__)
def test_a_setting_given_to_the_constructor_shows_the_right_call(cls: type[Any]) -> None:
    name = cls.__name__
    with pytest.raises(TypeError) as caught:
        cls(max_size=10)
    assert str(caught.value) == (
        f"{name}() got an unexpected keyword argument 'max_size': limits and tuning go in a "
        f"MemoryConfig, {name}(MemoryConfig(max_size=10))"
    )
    assert "Face" not in str(caught.value)  # neither SyncFace nor a facade: the class the user called
    with pytest.raises(TypeError, match=rf"e\.g\. {name}\(MemoryConfig\(max_size=10\)\)"):
        cls(10)
    with pytest.raises(TypeError, match=rf"^{name}\(\) got an unexpected keyword argument 'colour'$"):
        cls(colour="red")


@pytest.mark.parametrize("name", ["RedisStorage", "SyncRedisStorage"])
def test_a_redis_setting_or_url_given_to_the_constructor_shows_the_right_call(name: str) -> None:
    redis = pytest.importorskip("memstore.redis")
    cls = getattr(redis, name)
    with pytest.raises(TypeError) as caught:
        cls(max_size=10)
    assert str(caught.value) == (
        f"{name}() got an unexpected keyword argument 'max_size': the server, namespace and limits "
        f"go in a RedisConfig, {name}(RedisConfig(max_size=10))"
    )
    with pytest.raises(TypeError, match=rf"e\.g\. {name}\(RedisConfig\('redis://db:6379/0'\)\)$"):
        cls("redis://db:6379/0")  # a URL where the config goes: nothing connects
    with pytest.raises(TypeError, match=rf"^{name}\(\) got an unexpected keyword argument 'colour'$"):
        cls(colour="red")


@pytest.mark.kernel
@pytest.mark.timeout(240)
def test_the_tour_shows_the_browser_and_the_async_face_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("nbconvert")
    env = {**os.environ}
    for name in ("HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        (tmp_path / name).mkdir()
        env[name] = str(tmp_path / name)
    out = tmp_path / "tour"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "tour.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=200,
        check=False,
    )
    printed = result.stdout + result.stderr
    assert result.returncode == 0, printed
    assert "without encryption" not in printed
    assert "WARNING" not in printed
    assert "storage.browse()\n    => [an ipywidgets view]" in printed
    assert "['reports/2026/async.txt', 'reports/2026/summary.txt']" in printed  # the async face
    page = (out / "01_quickstart.html").read_text(encoding="utf-8")
    assert "<title>memstore tour: 01 · Quickstart: memstore in a notebook</title>" in page
    assert "application/vnd.jupyter.widget-state+json" in page  # the saved page shows the browser
    assert "memstore-totals" in page
