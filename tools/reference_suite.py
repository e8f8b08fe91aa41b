"""Run the reference library's own tests for its BaseStorage and memory backend against memstore.

    python tools/reference_suite.py [--version 0.2.3] [--tests-from PATH [--rev REV]]
                                    [--cache-dir DIR] [-- PYTEST_ARGS...]

The reference is ``litestar-storages``. None of its code is part of memstore: its tests
are read at run time, from the source distribution on PyPI (cached, SHA-256 checked) or,
with ``--tests-from`` (or ``MEMSTORE_REFERENCE_TESTS``), from a checkout or a git
directory of its repository (no sdist up to 0.2.3 ships its tests: then the harness exits
with ``EXIT_NO_TESTS`` and says so). Only these files are used: ``tests/conftest.py`` (the
fixtures), ``tests/test_base.py`` (BaseStorage and its defaults) and
``tests/backends/test_memory.py`` (the memory backend); they are copied into a temporary
directory and run with pytest in a subprocess, with this module loaded as a pytest
plugin that:

* makes the reference's modules resolve to memstore: ``litestar_storages``,
  ``.base``, ``.types``, ``.exceptions``, ``.backends`` and ``.backends.memory`` become
  modules whose names (``MemoryStorage``, ``MemoryConfig``, ``BaseStorage``, ``Storage``,
  ``StoredFile``, ``StorageError``, ``StorageFileNotFoundError``, ...) are memstore's own
  objects of the same name. The reference's package is never imported; a name memstore
  lacks is missing from the shim, so a test using it fails to import rather than testing
  the reference;
* runs the async tests with anyio's pytest plugin on asyncio (the reference uses
  pytest-asyncio, which is replaced by an empty stand-in, as is pytest-databases);
* deselects the tests parametrized with the reference's filesystem backend and those on
  anyio backends other than asyncio.

Exit status: pytest's (0 when every test passed), or ``EXIT_NO_TESTS`` when the source
holds no tests, or ``EXIT_UNREACHABLE`` when PyPI could not be reached.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import types
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / "artifacts" / "reference-suite"

PROJECT = "litestar-storages"
DEFAULT_VERSION = "0.2.3"
KNOWN_SHA256 = {
    # The sdists' digests as published on PyPI, checked on every use of a cached copy.
    "0.2.3": "342450e5780693ae37b8d8b91b8f118b58956b4b4e14dc79e2fb666775fd0ca0",
}
DEFAULT_INDEX = "https://pypi.org/simple"

EXIT_NO_TESTS = 10
"""The source (an sdist, a checkout) does not contain the reference's tests."""
EXIT_UNREACHABLE = 11
"""PyPI (the package index) could not be reached and no cached sdist exists."""

REQUIRED_FILES = ("tests/conftest.py", "tests/test_base.py", "tests/backends/test_memory.py")
"""The reference's files that are run: its fixtures, the base-class tests, the memory backend's tests."""
OPTIONAL_FILES = ("tests/__init__.py", "tests/backends/__init__.py")
TEST_FILES = ("tests/test_base.py", "tests/backends/test_memory.py")
PACKAGE = "reference_tests"
"""The name the reference's ``tests`` package gets in the work directory (``tests`` is memstore's)."""

SOURCE_ENV = "MEMSTORE_REFERENCE_TESTS"
"""Environment variable naming a checkout or git directory to read the tests from."""
DESCRIPTION_ENV = "MEMSTORE_REFERENCE_SUITE_SOURCE"
"""Set for the pytest subprocess: where the tests came from (shown in pytest's header)."""

SHIM: Mapping[str, tuple[str, ...]] = {
    # The reference's module -> the names it gets, each bound to memstore's object of that name.
    "litestar_storages": (
        "BaseStorage",
        "Storage",
        "StoredFile",
        "MemoryConfig",
        "MemoryStorage",
        "ConfigurationError",
        "StorageError",
        "StorageFileExistsError",
        "StorageFileNotFoundError",
    ),
    "litestar_storages.base": ("BaseStorage", "Storage"),
    "litestar_storages.types": ("StoredFile",),
    "litestar_storages.exceptions": (
        "ConfigurationError",
        "StorageError",
        "StorageFileExistsError",
        "StorageFileNotFoundError",
    ),
    "litestar_storages.backends": ("MemoryConfig", "MemoryStorage"),
    "litestar_storages.backends.memory": ("MemoryConfig", "MemoryStorage"),
}
"""What the reference's test files import, and what they get instead.

Not mapped (the reference has them, memstore does not): ``StoragePermissionError``,
``StorageConnectionError``, the other backends, ``retry``, ``UploadResult``, ... None of
the tests run here uses them.
"""

PLACEHOLDERS: Mapping[str, tuple[str, ...]] = {
    "litestar_storages.backends.filesystem": ("FileSystemConfig", "FileSystemStorage"),
}
"""Reference objects the fixtures build but the tests run here never use, bound to :class:`NotUnderTest`.

The conftest's ``any_storage`` fixture takes a filesystem storage as an argument even
when it yields the memory one; its ``filesystem`` runs are deselected.
"""

STAND_INS = (
    "pytest_asyncio",
    "pytest_databases",
    "pytest_databases.docker",
    "pytest_databases.docker.azure_blob",
)
"""Plugins the reference's conftest lists in ``pytest_plugins``, replaced by empty modules."""

PYTEST_INI = """\
[pytest]
anyio_mode = auto
addopts = -ra --strict-markers --tb=short -p no:cacheprovider
filterwarnings =
    ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning
"""


class NotUnderTest:
    """Stands for a part of the reference that memstore does not implement: it can be made, not used."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        """Accept whatever the reference's class would."""

    def __getattr__(self, name: str) -> NoReturn:
        """Refuse every use: the reference's own code is not what is under test."""
        raise RuntimeError(f"{type(self).__name__}.{name}: this part of the reference is not under test")


class SuiteUnavailableError(Exception):
    """The reference's tests could not be obtained.

    Attributes:
        exit_code: ``EXIT_NO_TESTS`` or ``EXIT_UNREACHABLE``.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        """Create the error with the exit status it maps to."""
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ReferenceTests:
    """The reference's test files that are run, read from one source.

    Attributes:
        files: Path in the reference's repository (``tests/...``) -> contents.
        description: Where they came from, for the report.
    """

    files: Mapping[str, bytes]
    description: str


# --------------------------------------------------------------------------- obtaining the tests


def _select(members: Mapping[str, bytes], description: str) -> ReferenceTests:
    missing = [name for name in REQUIRED_FILES if name not in members]
    if missing:
        raise SuiteUnavailableError(f"{description} has none of {', '.join(missing)}", EXIT_NO_TESTS)
    wanted = REQUIRED_FILES + OPTIONAL_FILES
    return ReferenceTests({name: members[name] for name in wanted if name in members}, description)


def read_sdist(archive: Path) -> ReferenceTests:
    """Read the selected test files from an sdist (``.tar.gz``); nothing else is extracted."""
    members: dict[str, bytes] = {}
    with tarfile.open(archive, "r:gz") as tar:
        names: list[str] = []
        for info in tar.getmembers():
            _, _, inner = info.name.partition("/")
            if inner:
                names.append(inner)
            if info.isfile() and inner in REQUIRED_FILES + OPTIONAL_FILES:
                extracted = tar.extractfile(info)
                if extracted is not None:
                    members[inner] = extracted.read()
    if not any(name in members for name in REQUIRED_FILES):
        shipped = sorted({name.split("/")[0] for name in names if name})
        raise SuiteUnavailableError(
            f"the sdist {archive.name} ships no tests (it holds only: {', '.join(shipped)}); "
            f"point --tests-from (or {SOURCE_ENV}) at a checkout or git directory of the reference",
            EXIT_NO_TESTS,
        )
    return _select(members, f"sdist {archive.name}")


def read_checkout(path: Path, rev: str = "HEAD") -> ReferenceTests:
    """Read the selected test files from a checkout (a directory with ``tests/``) or a git directory."""
    if (path / "tests").is_dir():
        files = {
            name: (path / name).read_bytes()
            for name in REQUIRED_FILES + OPTIONAL_FILES
            if (path / name).is_file()
        }
        return _select(files, f"checkout {path}")
    if not (path / "HEAD").is_file() and (path / ".git").exists():
        path = path / ".git"
    if not (path / "HEAD").is_file():
        raise SuiteUnavailableError(
            f"{path} is neither a checkout with tests/ nor a git directory", EXIT_NO_TESTS
        )
    commit = _git(path, "rev-parse", "--verify", f"{rev}^{{commit}}").decode().strip()
    files = {}
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        try:
            files[name] = _git(path, "show", f"{commit}:{name}")
        except subprocess.CalledProcessError:
            continue
    return _select(files, f"git {path} at {commit[:12]}")


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, timeout=60
    ).stdout


def _index_url() -> str:
    return os.environ.get("PIP_INDEX_URL", DEFAULT_INDEX).rstrip("/")


def download_sdist(version: str, cache_dir: Path) -> Path:
    """Return the reference's sdist for ``version``, downloading it into ``cache_dir`` if needed.

    The file is found through the index's JSON API (PEP 691) and checked against the SHA-256
    the index publishes (and, for known versions, the one pinned here). A cached copy whose
    digest matches is used without asking the index.

    Raises:
        SuiteUnavailableError: the index cannot be reached (``EXIT_UNREACHABLE``).
    """
    filename = f"{PROJECT.replace('-', '_')}-{version}.tar.gz"
    target = cache_dir / filename
    pinned = KNOWN_SHA256.get(version)
    if target.is_file() and pinned is not None and _sha256(target.read_bytes()) == pinned:
        return target
    index = f"{_index_url()}/{PROJECT}/"
    try:
        url, published = _find_in_index(index, filename)
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        if target.is_file() and pinned is None:
            return target  # an unpinned version cached by an earlier run
        raise SuiteUnavailableError(f"PyPI is unreachable ({index}): {exc}", EXIT_UNREACHABLE) from exc
    digest = _sha256(data)
    expected = [want for want in (published, pinned) if want is not None]
    if any(digest != want for want in expected):
        raise RuntimeError(f"{filename}: SHA-256 {digest} does not match {expected}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def _find_in_index(index: str, filename: str) -> tuple[str, str | None]:
    """Return the URL of ``filename`` on the index page ``index`` and its published SHA-256.

    Asks for the JSON form (PEP 691) and falls back to the HTML one (PEP 503).
    """
    accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
    request = urllib.request.Request(index, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=60) as response:
        kind = response.headers.get_content_type()
        body = response.read()
    if kind == "application/vnd.pypi.simple.v1+json":
        for entry in json.loads(body)["files"]:
            if entry["filename"] == filename:
                return urllib.parse.urljoin(index, entry["url"]), entry.get("hashes", {}).get("sha256")
    else:
        for href in re.findall(r'href="([^"]+)"', body.decode("utf-8", "replace")):
            url, _, fragment = html.unescape(href).partition("#")
            if url.rsplit("/", 1)[-1] == filename:
                digest = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
                return urllib.parse.urljoin(index, url), digest
    raise SuiteUnavailableError(f"{index} lists no {filename}", EXIT_NO_TESTS)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- running them


def write_suite(tests: ReferenceTests, work_dir: Path) -> list[Path]:
    """Write the test files under ``work_dir/reference_tests`` and a pytest.ini; return the test paths."""
    for name, content in tests.files.items():
        path = work_dir / PACKAGE / name.removeprefix("tests/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (work_dir / "pytest.ini").write_text(PYTEST_INI)
    return [work_dir / PACKAGE / name.removeprefix("tests/") for name in TEST_FILES]


def run_suite(tests: ReferenceTests, pytest_args: Sequence[str] = (), timeout: float = 600) -> int:
    """Run ``tests`` against memstore with pytest in a subprocess; return pytest's exit status."""
    with tempfile.TemporaryDirectory(prefix="memstore-reference-suite-") as tmp:
        work_dir = Path(tmp)
        paths = write_suite(tests, work_dir)
        env = dict(os.environ)
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only the plugins below: no memstore plugin, no extras
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "tools"), str(ROOT), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        env[DESCRIPTION_ENV] = tests.description
        env.pop("PYTEST_ADDOPTS", None)
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(work_dir / "pytest.ini"),
            "--rootdir",
            str(work_dir),
            "-p",
            "anyio.pytest_plugin",
            "-p",
            "reference_suite",
            *[str(path) for path in paths],
            *pytest_args,
        ]
        sys.stdout.flush()
        return subprocess.run(command, cwd=work_dir, env=env, timeout=timeout, check=False).returncode


def obtain(version: str, tests_from: Path | None, rev: str, cache_dir: Path) -> ReferenceTests:
    """Read the reference's tests from ``tests_from`` if given, else from the sdist of ``version``."""
    if tests_from is not None:
        return read_checkout(tests_from, rev)
    return read_sdist(download_sdist(version, cache_dir))


def main(argv: Sequence[str] | None = None) -> int:
    """Obtain the reference's tests and run them against memstore; returns the exit status."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--version", default=DEFAULT_VERSION, help="the reference's version (default: %(default)s)"
    )
    parser.add_argument(
        "--tests-from",
        type=Path,
        default=Path(os.environ[SOURCE_ENV]) if os.environ.get(SOURCE_ENV) else None,
        help=f"a checkout or git directory of the reference to read the tests from (default: ${SOURCE_ENV})",
    )
    parser.add_argument("--rev", default="HEAD", help="with a git directory: the revision (default: HEAD)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where sdists are kept")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    try:
        tests = obtain(args.version, args.tests_from, args.rev, args.cache_dir)
    except SuiteUnavailableError as exc:
        print(f"reference-suite: unavailable: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"reference-suite: {PROJECT} tests from {tests.description}: {', '.join(TEST_FILES)}")
    return run_suite(tests, args.pytest_args)


# ------------------------------------------------------------- the pytest plugin (-p reference_suite)


def install_shim() -> None:
    """Bind the reference's module names to memstore's objects (see ``SHIM``) and stub its test plugins."""
    import memstore

    for name in (*SHIM, *PLACEHOLDERS, *STAND_INS):
        loaded = sys.modules.get(name)
        if loaded is not None and not getattr(loaded, "__memstore_shim__", False):
            raise RuntimeError(f"{name} was imported before the memstore shim could replace it")
    for name, exported in SHIM.items():
        module = types.ModuleType(name, f"memstore standing in for the reference's {name}")
        module.__memstore_shim__ = True  # type: ignore[attr-defined]
        module.__all__ = list(exported)  # type: ignore[attr-defined]
        for attr in exported:
            setattr(module, attr, getattr(memstore, attr))
        sys.modules[name] = module
    for name, exported in PLACEHOLDERS.items():
        module = types.ModuleType(name, f"placeholders for the reference's {name}, which is not under test")
        module.__memstore_shim__ = True  # type: ignore[attr-defined]
        for attr in exported:
            setattr(module, attr, type(attr, (NotUnderTest,), {"__module__": name}))
        sys.modules[name] = module
    for name in STAND_INS:
        module = types.ModuleType(name, "an empty stand-in: the reference's async tests run on anyio")
        module.__memstore_shim__ = True  # type: ignore[attr-defined]
        sys.modules[name] = module
    for name in (*SHIM, *PLACEHOLDERS, *STAND_INS):  # parents know their children, as after a real import
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, sys.modules[name])


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """Install the shim before the reference's conftest is imported."""
    install_shim()


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which tests run against which memstore, and what stands for what."""
    import memstore

    mapped = ", ".join(SHIM["litestar_storages"])
    return [
        f"reference suite: {PROJECT} tests from {os.environ.get(DESCRIPTION_ENV, '?')}",
        f"memstore under test: {Path(memstore.__file__).parent}",
        f"litestar_storages.* resolve to memstore's {mapped}",
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the runs on the reference's filesystem backend and on anyio backends but asyncio."""
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        params: Mapping[str, object] = callspec.params if callspec is not None else {}
        if (
            params.get("any_storage", "memory") != "memory"
            or params.get("anyio_backend", "asyncio") != "asyncio"
        ):
            deselected.append(item)
        else:
            kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


if __name__ == "__main__":
    sys.exit(main())
