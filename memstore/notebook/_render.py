"""Text and HTML fragments of the browser (stdlib only, so they are easy to test).

Everything that came from a key, a content type, metadata or file contents goes
through :func:`esc` (``html.escape``) before it is put into HTML. Plain-text widget
values (the rows of the list) are not HTML and are not escaped.
"""

from __future__ import annotations

import base64
import codecs
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from memstore._html import human_size
from memstore._ops import Data
from memstore.types import PrefixUsage, StorageUsage, StoredFile

__all__ = [
    "DOWNLOAD_LIMIT",
    "IMAGE_LIMIT",
    "PREVIEW_BYTES",
    "FOLDER_MARK",
    "STYLE",
    "Preview",
    "breakdown_html",
    "column_header",
    "details_html",
    "esc",
    "folder_label",
    "folder_summary",
    "fraction_style",
    "gauge_text",
    "head_bytes",
    "hexdump",
    "image_format_of",
    "is_text_type",
    "make_preview",
    "row_label",
    "segments",
    "sniff_utf8",
    "sparkline_html",
    "download_html",
]

PREVIEW_BYTES = 4096
"""How much of a file the details pane previews."""

IMAGE_LIMIT = 2 * 1024 * 1024
"""Images up to this size are shown whole (a truncated image would not decode)."""

KEY_WIDTH = 44
SIZE_WIDTH = 10
TYPE_WIDTH = 24
FOLDER_MARK = "\u25b8 "
"""What a folder row starts with: a small triangle (one column wide, in every common
monospace font, unlike a folder emoji, which many systems lack or draw wider)."""

_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/x-ndjson",
        "application/xml",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/x-sh",
        "application/sql",
        "application/csv",
        "image/svg+xml",  # shown as its source text, never rendered
    }
)
_IMAGE_MAGIC: dict[str, tuple[bytes, ...]] = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
}
_IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif"}


def esc(value: object) -> str:
    """HTML-escape ``str(value)``, quotes included."""
    return html.escape(str(value), quote=True)


def _cut(text: str, width: int) -> str:
    """``text`` shortened to ``width`` characters with an ellipsis in the middle."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    tail = width - 1 - head
    return f"{text[:head]}…{text[len(text) - tail :]}"


def _cut_end(text: str, width: int) -> str:
    """``text`` shortened to ``width`` characters with an ellipsis at the end."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _when(moment: datetime | None, *, seconds: bool = True) -> str:
    if moment is None:
        return ""
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return moment.astimezone(timezone.utc).strftime(fmt)


def row_label(file: StoredFile, name: str | None = None) -> str:
    """One row of the listing as fixed-width plain text: key, size, content type, modified.

    ``name`` replaces the key in the first column (the folder view shows names relative
    to the folder).
    """
    shown = file.key if name is None else name
    return (
        f"{_cut(shown, KEY_WIDTH):<{KEY_WIDTH}}  {human_size(file.size):>{SIZE_WIDTH}}  "
        f"{_cut_end(file.content_type or '', TYPE_WIDTH):<{TYPE_WIDTH}}  {_when(file.last_modified)}"
    )


def folder_label(usage: PrefixUsage, name: str) -> str:
    """A sub-folder's row, aligned like :func:`row_label`: its name, total size, file count.

    ``name`` is the folder relative to the folder shown, with its trailing ``/``.
    """
    width = KEY_WIDTH - len(FOLDER_MARK)
    return (
        f"{FOLDER_MARK}{_cut(name, width):<{width}}  {human_size(usage.used_bytes):>{SIZE_WIDTH}}  "
        f"{_plural(usage.file_count, 'file'):<{TYPE_WIDTH}}"
    ).rstrip()


def segments(folder: str) -> list[tuple[str, str]]:
    """The breadcrumb of ``folder``: ``(name, prefix)`` for the root and each segment.

    >>> segments("data/2024/")
    [('root', ''), ('data', 'data/'), ('2024', 'data/2024/')]
    """
    crumbs = [("root", "")]
    start = 0
    while (slash := folder.find("/", start)) >= 0:
        crumbs.append((folder[start:slash], folder[: slash + 1]))
        start = slash + 1
    return crumbs


def folder_summary(below: PrefixUsage) -> str:
    """What the folder shown holds at any depth, beside the breadcrumb (HTML)."""
    return (
        f"<span class='memstore-muted'>{esc(_plural(below.file_count, 'file'))} · "
        f"{esc(human_size(below.used_bytes))} in this folder</span>"
    )


def column_header(first: str = "key") -> str:
    """The column titles above the rows, aligned like :func:`row_label` (HTML).

    ``first`` is the title of the first column (``"name"`` in the folder view).
    """
    text = f"{first:<{KEY_WIDTH}}  {'size':>{SIZE_WIDTH}}  {'content type':<{TYPE_WIDTH}}  modified (UTC)"
    return f"<div class='memstore-colhead'>{esc(text)}</div>"


def fraction_style(percent: float) -> str:
    """The progress-bar style for a quota ``percent``: ``""``, ``"warning"`` (≥80) or ``"danger"`` (≥95)."""
    if percent >= 95.0:
        return "danger"
    if percent >= 80.0:
        return "warning"
    return ""


def gauge_text(usage: StorageUsage) -> tuple[float | None, str]:
    """The quota percentage (``None`` when unlimited) and the text beside the gauge."""
    if usage.max_size is None:
        return None, f"{esc(human_size(usage.used_bytes))} used · no quota (unlimited)"
    percent = 100.0 * (usage.fraction_used or 0.0)
    free = usage.free_bytes or 0
    text = (
        f"<b>{percent:.1f} %</b> of {esc(human_size(usage.max_size))} "
        f"<span class='memstore-muted'>({esc(human_size(free))} free)</span>"
    )
    return percent, text


SPARK_WIDTH = 120
SPARK_HEIGHT = 22


def sparkline_html(points: Sequence[tuple[float, int]], max_size: int | None, window: float = 300.0) -> str:
    """A small SVG line of used bytes over the last ``window`` seconds (HTML).

    ``points`` are ``(seconds ago, used bytes)``, oldest first (:class:`UsageTrend`).
    The vertical scale is the quota when there is one, else the largest value shown.
    """
    if not points:
        return ""
    top = max_size if max_size else max(used for _, used in points)
    top = max(top, 1)
    w, h = SPARK_WIDTH, SPARK_HEIGHT
    coords = " ".join(
        f"{w * (1 - min(ago, window) / window):.1f},{h - 1 - (h - 2) * min(used, top) / top:.1f}"
        for ago, used in points
    )
    first, last = points[0][1], points[-1][1]
    change = last - first
    sign = "+" if change >= 0 else "-"
    minutes = max(1, round(window / 60))
    title = f"used bytes over the last {minutes} minutes: {sign}{human_size(abs(change))}"
    return (
        f"<span class='memstore-spark' title='{esc(title)}'>"
        f"<svg width='{w}' height='{h}' viewBox='0 0 {w} {h}' role='img' aria-label='{esc(title)}'>"
        f"<rect x='0.5' y='0.5' width='{w - 1}' height='{h - 1}' rx='2'></rect>"
        f"<polyline points='{coords}'></polyline></svg></span>"
    )


DOWNLOAD_LIMIT = 4 * 1024 * 1024
"""The largest file the browser offers as a download link (a ``data:`` URL, 4 MiB).

The link carries the whole file from the kernel to the page, base64-encoded; larger
files are read in code (``storage.get_bytes(key)``) instead.
"""


def download_html(file: StoredFile, data: Data | None) -> str:
    """A download link for ``file`` with contents ``data`` (``None`` when it is too large)."""
    name = file.key.rsplit("/", 1)[-1] or "download"
    if data is None or file.size > DOWNLOAD_LIMIT:
        return (
            f"<div class='memstore-muted'>{esc(human_size(file.size))} is over the "
            f"{esc(human_size(DOWNLOAD_LIMIT))} download limit of the browser: read it in code, "
            f"<code>storage.get_bytes({esc(repr(file.key))})</code></div>"
        )
    body = data if isinstance(data, bytes) else b"".join(data)
    media = _media_type(file.content_type)[0] or "application/octet-stream"
    if not re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", media):
        media = "application/octet-stream"
    href = f"data:{media};base64,{base64.b64encode(body).decode('ascii')}"
    return (
        f"<a class='memstore-download' download='{esc(name)}' href='{href}' "
        f"title='Download {esc(file.key)}'>⬇ Download <code>{esc(name)}</code> "
        f"({esc(human_size(file.size))})</a>"
    )


def breakdown_html(prefixes: Sequence[PrefixUsage], used_bytes: int, limit: int = 10) -> str:
    """The largest ``limit`` top-level prefixes with their sizes and share bars (HTML)."""
    if not prefixes:
        return "<div class='memstore-muted'>No files yet.</div>"
    rows = []
    for item in prefixes[:limit]:
        share = 100.0 * item.used_bytes / used_bytes if used_bytes > 0 else 0.0
        name = esc(item.prefix) if item.prefix else "<i>(top level)</i>"
        rows.append(
            "<tr>"
            f"<td class='memstore-prefix' title='{esc(item.prefix)}'><code>{name}</code></td>"
            f"<td><div class='memstore-sharebar'><div style='width:{share:.1f}%'></div></div></td>"
            f"<td class='memstore-num'>{esc(human_size(item.used_bytes))}</td>"
            f"<td class='memstore-num'>{_plural(item.file_count, 'file')}</td>"
            f"<td class='memstore-num'>{share:.1f} %</td>"
            "</tr>"
        )
    more = len(prefixes) - limit
    tail = f"<div class='memstore-muted'>… and {more:,} more folders</div>" if more > 0 else ""
    return f"<table class='memstore-table memstore-breakdown-table'>{''.join(rows)}</table>{tail}"


def details_html(file: StoredFile) -> str:
    """Every field of ``file`` and its metadata as tables (HTML, all values escaped)."""
    fields = [
        ("key", f"<code>{esc(file.key)}</code>"),
        ("size", f"{esc(human_size(file.size))} ({file.size:,} bytes)"),
        ("content type", f"<code>{esc(file.content_type or '')}</code>"),
        ("etag", f"<code>{esc(file.etag or '')}</code>"),
        ("last modified", esc(f"{_when(file.last_modified)} UTC" if file.last_modified else "")),
    ]
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in fields)
    if file.metadata:
        meta_rows = "".join(
            f"<tr><td><code>{esc(k)}</code></td><td><code>{esc(v)}</code></td></tr>"
            for k, v in file.metadata.items()
        )
        meta = (
            "<table class='memstore-table memstore-metadata'>"
            f"<tr><th>metadata key</th><th>value</th></tr>{meta_rows}</table>"
        )
    else:
        meta = "<div class='memstore-muted'>no metadata</div>"
    return f"<table class='memstore-table memstore-fields'>{body}</table>{meta}"


def head_bytes(data: Data, limit: int) -> bytes:
    """The first ``limit`` bytes of stored contents (one ``bytes`` or a tuple of chunks)."""
    if isinstance(data, bytes):
        return data[:limit]
    parts: list[bytes] = []
    need = limit
    for chunk in data:
        if need <= 0:
            break
        parts.append(chunk[:need])
        need -= len(parts[-1])
    return b"".join(parts)


def hexdump(data: bytes) -> str:
    """A classic hex dump: offset, 16 bytes in hex, and their printable ASCII (plain text)."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk[:8])
        if len(chunk) > 8:
            hexes += "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<49} |{text}|")
    return "\n".join(lines)


def _media_type(content_type: str | None) -> tuple[str, str]:
    """``(type/subtype lower-cased, charset or "")`` of a content type."""
    if not content_type:
        return "", ""
    main, _, params = content_type.partition(";")
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"')
    return main.strip().lower(), charset


def image_format_of(content_type: str | None) -> str | None:
    """``"png"``, ``"jpeg"`` or ``"gif"`` for the image types the preview shows, else None."""
    return _IMAGE_TYPES.get(_media_type(content_type)[0])


def is_text_type(content_type: str | None) -> bool:
    """Whether a content type is shown as text (``text/*``, JSON, XML, SVG source ...)."""
    media, _ = _media_type(content_type)
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


@dataclass(frozen=True)
class Preview:
    """What the details pane shows of a file's contents.

    Attributes:
        kind: ``"text"``, ``"hex"``, ``"image"`` or ``"empty"``.
        html: The preview as HTML (escaped text in a ``<pre>``), or a caption for images.
        image: The whole image for ``kind == "image"``, else ``b""``.
        image_format: ``"png"``, ``"jpeg"`` or ``"gif"`` for images, else ``""``.
    """

    kind: str
    html: str
    image: bytes = b""
    image_format: str = ""


def _pre(text: str, kind: str) -> str:
    return f"<pre class='memstore-preview memstore-preview-{kind}'>{esc(text)}</pre>"


def _decode(head: bytes, charset: str, *, final: bool) -> str:
    """Decode with the file's charset when it names a text encoding, else UTF-8.

    The charset comes from the stored content type, so it is data: codecs that are not
    text encodings (``rot13``, ``hex``, ``zlib`` ...) are refused, never run.
    """
    try:
        info = codecs.lookup(charset or "utf-8")
        if not getattr(info, "_is_text_encoding", True):
            raise LookupError(charset)
        return info.incrementaldecoder(errors="replace").decode(head, final=final)
    except Exception:  # an unknown or unusable charset: show it as UTF-8
        return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=final)


def sniff_utf8(head: bytes, *, final: bool) -> str | None:
    r"""``head`` decoded if it is clean UTF-8 text, else ``None``.

    Clean means: it decodes without an error (a multi-byte character cut by the end of a
    partial ``head`` is allowed unless ``final``) and holds no control characters besides
    tab, newline, carriage return and form feed, so binary data that happens to be valid
    UTF-8 still shows as a hex dump.

    >>> sniff_utf8(b"2026-11-30 INFO started\n", final=True)
    '2026-11-30 INFO started\n'
    >>> sniff_utf8(b"\x89PNG\r\n\x1a\n", final=True) is None
    True
    """
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=final)
    except UnicodeDecodeError:
        return None
    if any((ord(c) < 32 and c not in "\t\n\r\f") or c == "\x7f" for c in text):
        return None
    return text


def make_preview(file: StoredFile, data: Data) -> Preview:
    """The preview of ``file`` whose contents are ``data``.

    Text-like types show their first :data:`PREVIEW_BYTES` decoded (escaped, never
    rendered as markup, so HTML and SVG files show their source); PNG, JPEG and GIF
    files whose bytes really are such images show as the image; anything else shows a
    hex dump of the first :data:`PREVIEW_BYTES`.
    """
    if file.size == 0:
        return Preview("empty", "<div class='memstore-muted'>empty file</div>")
    head = head_bytes(data, PREVIEW_BYTES)
    shown = len(head)
    note = f"first {shown:,} of {file.size:,} bytes" if shown < file.size else f"all {shown:,} bytes"
    media, charset = _media_type(file.content_type)
    image_format = _IMAGE_TYPES.get(media)
    if image_format is not None and head.startswith(_IMAGE_MAGIC[image_format]):
        if file.size <= IMAGE_LIMIT:
            caption = (
                f"<div class='memstore-muted'>{esc(image_format.upper())} image, {file.size:,} bytes</div>"
            )
            return Preview("image", caption, head_bytes(data, file.size), image_format)
        note += "; image too large to preview"
    elif image_format is not None:
        note += f"; not a valid {image_format.upper()} file"
    if b"\x00" not in head:
        if is_text_type(file.content_type):
            text = _decode(head, charset, final=shown >= file.size)
            return Preview("text", f"<div class='memstore-muted'>text, {note}</div>{_pre(text, 'text')}")
        sniffed = sniff_utf8(head, final=shown >= file.size)
        if sniffed is not None:  # a .log stored as application/octet-stream is still text
            caption = f"<div class='memstore-muted'>UTF-8 text, {note}</div>"
            return Preview("text", caption + _pre(sniffed, "text"))
    return Preview("hex", f"<div class='memstore-muted'>hex dump, {note}</div>{_pre(hexdump(head), 'hex')}")


STYLE = """<style>
/* Every colour comes from JupyterLab's theme variables, so the browser follows the light,
   the dark and any other theme; the fallbacks after the commas are a neutral light theme
   for front ends without them (Voila, classic notebook). Text uses only font colours 0-2:
   colour 3 is too faint for 4.5:1 contrast in the dark theme. */
.memstore-browser {
  --ms-fg: var(--jp-ui-font-color1, #1f1f1f);
  --ms-fg-strong: var(--jp-ui-font-color0, #000);
  --ms-fg-muted: var(--jp-ui-font-color2, #616161);
  --ms-bg: var(--jp-layout-color1, #fff);
  --ms-bg-alt: var(--jp-layout-color2, #eee);
  --ms-track: var(--jp-layout-color3, #bdbdbd);
  --ms-code-fg: var(--jp-content-font-color1, #1f1f1f);
  --ms-code-bg: var(--jp-layout-color2, #f5f5f5);
  --ms-border: var(--jp-border-color2, #e0e0e0);
  --ms-accent: var(--jp-brand-color1, #1976d2);
  --ms-link: var(--jp-content-link-color, #1565c0);
  --ms-warn: var(--jp-warn-color1, #e65100);
  --ms-error: var(--jp-error-color1, #c62828);
  font-size: 13px; color: var(--ms-fg); background: var(--ms-bg); }
.memstore-browser .widget-html-content, .memstore-browser .widget-label,
.memstore-browser .widget-label-basic { color: var(--ms-fg); }
.memstore-browser .widget-html-content table, .memstore-browser .widget-html-content pre,
.memstore-browser .widget-html-content div { line-height: 1.45; }
.memstore-browser code { color: inherit; background: transparent; }
.memstore-browser .memstore-colhead, .memstore-browser .memstore-rows select {
  font-family: var(--jp-code-font-family, Menlo, Consolas, 'DejaVu Sans Mono', monospace);
  font-size: 12px; }
.memstore-browser .memstore-colhead { white-space: pre; font-weight: bold; color: var(--ms-fg-muted);
  padding: 0 0 0 4px; overflow: hidden; }
.memstore-browser .memstore-rows select { padding: 2px 0; color: var(--ms-fg);
  background: var(--ms-bg); border-color: var(--ms-border); }
.memstore-browser .memstore-rows select option { color: var(--ms-fg); background: var(--ms-bg); }
.memstore-browser .memstore-title { font-size: 15px; color: var(--ms-fg-strong); }
.memstore-browser .memstore-muted { color: var(--ms-fg-muted); font-size: 12px; }
.memstore-browser .memstore-section { font-weight: bold; color: var(--ms-fg-strong); margin-top: 4px; }
.memstore-browser table.memstore-table { border-collapse: collapse; margin: 2px 0 6px 0; }
.memstore-browser table.memstore-table th, .memstore-browser table.memstore-table td {
  text-align: left; vertical-align: top; padding: 1px 10px 1px 0; border: none;
  color: var(--ms-fg); background: transparent; }
.memstore-browser table.memstore-table tr { background: transparent; }
.memstore-browser table.memstore-table th { color: var(--ms-fg-muted); font-weight: 600;
  white-space: nowrap; }
.memstore-browser table.memstore-table td { word-break: break-all; }
.memstore-browser table.memstore-breakdown-table td { word-break: normal; white-space: nowrap; }
.memstore-browser td.memstore-num { text-align: right; color: var(--ms-fg-muted); }
.memstore-browser td.memstore-prefix { max-width: 220px; overflow: hidden; text-overflow: ellipsis; }
.memstore-browser .memstore-sharebar { width: 160px; height: 10px; background: var(--ms-bg-alt);
  border: 1px solid var(--ms-border); border-radius: 2px; overflow: hidden; }
.memstore-browser .memstore-sharebar > div { height: 100%; background: var(--ms-accent); }
.memstore-browser pre.memstore-preview { max-height: 260px; overflow: auto; margin: 2px 0;
  padding: 6px; color: var(--ms-code-fg); background: var(--ms-code-bg);
  border: 1px solid var(--ms-border); font-size: 11px; white-space: pre-wrap; word-break: break-all; }
.memstore-browser pre.memstore-preview-hex { white-space: pre; word-break: normal; }
.memstore-browser .memstore-details { border-left: 1px solid var(--ms-border); padding-left: 10px; }
.memstore-browser .memstore-image { image-rendering: pixelated; border: 1px solid var(--ms-border); }
.memstore-browser .memstore-nav { align-items: center; flex-wrap: wrap; gap: 2px; margin: 2px 0;
  padding: 2px 4px; background: var(--ms-bg); border: 1px solid var(--ms-border); border-radius: 3px; }
.memstore-browser .memstore-breadcrumb { align-items: center; flex-wrap: wrap; gap: 0; }
.memstore-browser button.memstore-crumb, .memstore-browser button.memstore-up {
  width: auto; height: 22px; line-height: 20px; margin: 0; padding: 0 6px;
  font-size: 13px; box-shadow: none; border: 1px solid transparent; border-radius: 3px;
  background: transparent; color: var(--ms-link);
  max-width: 260px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.memstore-browser button.memstore-crumb:hover, .memstore-browser button.memstore-up:hover {
  background: var(--ms-bg-alt); border-color: var(--ms-border); }
.memstore-browser button.memstore-crumb-current { color: var(--ms-fg); font-weight: 600; }
.memstore-browser button.memstore-up { color: var(--ms-fg); }
.memstore-browser button.memstore-up:disabled { color: var(--ms-fg-muted);
  background: transparent; border-color: transparent; }
.memstore-browser .memstore-crumb-sep { color: var(--ms-fg-muted); padding: 0 1px; }
.memstore-browser .memstore-folder-info { margin-left: auto; padding-right: 4px; }
.memstore-browser .memstore-spark svg { display: block; }
.memstore-browser .memstore-spark polyline { fill: none; stroke: var(--ms-accent); stroke-width: 1.5; }
.memstore-browser .memstore-spark rect { fill: var(--ms-bg-alt); stroke: var(--ms-border); }
.memstore-browser .memstore-error { color: var(--ms-error); }
.memstore-browser a.memstore-download { color: var(--ms-link); }
</style>"""
