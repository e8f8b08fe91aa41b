"""The :class:`StorageBrowser` widget: a live view of a memory storage built from ipywidgets."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import ipywidgets as widgets

from memstore._html import human_size
from memstore._portal import PortalFacade
from memstore.base import BaseStorage, SyncBaseStorage
from memstore.exceptions import StorageClosedError, StorageError, StorageFileNotFoundError
from memstore.notebook import _render as r
from memstore.notebook._query import SORTS, Page, PageSource, SortKey, UsageTrend, parse_filter
from memstore.types import StorageEvent, StoredFile

__all__ = ["StorageBrowser"]

logger = logging.getLogger("memstore")

_SORT_OPTIONS = [
    ("key (A → Z)", "key"),
    ("size (largest first)", "size"),
    ("modified (newest first)", "modified"),
]
_MAX_PAGE_SIZE = 1000
_MIN_ROWS, _MAX_ROWS = 3, 20  # the list's height follows its rows within these bounds
_MAX_INTERVAL = 5.0  # the adaptive throttle never waits longer than this between refreshes
_FILTER_HELP = (
    "A key prefix (data/) lists every key under it, in all folders. A glob matches whole keys: "
    "*, ? and [...] stay within one folder, ** crosses folders: *.csv is the CSV files at the "
    "top level, **/*.csv every CSV file, logs/**/*.log every log under logs/. "
    "Empty: browse the folders."
)


def _parent(folder: str) -> str:
    """The folder above ``folder`` (``"a/b/"`` -> ``"a/"``; ``"a/"`` -> ``""``)."""
    return folder[: folder.rfind("/", 0, len(folder) - 1) + 1]


def _listener(ref: weakref.ReferenceType[StorageBrowser]) -> Callable[[StorageEvent], None]:
    """A storage subscriber that holds the browser only weakly."""

    def on_event(event: StorageEvent) -> None:
        browser = ref()
        if browser is not None:
            browser._note_change(event)

    return on_event


def _registry() -> dict[str, Any]:
    """Ipywidgets' registry of open widgets (model id -> widget)."""
    from ipywidgets.widgets import widget

    instances: dict[str, Any] = widget._instances
    return instances


def _preview_bytes(view: Any, file: StoredFile) -> tuple[bytes, bytes | None]:
    """What the details of ``file`` need, from one read.

    The bytes to preview, and the whole file when it is small enough for a download link
    (else ``None``).
    """
    if file.size <= max(r.DOWNLOAD_LIMIT, r.IMAGE_LIMIT):
        data: bytes = view.get_bytes(file.key)
        return data, (data if file.size <= r.DOWNLOAD_LIMIT else None)
    parts: list[bytes] = []
    have = 0
    chunks = view.get(file.key)
    try:
        for chunk in chunks:
            parts.append(chunk)
            have += len(chunk)
            if have >= r.PREVIEW_BYTES:
                break
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return b"".join(parts), None


def _flush(ref: weakref.ReferenceType[StorageBrowser]) -> None:
    """Body of the throttle's timer thread: refresh the browser if it still exists."""
    browser = ref()
    if browser is not None:
        browser._timer_fired()


class StorageBrowser(widgets.VBox):  # type: ignore[misc]
    """A live, paginated browser of a memory storage, for Jupyter notebooks and Voila.

    It shows the file count and bytes used, a quota gauge (warning at 80 %, danger at
    95 %), the ten largest top-level prefixes, the current folder as a breadcrumb
    (``root / data / 2024``, each part clickable, and an "up" button), its rows (the
    sub-folders first, by name, with their file counts and sizes, then the files
    directly in the folder; choosing a folder row opens it), a filter box, rows
    sortable by key, size or modification time, a details pane for the selected file
    (every field, the metadata, a preview of the first 4 KiB) and actions to delete the
    selected file (after a confirmation) and to refresh.

    The filter box switches to a flat list of files from every folder: a key prefix
    (``data/``) lists every key under it; a glob is matched by the storage's ``glob``,
    where ``*``, ``?`` and ``[...]`` stay within one folder and ``**`` crosses folders
    (``*.csv`` is the CSV files at the top level, ``**/*.csv`` every CSV file). Clearing
    the filter returns to the folder.

    It subscribes to the storage's events and re-renders at most every
    ``refresh_interval`` seconds however fast the storage changes, from a short-lived
    timer thread (never from asyncio tasks on the kernel's loop), with a trailing
    update so the last change always shows. A folder with sub-folders costs
    O((1 + k) log n) to read for its ``k`` sub-folders and direct files (never the
    files further down); a folder without sub-folders, and a prefix filter,
    O(log n + page) in key order. Sorting a prefix filter by size, or a
    glob, has to snapshot the candidate keys (every key, for a glob that starts with a
    wildcard). Listings are cached until the storage changes, and the throttle
    stretches to four times the time a refresh took.

    The storage holds the browser only weakly, and the browser holds the storage only
    weakly (it shows "closed" once the storage is gone). :meth:`close` unsubscribes, cancels a
    pending refresh and closes the widgets; like every ipywidget, an unclosed browser
    stays registered with the kernel until then.

    Every key, content type and metadata value is HTML-escaped wherever it appears;
    HTML and SVG files are previewed as source text, never rendered.

    Example:
        >>> from memstore import MemoryConfig, SyncMemoryStorage
        >>> storage = SyncMemoryStorage(MemoryConfig(max_size=10 * 2**20))
        >>> _ = storage.put("data/a.csv", b"x,y")
        >>> browser = StorageBrowser(storage)  # or storage.browse(); show it in a cell
        >>> browser.open_folder("data/")
        >>> browser.folder
        'data/'
        >>> browser.select("data/a.csv")
        >>> browser.selected
        'data/a.csv'
        >>> browser.close()
        >>> storage.close()

    Args:
        storage: Any storage of the contract: a :class:`~memstore.MemoryStorage`, a
            :class:`~memstore.SyncMemoryStorage`, or another backend's async
            (:class:`~memstore.BaseStorage`, read through its ``as_sync()`` face) or
            sync storage. The browser uses only public methods of the contract.
        page_size: Rows per page (1 to 1000).
        refresh_interval: Minimum seconds between two live refreshes (0.05 to 3600).
        pattern: Initial filter: a key prefix or a glob (``""``: browse the folders).
        sort: Initial order: ``"key"``, ``"size"`` (largest first) or ``"modified"``
            (newest first).
        **kwargs: Passed on to :class:`ipywidgets.VBox` (``layout`` ...).

    Raises:
        TypeError: If ``storage`` is neither storage class, or an argument has the
            wrong type.
        ValueError: If ``page_size``, ``refresh_interval`` or ``sort`` is out of range.
        StorageClosedError: If the storage is closed.
    """

    def __init__(
        self,
        storage: BaseStorage | SyncBaseStorage | PortalFacade,
        *,
        page_size: int = 50,
        refresh_interval: float = 0.25,
        pattern: str = "",
        sort: SortKey = "key",
        **kwargs: Any,
    ) -> None:
        """Build the widget tree, subscribe to the storage and render the first page."""
        if not isinstance(storage, (BaseStorage, SyncBaseStorage, PortalFacade)):
            raise TypeError(
                "StorageBrowser needs a storage of the memstore contract (a MemoryStorage, a "
                f"SyncMemoryStorage or another BaseStorage), not {type(storage).__name__}"
            )
        if type(page_size) is not int:
            raise TypeError(f"page_size must be an int, not {type(page_size).__name__}")
        if not 1 <= page_size <= _MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {_MAX_PAGE_SIZE}, got {page_size}")
        if not isinstance(refresh_interval, (int, float)) or isinstance(refresh_interval, bool):
            raise TypeError(f"refresh_interval must be a number, not {type(refresh_interval).__name__}")
        if not 0.05 <= refresh_interval <= 3600:  # also refuses NaN and infinity
            raise ValueError(
                f"refresh_interval must be between 0.05 and 3600 seconds, got {refresh_interval}"
            )
        if type(pattern) is not str:
            raise TypeError(f"pattern must be a str, not {type(pattern).__name__}")
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}; got {sort!r}")
        if storage.closed:
            raise StorageClosedError(f"cannot browse a closed {type(storage).__name__}")

        # Weakly: ipywidgets keeps every open widget alive until it is closed, and a
        # browser must not keep a storage (and all its bytes) alive with it.
        self._storage_ref: weakref.ReferenceType[Any] = weakref.ref(storage)
        self._storage_name = type(storage).__name__
        self._page_size = page_size
        self._interval = float(refresh_interval)
        self._source = PageSource()
        self._page_index = 0
        self._selected_key: str | None = None
        self._shown_rows: tuple[tuple[str, str], ...] = ()
        self._shown_folders: frozenset[str] = frozenset()  # the rows of _shown_rows that are folders
        self._folder = ""
        self._crumb_pool: list[Any] = []  # breadcrumb buttons, reused (never closed until close())
        self._sep_pool: list[Any] = []  # the "/" between them
        self._crumb_prefixes: list[str] = []  # the folder each shown crumb opens
        self._crumb_folder: str | None = None  # the folder the breadcrumb shows
        self._shown_file: StoredFile | None = None
        self._pending_delete: str | None = None
        self._clear_hidden = False  # set when the user changes the view: see _render_rows
        self._highlighted: str | None = None  # a folder row chosen with the keyboard
        self._syncing = 0  # the thread in which the browser itself changes the row selection
        self._is_closed = False

        # Live-refresh state, guarded by _state_lock (re-entrant: close() may run from
        # the garbage collector in any thread).
        self._state_lock = threading.RLock()
        self._render_lock = threading.RLock()
        self._generation = 0
        self._timer: threading.Timer | None = None
        self._last_refresh = 0.0
        self._current_interval = self._interval
        self.refresh_count = 0
        """How many times the browser re-rendered (for tests and curiosity)."""

        # Everything from here on is undone if any step fails: the widgets made so far
        # are closed (ipywidgets would keep them registered forever) and the storage
        # gets no subscriber that outlives a browser which was never returned.
        before = set(_registry())
        unsubscribe: Callable[[], None] | None = None
        try:
            self._build(pattern, sort)
            super().__init__(children=self._top_children, **kwargs)
            self.add_class("memstore-browser")
            self.layout.padding = "6px 10px"
            self.layout.border = "1px solid var(--jp-border-color2, #ddd)"
            # The storage holds only a weak reference; the finalizer unsubscribes when the
            # browser is collected without close() (and close() calls it directly).
            unsubscribe = storage.subscribe(_listener(weakref.ref(self)))
            self._finalizer = weakref.finalize(self, unsubscribe)
            self._finalizer.atexit = False
            self._render()
        except BaseException:
            if unsubscribe is not None:
                unsubscribe()
            self.__dict__["_is_closed"] = True
            registry = _registry()
            for model_id in set(registry) - before:
                widget = registry.get(model_id)
                if widget is self:
                    widgets.VBox.close(self)  # the widget part only: nothing else was set up
                elif widget is not None:
                    widget.close()
            raise

    # ------------------------------------------------------------------ building
    def _build(self, pattern: str, sort: SortKey) -> None:
        w = widgets
        style = w.HTML(r.STYLE, layout=w.Layout(display="none"))

        self._totals = w.HTML()
        self._totals.add_class("memstore-totals")
        self._gauge_bar = w.FloatProgress(value=0.0, min=0.0, max=100.0, layout=w.Layout(width="220px"))
        self._gauge_bar.add_class("memstore-gauge-bar")
        self._gauge_text = w.HTML()
        self._gauge_text.add_class("memstore-gauge-text")
        self._trend = UsageTrend()
        self._spark = w.HTML()
        self._spark.add_class("memstore-trend")
        gauge = w.HBox(
            [w.HTML("<b>quota</b>"), self._gauge_bar, self._gauge_text, self._spark],
            layout=w.Layout(align_items="center", grid_gap="6px"),
        )
        gauge.add_class("memstore-gauge")
        header = w.HBox(
            [self._totals, gauge],
            layout=w.Layout(justify_content="space-between", align_items="center", flex_flow="row wrap"),
        )
        header.add_class("memstore-header")

        self._breakdown = w.HTML()
        breakdown = w.VBox([w.HTML("<div class='memstore-section'>Largest folders</div>"), self._breakdown])
        breakdown.add_class("memstore-breakdown")

        self._filter = w.Text(
            value=pattern,
            placeholder="prefix (data/) or glob (**/*.csv), then Enter",
            continuous_update=False,
            description="filter",
            tooltip=_FILTER_HELP,
            layout=w.Layout(width="360px"),
        )
        self._filter.add_class("memstore-filter")
        self._sort = w.Dropdown(
            options=_SORT_OPTIONS, value=sort, description="sort by", layout=w.Layout(width="260px")
        )
        self._sort.add_class("memstore-sort")
        self._refresh_button = w.Button(description="Refresh", icon="refresh", tooltip="Re-read the storage")
        self._refresh_button.add_class("memstore-refresh")
        self._upload = w.FileUpload(
            description="Upload",
            multiple=True,
            tooltip="Store files in the folder shown (or drop them here)",
            layout=w.Layout(width="auto"),
        )
        self._upload.add_class("memstore-upload")
        controls = w.HBox(
            [self._filter, self._sort, self._refresh_button, self._upload],
            layout=w.Layout(align_items="center", grid_gap="8px", flex_flow="row wrap", margin="6px 0 2px 0"),
        )
        controls.add_class("memstore-controls")

        self._rows = w.Select(
            options=[],
            rows=_MIN_ROWS,
            layout=w.Layout(width="100%"),
        )
        self._rows.add_class("memstore-rows")
        self._prev = w.Button(description="◀ prev", layout=w.Layout(width="80px"))
        self._prev.add_class("memstore-prev")
        self._next = w.Button(description="next ▶", layout=w.Layout(width="80px"))
        self._next.add_class("memstore-next")
        self._page_label = w.HTML()
        self._page_label.add_class("memstore-page")
        pager = w.HBox(
            [self._prev, self._page_label, self._next], layout=w.Layout(align_items="center", grid_gap="8px")
        )
        pager.add_class("memstore-pager")
        self._up = w.Button(
            description="up",
            icon="arrow-up",
            tooltip="Open the folder above",
            disabled=True,
            layout=w.Layout(width="auto"),
        )
        self._up.add_class("memstore-up")
        self._breadcrumb = w.HBox([])
        self._breadcrumb.add_class("memstore-breadcrumb")
        self._folder_info = w.HTML()
        self._folder_info.add_class("memstore-folder-info")
        nav = w.HBox([self._up, self._breadcrumb, self._folder_info], layout=w.Layout(width="100%"))
        nav.add_class("memstore-nav")
        self._colhead = w.HTML(r.column_header("name"))
        listing = w.VBox(
            [nav, self._colhead, self._rows, pager],
            layout=w.Layout(flex="3 1 460px", min_width="0"),
        )
        listing.add_class("memstore-list")

        self._info = w.HTML()
        self._info.add_class("memstore-info")
        self._preview = w.HTML()
        self._preview.add_class("memstore-preview-box")
        self._image = w.Image(
            layout=w.Layout(
                display="none",
                align_self="flex-start",
                max_width="100%",
                max_height="260px",
                object_fit="contain",
            )
        )
        self._image.add_class("memstore-image")
        self._delete = w.Button(description="Delete", icon="trash", button_style="danger", disabled=True)
        self._delete.add_class("memstore-delete")
        self._confirm_text = w.HTML()
        self._confirm = w.Button(
            description="Confirm delete", button_style="danger", layout=w.Layout(width="auto")
        )
        self._confirm.add_class("memstore-confirm")
        self._cancel = w.Button(description="Cancel", layout=w.Layout(width="auto"))
        self._cancel.add_class("memstore-cancel")
        self._confirm_box = w.HBox(
            [self._confirm_text, self._confirm, self._cancel],
            layout=w.Layout(display="none", align_items="center", grid_gap="6px", flex_flow="row wrap"),
        )
        self._confirm_box.add_class("memstore-confirm-box")
        self._status = w.HTML()
        self._status.add_class("memstore-status")
        self._download = w.HTML()
        self._download.add_class("memstore-download-box")
        self._details = w.VBox(
            [
                w.HTML("<div class='memstore-section'>Details</div>"),
                self._info,
                w.HBox(
                    [self._delete, self._download], layout=w.Layout(align_items="center", grid_gap="10px")
                ),
                self._confirm_box,
                self._status,
                self._preview,
                self._image,
            ],
            layout=w.Layout(flex="2 1 300px", min_width="0"),
        )
        self._details.add_class("memstore-details")
        body = w.HBox(
            [listing, self._details],
            layout=w.Layout(
                flex_flow="row wrap", grid_gap="12px", align_items="flex-start", margin="4px 0 0 0"
            ),
        )
        body.add_class("memstore-body")

        from memstore.notebook._keys import KeyBridge

        self._keys = KeyBridge()
        self._top_children = (style, header, breakdown, controls, body, self._keys)

        self._filter.observe(self._on_filter, names="value")
        self._sort.observe(self._on_sort, names="value")
        self._rows.observe(self._on_row, names="value")
        self._refresh_button.on_click(self._on_refresh)
        self._upload.observe(self._on_upload, names="value")
        self._keys.on_msg(self._on_key)
        self._prev.on_click(self._on_prev)
        self._up.on_click(self._on_up)
        self._next.on_click(self._on_next)
        self._delete.on_click(self._on_delete)
        self._confirm.on_click(self._on_confirm)
        self._cancel.on_click(self._on_cancel)

    def _all_widgets(self) -> list[Any]:
        """Every widget of the tree below the browser, once each (children first, depth-first)."""
        found: list[Any] = []
        seen: set[int] = set()

        def add(widget: Any) -> None:
            if id(widget) not in seen:
                seen.add(id(widget))
                found.append(widget)

        def walk(widget: Any) -> None:
            for child in getattr(widget, "children", ()):
                walk(child)
                add(child)
            for attr in ("layout", "style"):
                sub = getattr(widget, attr, None)
                if isinstance(sub, widgets.Widget):
                    add(sub)

        for child in self.__dict__.get("_top_children", ()):
            walk(child)
            add(child)
        # Breadcrumb parts not on show at the moment are in no widget's children.
        for child in [*self.__dict__.get("_crumb_pool", ()), *self.__dict__.get("_sep_pool", ())]:
            walk(child)
            add(child)
        if isinstance(getattr(self, "layout", None), widgets.Widget):
            found.append(self.layout)
        return found

    # ------------------------------------------------------------ public API
    @property
    def storage(self) -> Any:
        """The storage this browser shows (the object it was given).

        Raises:
            StorageClosedError: If that storage no longer exists (the browser holds it
                only weakly; it shows "closed" then).
        """
        storage = self._storage_ref()
        if storage is None:
            raise StorageClosedError("the storage this browser showed no longer exists")
        return storage

    def _storage_gone_or_closed(self) -> bool:
        storage = self._storage_ref()
        return storage is None or bool(storage.closed)

    @contextmanager
    def _view(self) -> Iterator[Any]:
        """The storage's synchronous face for one render or action (None when it is gone).

        An async storage is read through ``as_sync()``; a face made here is closed
        afterwards, so the browser never holds the storage strongly between renders.
        """
        storage = self._storage_ref()
        if storage is None:
            yield None
            return
        if not isinstance(storage, BaseStorage):
            yield storage
            return
        view = storage.as_sync()
        try:
            yield view
        finally:
            view.close()

    @property
    def page(self) -> int:
        """The page shown, 0-based."""
        return self._page_index

    @property
    def folder(self) -> str:
        """The folder shown: ``""`` for the root, else a prefix ending with ``/`` (``"data/2024/"``).

        While the filter box holds a filter the rows are the filter's matches from every
        folder; the breadcrumb still shows this folder, and clearing the filter returns
        to it.
        """
        return self._folder

    def open_folder(self, prefix: str) -> None:
        """Show the folder ``prefix``: its sub-folders, then the files directly in it.

        ``""`` is the root; any other folder ends with ``/`` (``"data/"``,
        ``"data/2024/"``). It does not need to exist: a folder that holds no file shows
        no rows. Opening a folder clears the filter box and goes to the first page, as a
        click on the breadcrumb or on a folder row does.

        Raises:
            TypeError: If ``prefix`` is not a ``str``.
            ValueError: If ``prefix`` is neither ``""`` nor ends with ``/``.
        """
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
        prefix = str.__str__(prefix)
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"a folder is '' (the root) or ends with '/', got {prefix!r:.80}")
        self._open(prefix)

    @property
    def selected(self) -> str | None:
        """The key whose details are shown, or ``None``."""
        return self._selected_key

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._is_closed

    def select(self, key: str | None) -> None:
        """Show the details of ``key`` (``None`` clears the selection)."""
        if key is not None and type(key) is not str:
            raise TypeError(f"key must be a str or None, not {type(key).__name__}")
        with self._render_lock:
            self._selected_key = key
            self._pending_delete = None
            self._render()

    def refresh(self) -> None:
        """Re-read the storage and re-render now (in the calling thread)."""
        with self._state_lock:
            self._generation += 1
        self._render()

    def close(self) -> None:
        """Unsubscribe from the storage, cancel a pending refresh and close the widgets.

        Idempotent. Afterwards no reference from the storage or from a thread remains.
        """
        if "_finalizer" not in self.__dict__:  # __init__ failed part-way (or is running)
            self._close_widgets()
            return
        with self._state_lock:
            if self._is_closed:
                return
            self._is_closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self._finalizer()  # unsubscribe (once)
        self._close_widgets()

    def _close_widgets(self) -> None:
        self.__dict__["_is_closed"] = True
        if "_top_children" in self.__dict__:
            for child in self._all_widgets():
                child.close()
        super().close()

    def __repr__(self) -> str:
        """A one-line text summary (the fallback outside a notebook front end)."""
        if self._is_closed:
            return "StorageBrowser(closed)"
        storage = self._storage_ref()
        shown = "<gone>" if storage is None else repr(storage)
        return (
            f"StorageBrowser({shown}, folder={self._folder!r}, page={self._page_index + 1}, "
            f"pattern={self._filter.value!r})"
        )

    # -------------------------------------------------------- live refreshing
    def _note_change(self, event: StorageEvent) -> None:
        """Storage subscriber (any thread): schedule a throttled refresh."""
        with self._state_lock:
            self._generation += 1
            self._source.invalidate()  # never keep the files of an outdated listing alive
            if self._is_closed or self._timer is not None:
                return
            delay = max(0.0, self._last_refresh + self._current_interval - time.monotonic())
            timer = threading.Timer(delay, _flush, args=(weakref.ref(self),))
            timer.daemon = True
            timer.name = "memstore-browser-refresh"
            self._timer = timer
        timer.start()

    def _timer_fired(self) -> None:
        with self._state_lock:
            self._timer = None
            if self._is_closed:
                return
        started = time.monotonic()
        self._last_refresh = started
        try:
            self._render()
        except Exception:  # a refresh thread has nobody to report to but the log
            logger.exception("memstore: the storage browser failed to refresh")
        took = time.monotonic() - started
        # Adaptive throttle: a refresh that has to scan may take a share of the CPU,
        # not all of it.
        self._current_interval = min(max(self._interval, 4.0 * took), _MAX_INTERVAL)

    # -------------------------------------------------------------- rendering
    def _render(self) -> None:
        """Bring every part of the widget up to date with the storage."""
        with self._render_lock:
            if self._is_closed:
                return
            self.refresh_count += 1
            with self._view() as view:
                if view is None or view.closed:
                    self._render_closed()
                    return
                try:
                    self._render_from(view)
                except StorageClosedError:  # closed while rendering
                    self._render_closed()

    def _render_from(self, view: Any) -> None:
        # Every read first, back to back, then every widget: the header, the gauge and
        # the page label of one render describe the same moment of the storage.
        usage = view.get_usage()
        breakdown = r.breakdown_html(view.get_prefix_usage(), usage.used_bytes)
        with self._state_lock:
            generation = self._generation
        flt = parse_filter(self._filter.value)
        sort = self._sort.value
        if flt.text:  # a flat list of the matching files from every folder
            page = self._source.page(view, flt, sort, self._page_index, self._page_size, generation)
            folder: str | None = None
        else:
            folder = self._folder
            page = self._source.folder_page(view, folder, sort, self._page_index, self._page_size, generation)
        self._page_index = page.index
        self._set_enabled(True)
        self._render_header(usage.file_count, usage.used_bytes)
        percent, text = r.gauge_text(usage)
        if percent is None:
            self._gauge_bar.layout.display = "none"
        else:
            self._gauge_bar.layout.display = None
            self._gauge_bar.value = min(percent, 100.0)
            self._gauge_bar.bar_style = r.fraction_style(percent)
        self._gauge_text.value = text
        self._trend.record(usage.used_bytes)
        self._spark.value = r.sparkline_html(self._trend.points(), usage.max_size)
        self._breakdown.value = breakdown
        self._render_nav(page, folder)
        self._render_rows(page, folder)
        self._render_pager(page, folder)
        self._render_details(view)

    def _set_enabled(self, enabled: bool) -> None:
        """Enable or disable the controls that need an open storage."""
        for control in (self._filter, self._sort, self._refresh_button, self._upload):
            control.disabled = not enabled

    def _render_header(self, files: int, used: int) -> None:
        self._totals.value = (
            f"<span class='memstore-title'><b>{r.esc(self._storage_name)}</b></span> · "
            f"<b>{files:,}</b> {'file' if files == 1 else 'files'} · <b>{r.esc(human_size(used))}</b> used"
        )

    def _render_closed(self) -> None:
        self._set_enabled(False)
        self._download.value = ""
        self._spark.value = ""
        self._totals.value = f"<b>{r.esc(self._storage_name)}</b> · <i>closed</i>"
        self._gauge_bar.layout.display = "none"
        self._gauge_text.value = ""
        self._breakdown.value = ""
        self._render_rows(Page([], 0, 0, 1, False), None)
        self._folder_info.value = ""
        self._page_label.value = "the storage is closed"
        self._prev.disabled = self._next.disabled = self._up.disabled = True
        self._selected_key = None
        self._render_details(None)

    def _render_nav(self, page: Page, folder: str | None) -> None:
        """The breadcrumb of the current folder, the up button and the folder's summary."""
        self._render_breadcrumb()
        self._up.disabled = not self._folder
        if folder is None:
            self._folder_info.value = (
                "<span class='memstore-muted'>filtered: matches from every folder "
                "(clear the filter to browse this folder)</span>"
            )
            self._colhead.value = r.column_header("key")
        else:
            self._folder_info.value = "" if page.below is None else r.folder_summary(page.below)
            self._colhead.value = r.column_header("name")

    def _render_breadcrumb(self) -> None:
        """``root / data / 2024`` as small buttons, rebuilt only when the folder changed.

        Buttons show their description as text (never HTML), so a hostile folder name
        needs no escaping there.
        """
        folder = self._folder
        if folder == self._crumb_folder:
            return
        crumbs = r.segments(folder)
        while len(self._crumb_pool) < len(crumbs):
            button = widgets.Button(layout=widgets.Layout(width="auto"))
            button.add_class("memstore-crumb")
            button.on_click(self._on_crumb)
            self._crumb_pool.append(button)
        while len(self._sep_pool) < len(crumbs) - 1:
            sep = widgets.HTML("<span>/</span>")
            sep.add_class("memstore-crumb-sep")
            self._sep_pool.append(sep)
        children: list[Any] = []
        for i, (name, prefix) in enumerate(crumbs):
            button = self._crumb_pool[i]
            button.description = name or "(empty)"
            button.tooltip = "Open the root folder" if not prefix else f"Open {prefix}"
            if i == len(crumbs) - 1:
                button.add_class("memstore-crumb-current")
            else:
                button.remove_class("memstore-crumb-current")
            if i:
                children.append(self._sep_pool[i - 1])
            children.append(button)
        self._crumb_prefixes = [prefix for _, prefix in crumbs]
        self._breadcrumb.children = children
        self._crumb_folder = folder

    def _render_rows(self, page: Page, folder: str | None) -> None:
        """The rows of ``page``: its folders (opened when chosen), then its files."""
        rows: list[tuple[str, str]] = []
        for usage in page.folders:
            name = usage.prefix[len(folder or "") :]
            rows.append((r.folder_label(usage, name), usage.prefix))
        for file in page.files:
            # Relative to the folder; the full key for a flat list (or a key that is the folder).
            relative = file.key[len(folder) :] if folder else None
            rows.append((r.row_label(file, relative or None), file.key))
        shown = tuple(rows)
        folders = frozenset(usage.prefix for usage in page.folders)
        if self._clear_hidden:
            # The user changed the view (filter, sort, page, folder): a selected file
            # that is no longer among the rows is no longer selected.
            self._clear_hidden = False
            if self._selected_key is not None and not any(
                key == self._selected_key for _, key in shown[len(page.folders) :]
            ):
                self._selected_key = None
                self._pending_delete = None
        # Only a file row shows the selection (a file's key may equal a folder's prefix).
        want = next(
            (i for i, (_, key) in enumerate(shown) if key == self._selected_key and i >= len(page.folders)),
            None,
        )
        if self._highlighted is not None:  # a folder row the keyboard is on keeps the selection
            folder_rows = shown[: len(page.folders)]
            want = next((i for i, (_, key) in enumerate(folder_rows) if key == self._highlighted), want)
        select = self._rows
        same = shown == self._shown_rows and folders == self._shown_folders
        if same and select.index == want:
            return
        self._syncing = threading.get_ident()
        try:
            with select.hold_sync():
                if not same:
                    select.index = None  # else changing the options selects the first row
                    select.options = shown
                    select.rows = max(_MIN_ROWS, min(len(shown), _MAX_ROWS))
                    self._shown_rows = shown
                    self._shown_folders = folders
                select.index = want
        finally:
            self._syncing = 0

    def _render_pager(self, page: Page, folder: str | None) -> None:
        if folder is None:
            what = f"{page.total:,} matching {'file' if page.total == 1 else 'files'}"
        else:
            files = page.total - page.folder_total
            parts = [f"{files:,} {'file' if files == 1 else 'files'}"]
            if page.folder_total:
                parts.insert(0, f"{page.folder_total:,} {'folder' if page.folder_total == 1 else 'folders'}")
            what = " · ".join(parts)
        self._page_label.value = f"page <b>{page.index + 1:,}</b> of <b>{page.pages:,}</b> · {what}"
        self._prev.disabled = page.index <= 0
        self._next.disabled = page.index >= page.pages - 1

    def _render_details(self, view: Any) -> None:
        key = self._selected_key
        file: StoredFile | None = None
        if key is not None and view is not None:
            with suppress(StorageFileNotFoundError, StorageClosedError):
                file = view.info(key)
        self._delete.disabled = file is None
        if self._pending_delete is None or self._pending_delete != key or file is None:
            self._pending_delete = None
            self._confirm_box.layout.display = "none"
        if file is not None and file is self._shown_file:
            return
        if file is None:
            self._shown_file = None
            if key is None:
                self._info.value = "<div class='memstore-muted'>Select a file to see its details.</div>"
            else:
                self._info.value = (
                    f"<div class='memstore-muted'><code>{r.esc(key)}</code> is no longer stored.</div>"
                )
            self._preview.value = ""
            self._download.value = ""
            self._image.layout.display = "none"
            self._image.value = b""
            return
        try:
            data, whole = _preview_bytes(view, file)
        except (StorageFileNotFoundError, StorageClosedError):  # gone meanwhile: the next refresh shows it
            return
        preview = r.make_preview(file, data)
        self._shown_file = file  # only once its preview could be made
        self._info.value = r.details_html(file)
        self._download.value = r.download_html(file, whole)
        self._preview.value = preview.html
        if preview.kind == "image":
            self._image.format = preview.image_format
            self._image.value = preview.image
            self._image.layout.display = None
        else:
            self._image.layout.display = "none"
            self._image.value = b""

    # ---------------------------------------------------------------- actions
    # Widget callbacks run in the kernel's thread while a live refresh may be running in
    # the timer thread: each one changes the browser's state under the render lock.
    def _go_to(self, page: int | None = None, *, step: int = 0) -> None:
        with self._render_lock:
            self._clear_hidden = True
            self._page_index = max(self._page_index + step if page is None else page, 0)
            self._render()

    def _on_filter(self, change: dict[str, Any]) -> None:
        self._go_to(0)

    def _on_sort(self, change: dict[str, Any]) -> None:
        self._go_to(0)

    def _on_prev(self, button: Any) -> None:
        self._go_to(step=-1)

    def _on_next(self, button: Any) -> None:
        self._go_to(step=1)

    def _open(self, folder: str) -> None:
        """Show ``folder`` from its first page, without a filter."""
        with self._render_lock:
            self._clear_hidden = True
            self._highlighted = None
            self._folder = folder
            self._page_index = 0
            if self._filter.value:
                self._filter.value = ""  # _on_filter renders
            else:
                self._render()

    def _on_up(self, button: Any) -> None:
        self._open(_parent(self._folder))

    def _on_crumb(self, button: Any) -> None:
        with self._render_lock:
            for shown, prefix in zip(self._crumb_pool, self._crumb_prefixes, strict=False):
                if shown is button:
                    self._open(prefix)
                    return

    def _on_row(self, change: dict[str, Any]) -> None:
        if change["new"] is None or self._syncing == threading.get_ident():
            return  # the browser itself is changing the options, not the user
        with self._render_lock:
            index = self._rows.index
            if index is not None and index < len(self._shown_rows):
                value = self._shown_rows[index][1]
                if value in self._shown_folders and index < len(self._shown_folders):
                    self._status.value = ""
                    self._open(value)
                    return
            self._highlighted = None
            self._selected_key = change["new"]
            self._status.value = ""
            with self._view() as view:
                self._render_details(view)

    def _on_key(self, widget: Any, content: Any, buffers: Any) -> None:
        """A key pressed in the list of rows (see :mod:`memstore.notebook._keys`).

        Arrows, Home and End move the selection without opening a folder (a folder row
        is only highlighted), Enter opens the highlighted folder, Delete asks to delete
        the selected file, Escape withdraws that question.
        """
        key = content.get("key") if isinstance(content, dict) else None
        with self._render_lock:
            if self._is_closed:
                return
            count = len(self._shown_rows)
            current = self._rows.index
            if key in ("down", "up", "home", "end") and count:
                if key == "home":
                    target = 0
                elif key == "end":
                    target = count - 1
                elif current is None:
                    target = 0 if key == "down" else count - 1
                else:
                    target = current + (1 if key == "down" else -1)
                self._highlight(max(0, min(target, count - 1)))
            elif key == "enter" and current is not None and self._is_folder_row(current):
                self._status.value = ""
                self._open(self._shown_rows[current][1])
            elif key == "delete" and self._selected_key is not None:
                self._on_delete(None)
            elif key == "escape":
                self._on_cancel(None)

    def _is_folder_row(self, index: int) -> bool:
        return (
            index < len(self._shown_rows)
            and self._shown_rows[index][1] in self._shown_folders
            and (index < len(self._shown_folders))
        )

    def _highlight(self, index: int) -> None:
        """Move the selection to row ``index``: a file shows its details, a folder waits for Enter."""
        self._syncing = threading.get_ident()
        try:
            self._rows.index = index
        finally:
            self._syncing = 0
        value = self._shown_rows[index][1]
        if self._is_folder_row(index):
            self._highlighted = value
            self._status.value = f"<div class='memstore-muted'>Enter opens <code>{r.esc(value)}</code></div>"
            return
        self._status.value = ""
        self._highlighted = None
        self._selected_key = value
        self._pending_delete = None
        with self._view() as view:
            self._render_details(view)

    def _on_upload(self, change: dict[str, Any]) -> None:
        """Store the files dropped on or chosen with the upload button in the folder shown.

        Each file is one ``put``: stored whole or not at all. A file the storage refuses
        (over the quota, a name that is not a valid key) is reported in the status line;
        the others are stored.
        """
        uploads = change["new"]
        if not uploads:
            return
        stored: list[str] = []
        problems: list[str] = []
        with self._render_lock:
            folder = self._folder
            with self._view() as view:
                for item in uploads:
                    name = str(item["name"])
                    key = folder + name
                    try:
                        if view is None:
                            raise StorageClosedError("the storage no longer exists")
                        view.put(key, bytes(item["content"]), content_type=item.get("type") or None)
                    except (StorageError, ValueError, TypeError) as exc:
                        problems.append(f"<code>{r.esc(name)}</code> was not stored: {r.esc(exc)}")
                    else:
                        stored.append(key)
            parts = []
            if stored:
                listed = ", ".join(f"<code>{r.esc(k)}</code>" for k in stored[:5])
                more = f" and {len(stored) - 5:,} more" if len(stored) > 5 else ""
                parts.append(f"<div class='memstore-muted'>Uploaded {listed}{more}.</div>")
            parts.extend(f"<div class='memstore-error'>{p}</div>" for p in problems)
            self._status.value = "".join(parts)
            if len(stored) == 1:
                self._selected_key = stored[0]
        with suppress(Exception):  # clear the widget so the same file can be uploaded again
            self._upload.value = ()
        self.refresh()

    def _on_refresh(self, button: Any) -> None:
        self._status.value = ""
        self.refresh()

    def _on_delete(self, button: Any) -> None:
        with self._render_lock:
            key = self._selected_key
            if key is None:
                return
            self._pending_delete = key
            self._confirm_text.value = f"Delete <code>{r.esc(key)}</code>?"
            self._confirm_box.layout.display = None
            self._status.value = ""

    def _on_cancel(self, button: Any) -> None:
        with self._render_lock:
            self._pending_delete = None
            self._confirm_box.layout.display = "none"

    def _on_confirm(self, button: Any) -> None:
        with self._render_lock:
            key = self._pending_delete
            self._pending_delete = None
            self._confirm_box.layout.display = "none"
            if key is None:
                return
            try:
                with self._view() as view:
                    if view is None:
                        raise StorageClosedError("the storage no longer exists")
                    view.delete(key)
            except StorageFileNotFoundError:
                message = f"<code>{r.esc(key)}</code> was already deleted."
            except StorageError as exc:
                message = f"Could not delete <code>{r.esc(key)}</code>: {r.esc(exc)}"
            else:
                message = f"Deleted <code>{r.esc(key)}</code>."
            if self._selected_key == key:
                self._selected_key = None
            self._status.value = f"<div class='memstore-muted'>{message}</div>"
            self.refresh()
