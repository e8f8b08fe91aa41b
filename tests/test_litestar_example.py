"""The Litestar example app (examples/litestar_app) through Litestar's test client.

Upload, folders with ``list_dir``, range downloads through ``get(start=, end=)``,
conditional updates and deletes with ``If-Match``, and the errors the plugin maps.
Asyncio only: Litestar's test client does not run on trio.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

pytest.importorskip("litestar")

from litestar import Litestar
from litestar.exceptions import HTTPException
from litestar.testing import AsyncTestClient

from examples.litestar_app import app as example
from memstore import MemoryConfig, MemoryStorage

pytestmark = pytest.mark.anyio

DATA = b"0123456789"
Client = AsyncTestClient[Litestar]


@pytest.fixture
def anyio_backend() -> str:
    """Litestar's AsyncTestClient runs on asyncio only."""
    return "asyncio"


@pytest.fixture
def storage() -> MemoryStorage:
    """The caller's storage: small chunks, so ranges cross chunk boundaries."""
    return MemoryStorage(MemoryConfig(max_size=1000, chunk_size=4))


@pytest.fixture
async def client(storage: MemoryStorage) -> AsyncIterator[Client]:
    async with AsyncTestClient(example.create_app(storage)) as client:
        yield client


def etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


async def upload(client: Client, name: str, data: bytes, folder: str = "") -> dict[str, object]:
    response = await client.post(
        "/files", params={"folder": folder}, files={"data": (name, data, "text/plain")}
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


# ---------------------------------------------------------------------------- upload


async def test_upload_creates_a_file(client: Client, storage: MemoryStorage) -> None:
    body = await upload(client, "a.txt", DATA, folder="docs")
    assert body == {
        "key": "docs/a.txt",
        "size": 10,
        "content_type": "text/plain",
        "etag": etag(DATA),
        "last_modified": body["last_modified"],
    }
    assert await storage.get_bytes("docs/a.txt") == DATA
    assert dict((await storage.info("docs/a.txt")).metadata) == {"filename": "a.txt"}
    info = await client.get("/info/docs/a.txt")
    assert info.json()["metadata"] == {"filename": "a.txt"}


async def test_upload_never_replaces_a_file(client: Client, storage: MemoryStorage) -> None:
    await upload(client, "a.txt", DATA)
    again = await client.post("/files", files={"data": ("a.txt", b"other", "text/plain")})
    assert again.status_code == 409
    assert again.json()["key"] == "a.txt"
    assert await storage.get_bytes("a.txt") == DATA


async def test_an_upload_over_the_quota_is_refused_whole(client: Client, storage: MemoryStorage) -> None:
    response = await client.post(
        "/files", files={"data": ("big.bin", bytes(1001), "application/octet-stream")}
    )
    assert response.status_code == 413
    assert response.json()["key"] == "big.bin"
    assert storage.usage.file_count == 0


async def test_an_invalid_key_is_a_400(client: Client) -> None:
    response = await client.put("/files/a%E2%80%8Bb.txt", content=b"x")  # a zero-width space
    assert response.status_code == 400
    assert response.json()["error"] == "InvalidKeyError"
    assert response.json()["key"] == "a\u200bb.txt"


# --------------------------------------------------------------------------- folders


async def test_list_a_folder(client: Client) -> None:
    await upload(client, "readme.txt", b"r")
    await upload(client, "a.txt", b"a", folder="docs")
    await upload(client, "b.txt", b"bb", folder="docs/")
    await upload(client, "2024.log", b"l", folder="docs/logs")
    await upload(client, "x.png", b"x", folder="img")
    top = (await client.get("/files")).json()
    assert top["prefixes"] == ["docs/", "img/"]
    assert [f["key"] for f in top["files"]] == ["readme.txt"]
    docs = (await client.get("/files", params={"prefix": "docs/"})).json()
    assert docs["prefixes"] == ["docs/logs/"]
    assert [(f["key"], f["size"]) for f in docs["files"]] == [("docs/a.txt", 1), ("docs/b.txt", 2)]
    assert (await client.get("/files", params={"prefix": "none/"})).json() == {"prefixes": [], "files": []}


# -------------------------------------------------------------------------- download


async def test_download_the_whole_file(client: Client) -> None:
    await upload(client, "a.txt", DATA)
    response = await client.get("/files/a.txt")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["etag"] == etag(DATA)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == "10"
    assert response.headers["content-type"].startswith("text/plain")
    assert "content-range" not in response.headers


@pytest.mark.parametrize(
    ("header", "content", "content_range"),
    [
        ("bytes=0-3", b"0123", "bytes 0-3/10"),
        ("bytes=4-", b"456789", "bytes 4-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=2-100", b"23456789", "bytes 2-9/10"),  # the end is clamped to the file
        ("bytes=-100", DATA, "bytes 0-9/10"),  # a suffix longer than the file: all of it
        ("bytes=9-9", b"9", "bytes 9-9/10"),
        (" bytes=3-6 ", b"3456", "bytes 3-6/10"),
    ],
)
async def test_download_a_range(client: Client, header: str, content: bytes, content_range: str) -> None:
    await upload(client, "a.txt", DATA)
    response = await client.get("/files/a.txt", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == content
    assert response.headers["content-range"] == content_range
    assert response.headers["content-length"] == str(len(content))
    assert response.headers["etag"] == etag(DATA)


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=0-1,4-5", "items=0-3", "bytes=-", "bytes=a-b", ""])
async def test_a_range_header_that_is_not_one_valid_range_is_ignored(client: Client, header: str) -> None:
    await upload(client, "a.txt", DATA)
    response = await client.get("/files/a.txt", headers={"Range": header})
    assert response.status_code == 200
    assert response.content == DATA


@pytest.mark.parametrize(("header", "data"), [("bytes=10-", DATA), ("bytes=-0", DATA), ("bytes=-1", b"")])
async def test_an_unsatisfiable_range_is_a_416(client: Client, header: str, data: bytes) -> None:
    await client.put("/files/a.txt", content=data)
    response = await client.get("/files/a.txt", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(data)}"


async def test_a_missing_file_is_a_404(client: Client) -> None:
    for response in [
        await client.get("/files/docs/none.txt"),
        await client.get("/files/docs/none.txt", headers={"Range": "bytes=0-1"}),
        await client.get("/info/docs/none.txt"),
        await client.delete("/files/docs/none.txt"),
    ]:
        assert response.status_code == 404
        assert response.json()["key"] == "docs/none.txt"
        assert response.json()["detail"] == "File not found: 'docs/none.txt'"


def test_byte_range() -> None:
    assert example.byte_range(None, 10) is None
    assert example.byte_range("bytes=1-2", 10) == (1, 3)
    assert example.byte_range("bytes=1-", 10) == (1, None)
    assert example.byte_range("bytes=-2", 10) == (-2, None)
    with pytest.raises(HTTPException) as raised:
        example.byte_range("bytes=0-0", 0)
    assert raised.value.status_code == 416


# ------------------------------------------------------------ conditional update, delete


async def test_put_stores_the_request_body(client: Client, storage: MemoryStorage) -> None:
    created = await client.put(
        "/files/notes/a.md", content=b"# hi", headers={"Content-Type": "text/markdown"}
    )
    assert created.status_code == 200
    assert created.json()["content_type"] == "text/markdown"
    guessed = await client.put("/files/notes/b.txt", content=b"plain")
    assert guessed.json()["content_type"] == "text/plain"
    assert await storage.get_bytes("notes/a.md") == b"# hi"


async def test_if_match_makes_put_a_compare_and_swap(client: Client, storage: MemoryStorage) -> None:
    first = (await client.put("/files/doc.txt", content=b"v1")).json()["etag"]
    second = await client.put("/files/doc.txt", content=b"v2", headers={"If-Match": first})
    assert second.status_code == 200
    assert second.json()["etag"] == etag(b"v2")
    stale = await client.put("/files/doc.txt", content=b"v3", headers={"If-Match": first})
    assert stale.status_code == 412
    assert stale.json()["error"] == "StoragePreconditionFailedError"
    assert stale.json()["key"] == "doc.txt"
    assert await storage.get_bytes("doc.txt") == b"v2"  # the stale write changed nothing
    missing = await client.put("/files/new.txt", content=b"x", headers={"If-Match": first})
    assert missing.status_code == 412
    assert not await storage.exists("new.txt")


async def test_if_match_star_means_any_existing_version(client: Client, storage: MemoryStorage) -> None:
    missing = await client.put("/files/doc.txt", content=b"v1", headers={"If-Match": "*"})
    assert missing.status_code == 412
    assert not await storage.exists("doc.txt")
    await client.put("/files/doc.txt", content=b"v1")
    replaced = await client.put("/files/doc.txt", content=b"v2", headers={"If-Match": "*"})
    assert replaced.status_code == 200
    assert await storage.get_bytes("doc.txt") == b"v2"


async def test_delete(client: Client, storage: MemoryStorage) -> None:
    tag = (await client.put("/files/doc.txt", content=b"v1")).json()["etag"]
    await client.put("/files/doc.txt", content=b"v2")
    stale = await client.delete("/files/doc.txt", headers={"If-Match": tag})
    assert stale.status_code == 412
    assert await storage.exists("doc.txt")
    deleted = await client.delete("/files/doc.txt", headers={"If-Match": etag(b"v2")})
    assert deleted.status_code == 204
    assert (await client.get("/files/doc.txt")).status_code == 404
    await client.put("/files/other.txt", content=b"x")
    assert (await client.delete("/files/other.txt")).status_code == 204
    assert storage.usage.file_count == 0


# ------------------------------------------------------------------------- lifecycle


async def test_the_callers_storage_outlives_every_run_of_the_app(storage: MemoryStorage) -> None:
    app = example.create_app(storage)
    for run in range(3):
        async with AsyncTestClient(app) as client:
            await upload(client, f"{run}.txt", b"x")
            listed = (await client.get("/files")).json()["files"]
        assert [f["key"] for f in listed] == [f"{i}.txt" for i in range(run + 1)]
        assert not storage.closed


async def test_the_module_app_starts_empty_at_each_run() -> None:
    for _ in range(2):  # the module's app owns its storage: a new, empty one per lifespan
        async with AsyncTestClient(example.app) as client:
            assert (await client.get("/files")).json() == {"prefixes": [], "files": []}
            await upload(client, "a.txt", DATA)
            assert (await client.get("/files/a.txt")).content == DATA
            big = await client.put("/files/big.bin", content=b"x")
            assert big.status_code == 200
