"""Plain-HTML renderings shared by the reprs and the notebook browser (stdlib only).

Everything that came from a key, a content type or metadata is escaped here.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from memstore.types import StorageUsage, StoredFile

__all__ = ["esc", "human_size", "storage_html", "stored_file_html"]


def human_size(size: int | None) -> str:
    """Format a byte count for people: ``"1.5 KiB"``, ``"12 B"``; ``"unlimited"`` for None."""
    if size is None:
        return "unlimited"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def esc(value: object) -> str:
    """HTML-escape ``str(value)``, quotes included."""
    return html.escape(str(value), quote=True)


_e = esc
# JupyterLab right-aligns table cells; labels and values read best next to each other.
_LEFT = "style='text-align:left;padding-right:1em'"


def stored_file_html(file: StoredFile) -> str:
    """An HTML card describing ``file``."""
    rows = [
        ("key", file.key),
        ("size", f"{human_size(file.size)} ({file.size:,} bytes)"),
        ("content type", file.content_type or ""),
        ("etag", file.etag or ""),
        ("last modified", file.last_modified.isoformat() if file.last_modified else ""),
    ]
    rows.extend((f"metadata: {k}", v) for k, v in file.metadata.items())
    body = "".join(f"<tr><th {_LEFT}>{_e(k)}</th><td {_LEFT}><code>{_e(v)}</code></td></tr>" for k, v in rows)
    return f"<div class='memstore-file'><b>StoredFile</b><table>{body}</table></div>"


def storage_html(title: str, usage: StorageUsage, files: Iterable[StoredFile], shown: int) -> str:
    """An HTML summary of a storage: totals, quota and the first ``shown`` files."""
    if usage.max_size is None:
        quota = f"{human_size(usage.used_bytes)} used (no limit)"
    else:
        pct = 100 * (usage.fraction_used or 0.0)
        quota = f"{human_size(usage.used_bytes)} of {human_size(usage.max_size)} used ({pct:.1f}%)"
    rows = "".join(
        f"<tr><td {_LEFT}><code>{_e(f.key)}</code></td>"
        f"<td style='text-align:right'>{_e(human_size(f.size))}</td>"
        f"<td {_LEFT}>{_e(f.content_type or '')}</td></tr>"
        for f in files
    )
    more = usage.file_count - shown
    tail = f"<div>... and {more:,} more</div>" if more > 0 else ""
    head = f"<div class='memstore-storage'><b>{_e(title)}</b>: {usage.file_count:,} files, {_e(quota)}"
    if not rows:
        return f"{head}<div><i>empty</i></div></div>"
    header = (
        f"<tr><th {_LEFT}>key</th><th style='text-align:right'>size</th><th {_LEFT}>content type</th></tr>"
    )
    return f"{head}<table>{header}{rows}</table>{tail}</div>"
