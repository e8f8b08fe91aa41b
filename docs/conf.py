"""Sphinx configuration for memstore's documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (``./dev.sh docs``).
CI treats every warning as an error. Nothing here touches the network.
"""

from __future__ import annotations

import atexit
import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docstrings import prepare_docstring
from sphinx.util.inspect import signature as sphinx_signature
from sphinx.util.inspect import stringify_signature

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document the checkout, not some other installed copy

import memstore  # noqa: E402

logger = logging.getLogger("memstore.docs")

# -- Project -----------------------------------------------------------------------

project = "memstore"
author = "The memstore developers"
copyright = "2026, The memstore developers"
release = memstore.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_nb",  # also provides MyST markdown (do not add myst_parser as well)
]
# sphinx.ext.intersphinx is deliberately off: the build must not need the network.

exclude_patterns = [
    "_build",
    "_static",  # benchmark results are {include}d by comparison.md, not pages of their own
    "**.ipynb_checkpoints",
    "Thumbs.db",
    ".DS_Store",
]
templates_path: list[str] = []

# -- Tutorials: the notebooks in ../notebooks, rendered by myst-nb --------------------
#
# myst-nb renders only notebooks inside the source directory, so they are mirrored into
# docs/tutorials/ (git-ignored) every time this file is loaded, i.e. at the start of each
# build. A notebook is copied only when its contents changed (so incremental builds stay
# incremental), and copies of notebooks that no longer exist are removed. tutorials.md
# globs the folder, so a new notebook shows up without touching the docs.

NOTEBOOKS = ROOT / "notebooks"
TUTORIALS = DOCS / "tutorials"


def sync_notebooks(source: Path = NOTEBOOKS, target: Path = TUTORIALS) -> list[str]:
    """Mirror ``source/*.ipynb`` into ``target``; return the notebook names."""
    target.mkdir(exist_ok=True)
    wanted = {p.name: p for p in sorted(source.glob("*.ipynb"))}
    for stale in target.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for name, path in wanted.items():
        copy = target / name
        if not copy.exists() or not filecmp.cmp(path, copy, shallow=False):
            shutil.copyfile(path, copy)
    return sorted(wanted)


sync_notebooks()

# The notebooks are committed without outputs. Executing all five takes about 10 s on a
# 2-core machine (a whole cold build about 15 s), well under a minute, and it is
# reliable (the test suite runs the same notebooks in a real kernel), so the pages are
# executed at every build and show real outputs. A cell error fails the build.
nb_execution_mode = "force"
nb_execution_timeout = 120  # per cell
nb_execution_raise_on_error = True
nb_execution_show_tb = True  # print the traceback in the build log when a cell fails
nb_merge_streams = True
nb_kernel_rgx_aliases = {".*": "python3"}

# The kernels that execute the tutorials get a private IPython directory (nothing from the
# builder's own profile leaks in, nothing is written into it) whose kernel config drops the
# one line ipykernel logs about unencrypted TCP: myst-nb starts its kernels itself, on
# loopback TCP, and offers no way to choose IPC. Every other kernel message still shows.
_IPYTHON_DIR = Path(tempfile.mkdtemp(prefix="memstore-docs-ipython-"))
atexit.register(shutil.rmtree, _IPYTHON_DIR, ignore_errors=True)
(_IPYTHON_DIR / "profile_default").mkdir()
(_IPYTHON_DIR / "profile_default" / "ipython_kernel_config.py").write_text(
    "import logging\n\n\n"
    "class _NoTcpNotice(logging.Filter):\n"
    "    def filter(self, record):\n"
    "        return 'running over TCP without encryption' not in record.getMessage()\n\n\n"
    "logging.getLogger('IPKernelApp').addFilter(_NoTcpNotice())\n",
    encoding="utf-8",
)
os.environ["IPYTHONDIR"] = str(_IPYTHON_DIR)

# -- MyST ----------------------------------------------------------------------------

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc + napoleon (Google-style docstrings) ----------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autoclass_content = "class"  # plus __init__'s docstring when it documents arguments (see below)
autodoc_preserve_defaults = True
# Keep the type aliases readable in signatures (and link them to their entries).
autodoc_type_aliases = {
    "PutData": "memstore.PutData",
    "SyncPutData": "memstore.SyncPutData",
    "EventKind": "memstore.EventKind",
}
python_use_unqualified_type_names = True

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True
napoleon_custom_sections = [("Fixtures", "params_style")]  # memstore.pytest_plugin's docstring

# -- HTML ----------------------------------------------------------------------------

html_theme = "furo"
html_title = f"memstore {release}"
html_static_path = ["_static"]
pygments_style = "friendly"
pygments_dark_style = "monokai"

# -- autodoc adjustments ------------------------------------------------------------


def _memstore_modules() -> list[Any]:
    return [m for n, m in sorted(sys.modules.items()) if n == "memstore" or n.startswith("memstore.")]


_MISSING = object()


def _init_of(cls: type) -> Any:
    """The ``__init__`` that ``cls`` uses (found on the MRO, as attribute lookup does)."""
    return next((k.__dict__["__init__"] for k in cls.__mro__ if "__init__" in k.__dict__), None)


def attribute_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Give re-exported constants and type aliases the docstring written under their definition.

    ``memstore.PutData`` is defined (and documented) in ``memstore/_ops.py``; autodoc
    looks for the docstring under an assignment in the module it documents the
    name from (``memstore/__init__.py``) and otherwise falls back to the value's type's
    docstring (``int``'s, ``types.UnionType``'s). Find the defining module instead.
    """
    if what != "data" or not name.startswith("memstore."):
        return
    short = name.rsplit(".", 1)[1]
    for module in _memstore_modules():
        if module.__dict__.get(short, _MISSING) is not obj:
            continue
        docs = ModuleAnalyzer.for_module(module.__name__).find_attr_docs().get(("", short))
        if docs:
            lines[:] = list(docs)
            return


def init_arguments(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Append ``__init__``'s docstring to a class's when it documents the arguments.

    ``SyncMemoryStorage`` documents ``config`` and ``runner`` on ``__init__`` (shared by
    the generated facade); other classes document their arguments in the class docstring,
    and their one-line ``__init__`` docstrings ("Create the error for key.") add nothing.
    Runs before napoleon, so the appended Google-style sections are converted too.
    """
    if what not in ("class", "exception"):
        return
    doc = getattr(_init_of(obj), "__doc__", None)
    if not doc or "Args:" not in doc or "Args:" in "\n".join(lines):
        return
    lines.extend(["", *prepare_docstring(doc)])


def plain_signature(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str | None, ret: str | None
) -> tuple[str | None, str | None] | None:
    """Show a useful constructor signature where autodoc finds only ``(*args, **kwargs)``.

    A ``Protocol`` is never instantiated (no signature), and ipywidgets' metaclass hides
    ``StorageBrowser.__init__`` behind a generic ``__new__``.
    """
    if what != "class" or not isinstance(obj, type):
        return None
    if getattr(obj, "_is_protocol", False):
        return "", None
    if signature is not None and signature.replace(" ", "").startswith("(*args:t.Any"):
        sig = sphinx_signature(_init_of(obj), bound_method=True)
        return stringify_signature(sig, show_return_annotation=False, unqualified_typehints=True), None
    return None


# -- Checks --------------------------------------------------------------------------


def public_objects() -> dict[str, str]:
    """Every name the API reference must document, with what it is (for messages)."""
    expected = {f"memstore.{name}": "a name in memstore.__all__" for name in memstore.__all__}
    expected["memstore.exceptions"] = "the exceptions module"
    expected["memstore.notebook.StorageBrowser"] = "the notebook browser"
    expected["memstore.pytest_plugin"] = "the pytest plugin"
    for name in memstore.__all__:
        obj = getattr(memstore, name)
        if not isinstance(obj, type) or issubclass(obj, BaseException):
            continue
        for klass in obj.__mro__:
            if not klass.__module__.startswith("memstore"):
                continue
            for member in vars(klass):
                if not member.startswith("_"):
                    expected.setdefault(f"memstore.{name}.{member}", f"a public member of {name}")
    return expected


def check_api_complete(app: Sphinx, env: Any) -> None:
    """Warn (an error with -W) when a public name is missing from the API reference."""
    documented = set(env.domains.python_domain.objects)
    for name, what in sorted(public_objects().items()):
        if name not in documented:
            logger.warning("API reference: %s (%s) is not documented", name, what, type="memstore")


def warn_unresolved_memstore_ref(app: Sphinx, env: Any, node: Any, contnode: Any) -> None:
    """Make a broken cross-reference to a public memstore name a warning.

    A nitpicky mode for our own names only: without intersphinx (no network), references
    to the standard library and to other packages cannot resolve, and private helpers
    (``memstore._runner.BinaryReader`` in a signature) are deliberately undocumented.
    """
    target = str(node.get("reftarget", ""))
    parts = target.split(".")
    if node.get("refdomain") == "py" and parts[0] == "memstore" and not any(p.startswith("_") for p in parts):
        logger.warning("unresolved reference to %s", target, location=node, type="memstore")


BENCHMARKS = DOCS / "_static" / "benchmarks"


def check_benchmark_results(app: Sphinx) -> None:
    """Say how to produce the comparison page's results when they are missing."""
    missing = [n for n in ("results.md", "results.json", "scaling.png") if not (BENCHMARKS / n).is_file()]
    if missing:
        logger.warning(
            "comparison page: %s missing from docs/_static/benchmarks/; run "
            "`python -m benchmarks --out docs/_static/benchmarks` (a few minutes) and commit the results",
            ", ".join(missing),
            type="memstore",
        )


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", check_benchmark_results)
    app.connect("autodoc-process-docstring", attribute_docstring, priority=400)
    app.connect("autodoc-process-docstring", init_arguments, priority=400)  # before napoleon (500)
    app.connect("autodoc-process-signature", plain_signature)
    app.connect("env-check-consistency", check_api_complete)
    app.connect("missing-reference", warn_unresolved_memstore_ref)
    return {"parallel_read_safe": True}
