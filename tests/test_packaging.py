"""The project's files agree with each other: pyproject, environment.yml, README, CI, API."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import memstore

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirement_map(requirements: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for req in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)", req.strip())
        assert match, req
        out[match.group(1).lower()] = match.group(3).replace(" ", "")
    return out


def environment_entries() -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        match = re.match(r"^\s+- ([A-Za-z0-9_.\-]+)\s*([<>=!~][^\s#]*)?\s*(#.*)?$", line)
        if match and match.group(1) not in ("pip", "conda-forge"):
            entries[match.group(1).lower()] = match.group(2) or ""
    return entries


def test_environment_yml_agrees_with_pyproject() -> None:
    env = environment_entries()
    project = PYPROJECT["project"]
    wanted = requirement_map(project["dependencies"])
    wanted.update(requirement_map(list(project["optional-dependencies"]["notebook"])))
    test_extra = requirement_map(project["optional-dependencies"]["test"])
    wanted["pytest"] = test_extra["pytest"]
    wanted.update(requirement_map(list(project["optional-dependencies"]["fsspec"])))
    wanted["zarr"] = requirement_map(project["optional-dependencies"]["zarr"])["zarr"]
    for name in ("pandas", "pyarrow", "polars", "universal-pathlib"):
        wanted[name] = test_extra[name]
    wanted["xarray"] = test_extra["xarray"].split(";")[0]
    wanted["python"] = project["requires-python"]
    for name, spec in wanted.items():
        assert name in env, f"environment.yml lacks {name}"
        assert env[name] == spec, f"{name}: environment.yml says {env[name]!r}, pyproject.toml {spec!r}"
    text = (ROOT / "environment.yml").read_text()
    assert "- -e .[notebook,zarr]" in text
    assert "jupyterlab" in env


def test_core_dependencies_are_only_anyio_and_sortedcontainers() -> None:
    assert sorted(requirement_map(PYPROJECT["project"]["dependencies"])) == ["anyio", "sortedcontainers"]


OPTIONAL = ("ipywidgets", "nest_asyncio", "nest_asyncio2", "IPython", "fsspec", "zarr", "pandas", "numpy")


def test_import_memstore_needs_neither_ipywidgets_nor_nest_asyncio() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {OPTIONAL!r}:\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import memstore\n"
        "s = memstore.SyncMemoryStorage.named('n'); s.put('a', b'1'); print(s.get_bytes('a'))\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {OPTIONAL!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["b'1'", "[]"]


def test_fsspec_finds_the_memstore_protocol_through_the_entry_point() -> None:
    from importlib.metadata import entry_points

    assert PYPROJECT["project"]["entry-points"]["fsspec.specs"] == {
        "memstore": "memstore.fsspec:MemstoreFileSystem"
    }
    found = {ep.name: ep.value for ep in entry_points(group="fsspec.specs")}
    assert found.get("memstore") == "memstore.fsspec:MemstoreFileSystem"


def test_the_adapters_are_in_their_extras() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert sorted(requirement_map(extras["fsspec"])) == ["fsspec"]
    assert sorted(requirement_map(extras["zarr"])) == ["memstore", "zarr"]
    assert requirement_map(extras["zarr"])["zarr"] == ">=3"


def test_memstore_redis_imports_the_client_only_to_connect() -> None:
    code = (
        "import sys\n"
        "import memstore, memstore.redis\n"
        "config = memstore.redis.RedisConfig('redis://u:secret@db.example:6390/2', namespace='n')\n"
        "names = ('glide', 'glide_sync', 'glide_shared')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in names))\n"
        "print(repr(config))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    modules, shown = done.stdout.split("\n")[:2]
    assert modules == "[]"
    assert "secret" not in shown
    assert "redis://u@db.example:6390/2" in shown


def test_the_redis_extra_brings_both_faces_of_the_client() -> None:
    extra = requirement_map(PYPROJECT["project"]["optional-dependencies"]["redis"])
    assert sorted(extra) == ["valkey-glide", "valkey-glide-sync"]


def test_public_api_is_curated_and_documented() -> None:
    for name in memstore.__all__:
        obj = getattr(memstore, name)
        assert obj is not None
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"memstore.{name} has no docstring"
    exceptions = {
        "StorageError",
        "StorageFileNotFoundError",
        "StorageFileExistsError",
        "StorageQuotaExceededError",
        "InvalidKeyError",
        "ConfigurationError",
        "StorageClosedError",
        "StorageConnectionError",
    }
    assert exceptions <= set(memstore.__all__)
    assert issubclass(memstore.InvalidKeyError, ValueError)


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    commands = [ln for ln in lines[:8] if ln.startswith("./dev.sh")]
    assert [c.split()[1] for c in commands] == ["demo", "test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./dev.sh test" in ci


def test_license_is_mit() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert PYPROJECT["project"]["license"] == "MIT"
