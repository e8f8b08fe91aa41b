"""A live ipywidgets browser for memory storages (the ``notebook`` extra).

:class:`StorageBrowser` shows what a :class:`~memstore.MemoryStorage` or a
:class:`~memstore.SyncMemoryStorage` holds and follows its changes live, from any
thread::

    from memstore import SyncMemoryStorage
    from memstore.notebook import StorageBrowser

    storage = SyncMemoryStorage()
    StorageBrowser(storage)        # or storage.browse()

It is built from plain ipywidgets (no custom JavaScript), so it works in JupyterLab,
Notebook 7, VS Code and Voila. This package needs ``ipywidgets``
(``pip install memstore[notebook]``); the rest of memstore does not import it.

It opens on the root folder: a breadcrumb (``root / data / 2024``, each part
clickable, and an "up" button), then the sub-folders (with their file counts and sizes)
and the files directly in the folder; choosing a folder row opens it
(:meth:`StorageBrowser.open_folder` and :attr:`StorageBrowser.folder` do the same
from code). The filter box shows a flat list of files from every folder instead: a
key prefix (``data/``), or a glob matched by the storage's ``glob``, where ``*``, ``?``
and ``[...]`` stay within one folder and ``**`` crosses folders (``*.csv`` is the CSV
files at the top level, ``**/*.csv`` every CSV file).

What a refresh costs, with ``n`` files stored:

* the totals, the quota gauge and the per-folder breakdown: O(number of top-level
  folders), from counters the storage keeps up to date on every write;
* a folder with sub-folders: O((1 + k) log n) for its ``k`` sub-folders and direct
  files (``list_dir`` and ``get_prefix_usage``; the files further down are never read),
  plus a sort of the direct files when they are ordered by size or modification time;
  a folder without sub-folders (a flat store's root) is paged like a prefix filter;
* a prefix filter in key order: O(log n + page);
* a prefix filter newest first: O(page) for the first pages (the storage keeps its
  files in modification order), O(offset) further down;
* a prefix filter by size, and any glob: a snapshot of the candidate range,
  O(log n + k). ``glob`` narrows the range by the pattern's literal start
  (``logs/2024-*`` reads only the keys under ``logs/2024-``), but a glob that starts
  with a wildcard (``*.csv``, ``**/*.csv``) scans every key.

Listings and scans are cached until the storage changes, and the live throttle
stretches to four times the time a refresh took.
"""

try:
    import ipywidgets  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "memstore's notebook browser needs ipywidgets, which comes with the notebook extra: "
        'pip install "memstore[notebook]"'
    ) from exc

from memstore.notebook._browser import StorageBrowser

__all__ = ["StorageBrowser"]
