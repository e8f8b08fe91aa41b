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

What a refresh costs, with ``n`` files stored:

* the totals, the quota gauge and the per-folder breakdown: O(number of top-level
  folders), from counters the storage keeps up to date on every write;
* rows in key order, with or without a prefix filter: O(log n + page);
* rows newest first: O(page) for the first pages (the storage keeps its files in
  modification order), O(offset) further down;
* rows by size, and any glob filter: a snapshot of the candidate range, O(log n + k).
  A glob narrows the range by its literal start (``logs/2024-*`` reads only the keys
  under ``logs/2024-``), but a glob that starts with a wildcard (``*.csv``) scans every
  key. The result is cached until the storage changes, and the live throttle stretches
  to four times the time such a refresh took.
"""

from memstore.notebook._browser import StorageBrowser

__all__ = ["StorageBrowser"]
