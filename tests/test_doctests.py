"""Run the ``>>>`` examples of memstore's docstrings and of the documentation's pages.

What is collected:

* the docstrings of every public memstore object: the modules ``memstore``,
  ``memstore.base``, ``memstore.exceptions``, ``memstore.memory``, ``memstore.types``,
  ``memstore.pytest_plugin`` and ``memstore.notebook``; every name in ``memstore.__all__``
  and ``memstore.exceptions.__all__``; ``memstore.notebook.StorageBrowser``; and every
  public member (plus ``__init__``) of those classes, including members a class inherits
  from another memstore class (``SyncMemoryStorage.wrap`` comes from the facade base);
* the ```` ```pycon ```` blocks of the pages under ``docs/``, one test per page, the
  blocks of a page sharing their globals like the cells of a notebook (code meant only
  for a notebook is written as ```` ```python ```` and not run).

Each docstring or page is one test, named after it. Examples run with ``ELLIPSIS`` and
``NORMALIZE_WHITESPACE``, with memstore's public names (and those of the object's own
module) as globals. A docstring or page in which any example uses ``await``, ``async for``
or ``async with`` runs, as a whole, through :class:`AwaitingDocTestRunner` on asyncio and
on trio; the others run once with the plain :class:`doctest.DocTestRunner`. Examples
that cannot run here (they need a notebook front end) carry ``# doctest: +SKIP``.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import re
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest

import memstore
import memstore.exceptions

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
PUBLIC_MODULES = [
    "memstore",
    "memstore.base",
    "memstore.exceptions",
    "memstore.memory",
    "memstore.types",
    "memstore.pytest_plugin",
    "memstore.notebook",  # needs ipywidgets (the notebook extra); left out without it
]
_PYCON = re.compile(r"^(?P<fence>`{3,}|~{3,})pycon[ \t]*\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
_HOOK = "__memstore_doctest_execute__"

# ------------------------------------------------------------------------ collection


def _import(name: str) -> types.ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        if name == "memstore.notebook":
            return None
        raise


def _public_objects() -> dict[str, Any]:
    """Every public memstore object whose docstring is checked, by its public name."""
    found: dict[str, Any] = {}
    for modname in PUBLIC_MODULES:
        module = _import(modname)
        if module is not None:
            found[modname] = module
    roots = [(f"memstore.{n}", getattr(memstore, n)) for n in memstore.__all__]
    roots += [
        (f"memstore.exceptions.{n}", getattr(memstore.exceptions, n)) for n in memstore.exceptions.__all__
    ]
    notebook = found.get("memstore.notebook")
    if notebook is not None:
        roots.append(("memstore.notebook.StorageBrowser", notebook.StorageBrowser))
    pytest_plugin = found["memstore.pytest_plugin"]
    roots += [(f"memstore.pytest_plugin.{n}", getattr(pytest_plugin, n)) for n in pytest_plugin.__all__]
    seen = {id(obj) for obj in found.values()}
    for name, obj in roots:
        if id(obj) in seen:  # memstore.exceptions.StorageError is memstore.StorageError
            continue
        if not isinstance(obj, type) and obj.__doc__ == type(obj).__doc__:
            continue  # a constant or a type alias: its __doc__ is its type's (int's, UnionType's)
        seen.add(id(obj))
        found[name] = obj
        if isinstance(obj, type):
            for member, value in _members(obj):
                found[f"{name}.{member}"] = value
    return found


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    """The public members (and ``__init__``) of ``cls`` defined by memstore classes in its MRO."""
    done: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("memstore"):
            continue
        for member, value in vars(klass).items():
            if member in done or (member.startswith("_") and member != "__init__"):
                continue
            done.add(member)
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            elif isinstance(value, property):
                value = value.fget
            if inspect.isfunction(value):
                yield member, value


def _namespace(obj: Any) -> dict[str, Any]:
    """Globals for examples: memstore's public names, then those of the object's module."""
    globs: dict[str, Any] = {"memstore": memstore}
    globs.update((name, getattr(memstore, name)) for name in memstore.__all__)
    module = obj if isinstance(obj, types.ModuleType) else inspect.getmodule(obj)
    if module is not None:
        globs.update((name, getattr(module, name)) for name in getattr(module, "__all__", ()))
    return globs


def _docstring_test(name: str, obj: Any) -> doctest.DocTest | None:
    finder = doctest.DocTestFinder(recurse=False)
    module = obj if isinstance(obj, types.ModuleType) else inspect.getmodule(obj)
    tests = finder.find(obj, name, module=module, globs=_namespace(obj))
    return tests[0] if tests and tests[0].examples else None


def _page_test(path: Path) -> doctest.DocTest | None:
    """The ``pycon`` blocks of a page as one test; other lines are blanked to keep line numbers."""
    text = path.read_text(encoding="utf-8")
    lines = [""] * (text.count("\n") + 1)
    for block in _PYCON.finditer(text):
        first = text.count("\n", 0, block.start("body"))
        for offset, line in enumerate(block.group("body").splitlines()):
            lines[first + offset] = line
    name = path.relative_to(ROOT).as_posix()
    test = doctest.DocTestParser().get_doctest("\n".join(lines), _namespace(memstore), name, str(path), 0)
    return test if test.examples else None


def _collect() -> dict[str, Callable[[], doctest.DocTest | None]]:
    factories: dict[str, Callable[[], doctest.DocTest | None]] = {}
    for name, obj in _public_objects().items():
        if _docstring_test(name, obj) is not None:
            factories[name] = lambda name=name, obj=obj: _docstring_test(name, obj)  # type: ignore[misc]
    for path in sorted(DOCS.rglob("*.md")):
        if "_build" in path.parts or "_static" in path.parts:
            continue
        if _page_test(path) is not None:
            factories[path.relative_to(ROOT).as_posix()] = lambda path=path: _page_test(path)  # type: ignore[misc]
    return factories


def _awaits(test: doctest.DocTest) -> bool:
    """Whether an example of ``test`` needs an event loop (top-level ``await`` and friends)."""
    for example in test.examples:
        try:
            code = compile(example.source, "<doctest>", "single", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, True)
        except SyntaxError:
            continue
        if code.co_flags & inspect.CO_COROUTINE:
            return True
    return False


FACTORIES = _collect()
_TESTS = {name: factory() for name, factory in FACTORIES.items()}
SYNC_TESTS = sorted(name for name, test in _TESTS.items() if test is not None and not _awaits(test))
ASYNC_TESTS = sorted(name for name, test in _TESTS.items() if test is not None and _awaits(test))
del _TESTS

# ------------------------------------------------------------------------ running


async def _await(awaitable: Any) -> Any:
    return await awaitable


class AwaitingDocTestRunner(doctest.DocTestRunner):
    """A :class:`doctest.DocTestRunner` whose examples may use top-level ``await``.

    :meth:`run` must be called in a worker thread of a running anyio event loop (use
    ``anyio.to_thread.run_sync``). Each example is compiled with
    ``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT``; when that makes a coroutine (the example awaits),
    it is run to completion on the event loop with ``anyio.from_thread.run``, otherwise the
    code runs right away in the worker thread. All the examples of a test share its
    globals and its one event loop, so objects bound to the loop survive from one
    example to the next. Output and exceptions are checked exactly as doctest does.
    """

    def run(
        self,
        test: doctest.DocTest,
        compileflags: int | None = None,
        out: Callable[[str], object] | None = None,
        clear_globs: bool = True,
    ) -> doctest.TestResults:
        """Run ``test`` as :meth:`doctest.DocTestRunner.run` does, awaiting what needs it."""
        self._sources: dict[int, str] = {}
        for index, example in enumerate(test.examples):
            self._sources[id(example)] = example.source
            filename = f"<doctest {test.name}[{index}]>"
            # The plain runner compiles and executes this call; the call runs the example.
            example.source = f"{_HOOK}({example.source!r}, {filename!r})\n"
        test.globs[_HOOK] = lambda source, filename: self._execute(source, filename, test.globs)
        try:
            return super().run(test, compileflags, out, clear_globs)
        finally:
            for example in test.examples:
                example.source = self._sources[id(example)]

    @staticmethod
    def _execute(source: str, filename: str, globs: dict[str, Any]) -> None:
        code = compile(source, filename, "single", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, True)
        if code.co_flags & inspect.CO_COROUTINE:
            anyio.from_thread.run(_await, eval(code, globs))
        else:
            exec(code, globs)

    def _failure_header(self, test: doctest.DocTest, example: doctest.Example) -> str:
        """Show the example as written, not the call that runs it."""
        original = doctest.Example(
            self._sources.get(id(example), example.source),
            example.want,
            example.exc_msg,
            example.lineno,
            example.indent,
            example.options,
        )
        header: str = super()._failure_header(test, original)  # type: ignore[misc]  # not in typeshed
        return header


def _check(runner: doctest.DocTestRunner, test: doctest.DocTest) -> None:
    report: list[str] = []
    result = runner.run(test, out=report.append)
    if result.failed:
        pytest.fail("".join(report), pytrace=False)
    if result.attempted == 0:
        pytest.skip("every example is marked +SKIP")


def _build(name: str) -> doctest.DocTest:
    test = FACTORIES[name]()
    assert test is not None, f"{name} has no examples any more"
    return test


@pytest.mark.parametrize("name", SYNC_TESTS)
def test_examples(name: str) -> None:
    _check(doctest.DocTestRunner(optionflags=OPTIONS), _build(name))


@pytest.mark.anyio
@pytest.mark.parametrize("name", ASYNC_TESTS)
async def test_async_examples(name: str) -> None:
    test = _build(name)
    await anyio.to_thread.run_sync(_check, AwaitingDocTestRunner(optionflags=OPTIONS), test)


# ------------------------------------------------------------- the harness itself


def test_the_examples_are_collected() -> None:
    names = set(SYNC_TESTS) | set(ASYNC_TESTS)
    for expected in ["memstore", "memstore.MemoryStorage", "memstore.SyncMemoryStorage", "docs/index.md"]:
        assert expected in names
    assert "memstore.MemoryStorage" in ASYNC_TESTS
    assert "memstore.SyncMemoryStorage" in SYNC_TESTS
    assert len(names) >= 8, names


_WRONG = """
>>> from memstore import SyncMemoryStorage
>>> storage = SyncMemoryStorage()
>>> storage.put("a.txt", b"hi").size
3
"""

_WRONG_ASYNC = """
>>> storage = MemoryStorage()
>>> await storage.put("a.txt", b"hi")
StoredFile(key='a.txt', size=2, ...)
>>> await storage.get_bytes("a.txt")
b'ho'
>>> await storage.exists("b.txt")
Traceback (most recent call last):
  ...
KeyError: 'b.txt'
"""


def _failures(runner: doctest.DocTestRunner, text: str) -> tuple[int, str]:
    test = doctest.DocTestParser().get_doctest(text, _namespace(memstore), "wrong", "<wrong>", 0)
    report: list[str] = []
    result = runner.run(test, out=report.append)
    return result.failed, "".join(report)


def test_a_wrong_example_fails() -> None:
    failed, report = _failures(doctest.DocTestRunner(optionflags=OPTIONS), _WRONG)
    assert failed == 1
    assert "Expected:\n    3\nGot:\n    2" in report


@pytest.mark.anyio
async def test_a_wrong_async_example_fails() -> None:
    runner = AwaitingDocTestRunner(optionflags=OPTIONS)
    failed, report = await anyio.to_thread.run_sync(_failures, runner, _WRONG_ASYNC)
    assert failed == 2
    assert "    await storage.get_bytes(\"a.txt\")\nExpected:\n    b'ho'\nGot:\n    b'hi'" in report
    assert "Expected:\n    Traceback (most recent call last):" in report
    assert _HOOK not in report
