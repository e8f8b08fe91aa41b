"""A small file service: memstore behind Litestar, through :mod:`memstore.litestar`.

===========================  ======================================================
``POST /files?folder=docs``  upload (multipart, field ``data``), create-only: 409 if
                             the key exists
``GET /files?prefix=docs/``  one folder level: ``{"prefixes": [...], "files": [...]}``
``GET /files/{key}``         download; a ``Range: bytes=...`` header gets a 206
``GET /info/{key}``          the file's metadata, ``metadata`` included
``PUT /files/{key}``         store the raw request body; ``If-Match: <etag>`` makes it
                             a compare-and-swap (412 when the file changed)
``DELETE /files/{key}``      delete (``If-Match`` too)
===========================  ======================================================

Errors come from the plugin's handler: a missing file is 404, an invalid key 400, a full
storage 413, each with a JSON body naming the key.

Run it with ``litestar --app examples.litestar_app.app:app run``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Litestar, Request, delete, get, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, Parameter
from litestar.response import Stream

from memstore import (
    DirListing,
    MemoryConfig,
    Storage,
    StorageFileNotFoundError,
    StoragePreconditionFailedError,
    StoredFile,
)
from memstore.litestar import (
    StorageDependency,
    StoragePlugin,
    StoredFileDTO,
    StoredFileReadDTO,
    upload_stream,
)

__all__ = ["DEFAULT_MAX_SIZE", "app", "byte_range", "create_app"]

DEFAULT_MAX_SIZE = 64 * 1024 * 1024
"""The quota of the storage that :func:`create_app` makes when it is given none."""

_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.ASCII)

# Parameters are declared explicitly (Litestar 2.25 deprecates inferring them) in a way
# every Litestar 2 understands; headers are read from the request.
Key = Annotated[str, Parameter(description="The file's key: the rest of the path")]
Folder = Annotated[str, Parameter(description="The folder to store the file in, such as docs/")]
Prefix = Annotated[str, Parameter(description="The folder to list, such as docs/; empty for the top")]
Upload = Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)]
AnyRequest = Request[Any, Any, Any]


def byte_range(header: str | None, size: int) -> tuple[int | None, int | None] | None:
    """The ``start`` and ``end`` to read for an HTTP ``Range`` header, or ``None`` for the whole file.

    One range of bytes is served: ``bytes=0-99`` (the first 100), ``bytes=100-`` (from
    byte 100), ``bytes=-100`` (the last 100, read as ``start=-100``: slice semantics,
    as ``storage.get`` has them). A header with several ranges, another unit or a
    malformed range is ignored, as HTTP allows: the whole file is sent.

    Args:
        header: The ``Range`` header, if any.
        size: The file's size.

    Returns:
        ``(start, end)`` for ``storage.get(key, start=start, end=end)``, or ``None``.

    Raises:
        HTTPException: 416 if the range starts past the end of the file (or asks for
            no bytes), with ``Content-Range: bytes */size``.
    """
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if not first:  # a suffix: the last N bytes
        if int(last) == 0 or size == 0:
            raise _unsatisfiable(size)
        return -int(last), None
    if last and int(last) < int(first):
        return None  # malformed: ignored
    if int(first) >= size:
        raise _unsatisfiable(size)
    return int(first), int(last) + 1 if last else None


def _unsatisfiable(size: int) -> HTTPException:
    return HTTPException(
        status_code=416, detail="Range Not Satisfiable", headers={"Content-Range": f"bytes */{size}"}
    )


def _key(path: str) -> str:
    """The storage key of a ``{key:path}`` parameter (Litestar keeps its leading ``/``)."""
    return path.removeprefix("/")


async def _expected_etag(storage: Storage, key: str, if_match: str | None) -> str | None:
    """The ETag an ``If-Match`` header asks for: ``*`` is whatever version is there now."""
    if if_match is None or if_match.strip() != "*":
        return if_match.strip() if if_match else None
    try:
        current = await storage.info(key)
    except StorageFileNotFoundError:
        raise StoragePreconditionFailedError(key, expected="*", actual=None) from None
    return current.etag


@post("/files", return_dto=StoredFileDTO)
async def upload(data: Upload, storage: StorageDependency, folder: Folder = "") -> StoredFile:
    """Store an uploaded file as ``folder/filename``, chunk by chunk; never replace one."""
    prefix = folder if not folder or folder.endswith("/") else f"{folder}/"
    return await storage.put(
        prefix + (data.filename or ""),
        upload_stream(data),
        content_type=data.content_type,
        metadata={"filename": data.filename or ""},
        if_none_match="*",  # create-only, decided atomically: an existing key is a 409
    )


@get("/files")
async def list_folder(storage: StorageDependency, prefix: Prefix = "") -> DirListing:
    """One folder level: the sub-folders and the files directly under ``prefix``."""
    return await storage.list_dir(prefix)


@get("/files/{key:path}")
async def download(key: Key, request: AnyRequest, storage: StorageDependency) -> Stream:
    """Stream a file, or the one byte range a ``Range`` header asks for (206)."""
    key = _key(key)
    file = await storage.info(key)  # a missing file is a 404 before anything is sent
    headers = {"Accept-Ranges": "bytes"}
    if file.etag is not None:
        headers["ETag"] = file.etag
    media_type = file.content_type or "application/octet-stream"
    span = byte_range(request.headers.get("Range"), file.size)
    # No await between info() and get(): get() reads the version that info() described
    # (another thread could still write in between; a real service would check the ETag).
    if span is None:
        headers["Content-Length"] = str(file.size)
        return Stream(storage.get(key), media_type=media_type, headers=headers)
    start, end = span
    lo, hi, _ = slice(start, end).indices(file.size)  # the same slice semantics as get()
    headers["Content-Range"] = f"bytes {lo}-{hi - 1}/{file.size}"
    headers["Content-Length"] = str(hi - lo)
    return Stream(
        storage.get(key, start=start, end=end), status_code=206, media_type=media_type, headers=headers
    )


@get("/info/{key:path}", return_dto=StoredFileReadDTO)
async def info(key: Key, storage: StorageDependency) -> StoredFile:
    """The file's metadata, its user ``metadata`` included."""
    return await storage.info(_key(key))


@put("/files/{key:path}", return_dto=StoredFileDTO)
async def replace(key: Key, request: AnyRequest, storage: StorageDependency) -> StoredFile:
    """Store the request body at ``key``, streamed; with ``If-Match``, only over that version."""
    key = _key(key)
    expected = await _expected_etag(storage, key, request.headers.get("If-Match"))
    return await storage.put(
        key,
        request.stream(),
        content_type=request.headers.get("Content-Type"),
        if_match=expected,  # compare-and-swap at the commit: a 412 if the file changed
    )


@delete("/files/{key:path}")
async def remove(key: Key, request: AnyRequest, storage: StorageDependency) -> None:
    """Delete a file (only the version ``If-Match`` names, when given)."""
    key = _key(key)
    await storage.delete(key, if_match=await _expected_etag(storage, key, request.headers.get("If-Match")))


def create_app(storage: Storage | MemoryConfig | None = None, *, debug: bool = False) -> Litestar:
    """The file service, on ``storage``.

    Args:
        storage: A storage (the caller's: it outlives every run of the app), or a
            :class:`~memstore.MemoryConfig` for a storage the app creates at each
            startup and closes at shutdown. ``None``: a config with a quota of
            :data:`DEFAULT_MAX_SIZE` bytes.
        debug: Litestar's debug mode.

    Returns:
        The app.
    """
    if storage is None:
        storage = MemoryConfig(max_size=DEFAULT_MAX_SIZE)
    return Litestar(
        route_handlers=[upload, list_folder, download, info, replace, remove],
        plugins=[StoragePlugin(default=storage)],
        debug=debug,
    )


app = create_app()
