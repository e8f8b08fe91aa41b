"""memstore.litestar: the plugin, its lifecycle, the DTOs, the providers and the HTTP error mapping.

Every test drives a real Litestar app through ``litestar.testing.AsyncTestClient``. They
run on asyncio only: Litestar's test client does not run on trio.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, get_args

import anyio
import pytest

pytest.importorskip("litestar")

from litestar import Litestar, Request, Response, get, post, put
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import ImproperlyConfiguredException
from litestar.params import Body, Parameter
from litestar.response import Stream
from litestar.testing import AsyncTestClient

import memstore.litestar
from memstore import (
    BaseStorage,
    ConfigurationError,
    DirListing,
    InvalidKeyError,
    MemoryConfig,
    MemoryStorage,
    PutData,
    Storage,
    StorageClosedError,
    StorageError,
    StorageFileExistsError,
    StorageFileNotFoundError,
    StoragePreconditionFailedError,
    StorageQuotaExceededError,
    StoredFile,
)
from memstore.litestar import (
    STATUS_CODES,
    StorageDependency,
    StoragePlugin,
    StoredFileDTO,
    StoredFileReadDTO,
    provide_storage,
    status_code_for,
    storage_error_handler,
    upload_stream,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ["key", "size", "content_type", "etag", "last_modified", "metadata"]

# Explicit parameters, as Litestar 2.25 wants them and every Litestar 2 understands them.
Key = Annotated[str, Parameter()]
AnyRequest = Request[Any, Any, Any]
Upload = Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)]


@pytest.fixture
def anyio_backend() -> str:
    """Litestar's AsyncTestClient runs on asyncio only."""
    return "asyncio"


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


# ------------------------------------------------------------------ handlers used below


@get("/info/{key:path}")
async def info(key: Key, storage: StorageDependency) -> StoredFile:
    return await storage.info(key.removeprefix("/"))


@get("/files")
async def list_files(storage: StorageDependency) -> list[StoredFile]:
    return [f async for f in storage.list()]


@get("/download/{key:path}")
async def download(key: Key, storage: StorageDependency) -> Stream:
    return Stream(storage.get(key.removeprefix("/")))


# ------------------------------------------------------------------------ dependencies


async def test_default_and_named_storages_are_injected_by_name() -> None:
    default, images = MemoryStorage(), MemoryStorage()

    @get("/which")
    async def which(storage: StorageDependency, images_storage: StorageDependency) -> dict[str, bool]:
        return {"default": storage is default, "images": images_storage is images}

    app = Litestar([which], plugins=[StoragePlugin(default, images=images)])
    async with AsyncTestClient(app) as client:
        response = await client.get("/which")
    assert response.status_code == 200
    assert response.json() == {"default": True, "images": True}


def test_plugin_records_what_it_was_given() -> None:
    storage, config = MemoryStorage(), MemoryConfig(max_size=10)
    plugin = StoragePlugin(default=storage, tmp=config)
    assert plugin.storages == {"default": storage, "tmp": config}
    assert StoragePlugin().storages == {}


def test_storage_dependency_is_the_storage_protocol() -> None:
    # NamedDependency[Storage] on a Litestar that has it, Storage before.
    assert StorageDependency is Storage or get_args(StorageDependency)[0] is Storage


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Litestar 2.25 deprecates inferred parameters
async def test_handlers_written_for_litestar_storages_work_as_they_are() -> None:
    storage = MemoryStorage()
    await storage.put("a.txt", b"hi")

    @get("/info/{key:path}")
    async def plain_info(key: str, storage: Storage) -> StoredFile:
        return await storage.info(key.lstrip("/"))

    app = Litestar([plain_info], plugins=[StoragePlugin(default=storage)])
    async with AsyncTestClient(app) as client:
        assert (await client.get("/info/a.txt")).json()["size"] == 2
        assert (await client.get("/info/b.txt")).status_code == 404


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="exception_handlers must be a bool"):
        StoragePlugin(exception_handlers="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="identifier"):
        StoragePlugin(**{"my-files": MemoryStorage()})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'images' is None"):
        StoragePlugin(images=None)  # type: ignore[arg-type]


def test_a_dependency_name_taken_by_the_app_is_refused() -> None:
    taken = {"images_storage": Provide(provide_storage(MemoryStorage()), sync_to_thread=False)}
    with pytest.raises(ImproperlyConfiguredException, match="'images_storage'"):
        Litestar([], dependencies=taken, plugins=[StoragePlugin(images=MemoryStorage())])


async def test_provide_storage_without_the_plugin() -> None:
    storage = MemoryStorage()
    provider = provide_storage(storage)
    assert provider() is storage
    assert provider() is provider()
    await storage.put("a.txt", b"hi")
    app = Litestar(
        [info],
        dependencies={"storage": Provide(provider, sync_to_thread=False)},
        exception_handlers={StorageError: storage_error_handler},
    )
    async with AsyncTestClient(app) as client:
        assert (await client.get("/info/a.txt")).json()["size"] == 2
        assert (await client.get("/info/nope.txt")).status_code == 404
    assert not storage.closed


async def test_any_base_storage_works() -> None:
    class DictStorage(BaseStorage):
        """A minimal backend: only the abstract core methods."""

        def __init__(self) -> None:
            self.files: dict[str, tuple[bytes, StoredFile]] = {}

        async def put(self, key: str, data: PutData, **options: Any) -> StoredFile:
            assert isinstance(data, bytes)
            self.files[key] = (data, StoredFile(key, len(data), "text/plain", md5_etag(data)))
            return self.files[key][1]

        async def get(self, key: str, **options: Any) -> AsyncIterator[bytes]:
            yield (await self._entry(key))[0]

        async def delete(self, key: str, **options: Any) -> None:
            await self._entry(key)
            del self.files[key]

        async def exists(self, key: str) -> bool:
            return key in self.files

        async def list(self, prefix: str = "", *, limit: int | None = None) -> AsyncIterator[StoredFile]:
            for key in sorted(self.files):
                if key.startswith(prefix):
                    yield self.files[key][1]

        async def url(self, key: str, *, expires_in: timedelta | None = None) -> str:
            return f"dict://{key}"

        async def info(self, key: str) -> StoredFile:
            return (await self._entry(key))[1]

        async def _entry(self, key: str) -> tuple[bytes, StoredFile]:
            if key not in self.files:
                raise StorageFileNotFoundError(key)
            return self.files[key]

    storage = DictStorage()
    await storage.put("a.txt", b"hello")
    app = Litestar([info, list_files, download], plugins=[StoragePlugin(storage)])
    async with AsyncTestClient(app) as client:
        assert (await client.get("/files")).json()[0]["key"] == "a.txt"
        assert (await client.get("/download/a.txt")).content == b"hello"
        missing = await client.get("/info/b.txt")
    assert missing.status_code == 404
    assert missing.json()["key"] == "b.txt"


# ------------------------------------------------------------- StoredFile as a response


async def test_a_stored_file_and_a_list_of_them_are_json() -> None:
    storage = MemoryStorage()
    stored = await storage.put("docs/a.txt", b"hello", metadata={"owner": "ada"})
    await storage.put("docs/b.bin", b"\x00\x01")

    @post("/touch")
    async def touch(storage: StorageDependency) -> StoredFile:
        return await storage.put("docs/c.txt", b"new")

    @get("/folder")
    async def folder(storage: StorageDependency) -> DirListing:
        return await storage.list_dir("docs/")

    app = Litestar([info, list_files, touch, folder], plugins=[StoragePlugin(storage)])
    async with AsyncTestClient(app) as client:
        one = await client.get("/info/docs/a.txt")
        created = await client.post("/touch")
        many = await client.get("/files")
        listing = await client.get("/folder")
    assert one.status_code == 200
    body = one.json()
    assert list(body) == FIELDS
    assert body["key"] == "docs/a.txt"
    assert body["size"] == 5
    assert body["content_type"] == "text/plain"
    assert body["etag"] == stored.etag == md5_etag(b"hello")
    assert datetime.fromisoformat(body["last_modified"].replace("Z", "+00:00")) == stored.last_modified
    assert body["metadata"] == {"owner": "ada"}
    assert created.status_code == 201
    assert created.json()["key"] == "docs/c.txt"
    assert many.status_code == 200
    assert [f["key"] for f in many.json()] == ["docs/a.txt", "docs/b.bin", "docs/c.txt"]
    assert [f["etag"] for f in many.json()] == [md5_etag(b"hello"), md5_etag(b"\x00\x01"), md5_etag(b"new")]
    assert listing.json()["prefixes"] == []
    assert [f["key"] for f in listing.json()["files"]] == ["docs/a.txt", "docs/b.bin", "docs/c.txt"]


async def test_the_dtos_leave_out_or_keep_the_metadata() -> None:
    storage = MemoryStorage()
    await storage.put("a.txt", b"hello", metadata={"owner": "ada"})

    @get("/short/{key:str}", return_dto=StoredFileDTO)
    async def short(key: Key, storage: StorageDependency) -> StoredFile:
        return await storage.info(key)

    @get("/short", return_dto=StoredFileDTO)
    async def short_list(storage: StorageDependency) -> list[StoredFile]:
        return [f async for f in storage.list()]

    @get("/full/{key:str}", return_dto=StoredFileReadDTO)
    async def full(key: Key, storage: StorageDependency) -> StoredFile:
        return await storage.info(key)

    app = Litestar([short, short_list, full], plugins=[StoragePlugin(storage)])
    async with AsyncTestClient(app) as client:
        without = (await client.get("/short/a.txt")).json()
        listed = (await client.get("/short")).json()
        with_all = (await client.get("/full/a.txt")).json()
    assert list(without) == FIELDS[:-1]
    assert without["etag"] == md5_etag(b"hello")
    assert listed == [without]
    assert list(with_all) == FIELDS
    assert with_all["metadata"] == {"owner": "ada"}
    assert StoredFileDTO.config.exclude == {"metadata"}
    assert StoredFileReadDTO.config.exclude == set()


def test_the_openapi_schema_describes_stored_files() -> None:
    @get("/short", return_dto=StoredFileDTO)
    async def short(storage: StorageDependency) -> list[StoredFile]:
        return []

    app = Litestar([info, short], plugins=[StoragePlugin(MemoryStorage())])
    schemas = app.openapi_schema.to_schema()["components"]["schemas"]
    assert set(schemas["StoredFile"]["properties"]) == set(FIELDS)
    assert any("metadata" not in s.get("properties", {"metadata": 1}) for s in schemas.values())


# -------------------------------------------------------------------------- lifecycle


async def test_a_storage_given_to_the_plugin_outlives_every_lifespan() -> None:
    storage, images = MemoryStorage(), MemoryStorage()

    @put("/files/{key:path}")
    async def store(key: Key, request: AnyRequest, storage: StorageDependency) -> StoredFile:
        return await storage.put(key.removeprefix("/"), await request.body())

    app = Litestar([store, list_files], plugins=[StoragePlugin(storage, images=images)])
    for run in range(3):  # the same app, started and stopped again and again, as tests do
        async with AsyncTestClient(app) as client:
            assert (await client.put(f"/files/run{run}.txt", content=b"x")).status_code == 200
            keys = [f["key"] for f in (await client.get("/files")).json()]
        assert keys == [f"run{i}.txt" for i in range(run + 1)]
        assert not storage.closed
        assert not images.closed
    assert await storage.count() == 3
    await storage.close()
    await images.close()


async def test_apps_sharing_a_storage_see_the_same_files() -> None:
    shared = MemoryStorage()

    @post("/touch")
    async def touch(storage: StorageDependency) -> StoredFile:
        return await storage.put("shared.txt", b"shared")

    first = Litestar([touch], plugins=[StoragePlugin(shared)])
    second = Litestar([list_files], plugins=[StoragePlugin(shared)])
    async with AsyncTestClient(first) as client:
        assert (await client.post("/touch")).status_code == 201
    async with AsyncTestClient(second) as client:
        assert [f["key"] for f in (await client.get("/files")).json()] == ["shared.txt"]
    assert not shared.closed


async def test_a_config_gives_a_new_storage_for_each_lifespan() -> None:
    plugin = StoragePlugin(default=MemoryConfig(max_size=10))

    @post("/touch")
    async def touch(storage: StorageDependency) -> StoredFile:
        return await storage.put(f"f{len([f async for f in storage.list()])}", b"12345")

    app = Litestar([touch, list_files], plugins=[plugin])
    with pytest.raises(StorageClosedError, match="not running"):
        plugin.get_storage(app)
    seen: list[Storage] = []
    for _ in range(2):
        async with AsyncTestClient(app) as client:
            running = plugin.get_storage(app)
            assert isinstance(running, MemoryStorage)
            assert running.config.max_size == 10
            assert (await client.post("/touch")).status_code == 201
            assert (await client.post("/touch")).status_code == 201
            full = await client.post("/touch")
            assert full.status_code == 413  # the config's quota
            assert [f["key"] for f in (await client.get("/files")).json()] == ["f0", "f1"]
            seen.append(running)
        assert running.closed  # the plugin created it, the plugin closed it
        with pytest.raises(StorageClosedError):
            plugin.get_storage(app)
    assert seen[0] is not seen[1]


async def test_a_created_storage_is_there_for_the_apps_startup_hooks() -> None:
    plugin = StoragePlugin(seed=MemoryConfig())

    async def seed(app: Litestar) -> None:
        await plugin.get_storage(app, "seed").put("welcome.txt", b"hi")

    @get("/seeded")
    async def seeded(seed_storage: StorageDependency) -> list[str]:
        return [f.key async for f in seed_storage.list()]

    app = Litestar([seeded], plugins=[plugin], on_startup=[seed])
    async with AsyncTestClient(app) as client:
        assert (await client.get("/seeded")).json() == ["welcome.txt"]


async def test_a_created_storage_outside_a_lifespan_answers_503() -> None:
    app = Litestar([list_files], plugins=[StoragePlugin(MemoryConfig())])
    client = AsyncTestClient(app)  # not entered: the app's lifespan never runs
    response = await client.get("/files")
    assert response.status_code == 503
    assert response.json()["error"] == "StorageClosedError"
    assert "not running" in response.json()["detail"]


def test_get_storage() -> None:
    storage = MemoryStorage()
    plugin = StoragePlugin(storage, tmp=MemoryConfig())
    app = Litestar([], plugins=[plugin])
    assert plugin.get_storage(app) is storage
    with pytest.raises(KeyError, match="no storage named 'images'"):
        plugin.get_storage(app, "images")


# -------------------------------------------------------------------------- errors


async def _raise_not_found(storage: Storage) -> object:
    return await storage.get_bytes("missing.txt")


async def _raise_exists(storage: Storage) -> object:
    await storage.put("taken.txt", b"1")
    return await storage.put("taken.txt", b"2", if_none_match="*")


async def _raise_precondition(storage: Storage) -> object:
    await storage.put("cas.txt", b"1")
    return await storage.put("cas.txt", b"2", if_match='"stale"')


async def _raise_quota(storage: Storage) -> object:
    return await storage.put("big.bin", bytes(64))


async def _raise_invalid_key(storage: Storage) -> object:
    return await storage.put("a/../b.txt", b"")


async def _raise_closed(storage: Storage) -> object:
    await storage.close()
    return await storage.info("a.txt")


ERRORS = {
    # name: (what raises it, status, error class, the key named)
    "not-found": (_raise_not_found, 404, "StorageFileNotFoundError", "missing.txt"),
    "exists": (_raise_exists, 409, "StorageFileExistsError", "taken.txt"),
    "precondition": (_raise_precondition, 412, "StoragePreconditionFailedError", "cas.txt"),
    "quota": (_raise_quota, 413, "StorageQuotaExceededError", "big.bin"),
    "invalid-key": (_raise_invalid_key, 400, "InvalidKeyError", "a/../b.txt"),
    "closed": (_raise_closed, 503, "StorageClosedError", None),
}


@pytest.mark.parametrize("case", list(ERRORS))
async def test_storage_errors_become_http_errors_end_to_end(case: str) -> None:
    action, status, error, key = ERRORS[case]

    @post("/act")
    async def act(storage: StorageDependency) -> None:
        await action(storage)

    storage = MemoryStorage(MemoryConfig(max_size=32))
    app = Litestar([act], plugins=[StoragePlugin(storage)])
    async with AsyncTestClient(app) as client:
        response = await client.post("/act")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status_code"] == status
    assert body["error"] == error
    assert body.get("key") == key
    if key is not None:
        assert repr(key) in body["detail"]
    else:
        assert "closed" in body["detail"]


@pytest.mark.parametrize("debug", [False, True])
async def test_an_unknown_storage_error_is_a_500_with_a_json_body(debug: bool) -> None:
    @get("/boom")
    async def boom(storage: StorageDependency) -> None:
        raise StorageError("the backend said something private")

    @get("/config")
    async def config(storage: StorageDependency) -> None:
        raise ConfigurationError("bad setting")

    app = Litestar([boom, config], plugins=[StoragePlugin(MemoryStorage())], debug=debug)
    async with AsyncTestClient(app) as client:
        response = await client.get("/boom")
        configuration = await client.get("/config")
    assert response.status_code == configuration.status_code == 500
    body = response.json()
    assert body["error"] == "StorageError"
    assert "key" not in body
    assert configuration.json()["error"] == "ConfigurationError"
    if debug:
        assert body["detail"] == "the backend said something private"
    else:
        assert body["detail"] == "Internal Server Error"


async def test_a_subclass_gets_the_status_of_its_nearest_mapped_base() -> None:
    class ObjectGoneError(StorageFileNotFoundError):
        pass

    @get("/gone")
    async def gone(storage: StorageDependency) -> None:
        raise ObjectGoneError("old.txt")

    app = Litestar([gone], plugins=[StoragePlugin(MemoryStorage())])
    async with AsyncTestClient(app) as client:
        response = await client.get("/gone")
    assert response.status_code == 404
    assert response.json()["error"] == "ObjectGoneError"
    assert response.json()["key"] == "old.txt"


@pytest.mark.parametrize(
    ("key", "named"),
    [
        ("x" * 2000, "'" + "x" * 70),  # too long to echo: shortened as in the message
        ("a\ud800b", "'a\\ud800b'"),  # a lone surrogate cannot be sent in JSON as it is
    ],
)
async def test_a_key_that_cannot_be_echoed_is_shortened(key: str, named: str) -> None:
    @get("/bad")
    async def bad(storage: StorageDependency) -> None:
        await storage.put(key, b"")

    app = Litestar([bad], plugins=[StoragePlugin(MemoryStorage())])
    async with AsyncTestClient(app) as client:
        response = await client.get("/bad")
    assert response.status_code == 400
    assert response.json()["key"].startswith(named)
    assert len(response.json()["key"]) < 120


def test_status_codes() -> None:
    # A StorageConnectionError, once memstore has one, is mapped to 503 as well.
    mapped = {k: v for k, v in STATUS_CODES.items() if k.__name__ != "StorageConnectionError"}
    assert mapped == {
        StorageFileNotFoundError: 404,
        StorageFileExistsError: 409,
        StoragePreconditionFailedError: 412,
        StorageQuotaExceededError: 413,
        InvalidKeyError: 400,
        StorageClosedError: 503,
    }
    with pytest.raises(TypeError):
        STATUS_CODES[StorageError] = 418  # type: ignore[index]
    assert status_code_for(StorageFileNotFoundError("a")) == 404
    assert status_code_for(ConfigurationError("bad")) == 500
    assert status_code_for(StorageError()) == 500


async def test_the_apps_own_handlers_win() -> None:
    def teapot(request: Request[Any, Any, Any], exc: StorageFileNotFoundError) -> Response[dict[str, str]]:
        return Response({"mine": exc.key}, status_code=418)

    @post("/act/{case:str}")
    async def act(case: Key, storage: StorageDependency) -> None:
        await ERRORS[case][0](storage)

    app = Litestar(
        [act],
        plugins=[StoragePlugin(MemoryStorage())],
        exception_handlers={StorageFileNotFoundError: teapot},
    )
    async with AsyncTestClient(app) as client:
        mine = await client.post("/act/not-found")
        ours = await client.post("/act/exists")
    assert (mine.status_code, mine.json()) == (418, {"mine": "missing.txt"})
    assert ours.status_code == 409


async def test_an_app_handler_for_storage_error_is_kept() -> None:
    def everything(request: Request[Any, Any, Any], exc: StorageError) -> Response[str]:
        return Response("handled by the app", status_code=400)

    @get("/missing")
    async def missing(storage: StorageDependency) -> None:
        await storage.info("missing.txt")

    app = Litestar(
        [missing], plugins=[StoragePlugin(MemoryStorage())], exception_handlers={StorageError: everything}
    )
    assert app.exception_handlers[StorageError] is everything
    async with AsyncTestClient(app) as client:
        response = await client.get("/missing")
    assert (response.status_code, response.text) == (400, "handled by the app")


async def test_the_app_can_opt_out_of_the_handlers() -> None:
    @get("/missing")
    async def missing(storage: StorageDependency) -> None:
        await storage.info("missing.txt")

    app = Litestar([missing], plugins=[StoragePlugin(MemoryStorage(), exception_handlers=False)])
    assert StorageError not in app.exception_handlers
    async with AsyncTestClient(app) as client:
        response = await client.get("/missing")
    assert response.status_code == 500
    assert StorageError in Litestar([], plugins=[StoragePlugin()]).exception_handlers


# ---------------------------------------------------------------------------- streams


async def test_a_stream_of_a_stored_file_is_sent_chunk_by_chunk() -> None:
    storage = MemoryStorage(MemoryConfig(chunk_size=1000))
    data = bytes(range(256)) * 100  # 25.6 KB: 26 chunks
    await storage.put("big.bin", data)
    assert len([c async for c in storage.get("big.bin")]) == 26
    app = Litestar([download], plugins=[StoragePlugin(storage)])
    async with AsyncTestClient(app) as client:
        response = await client.get("/download/big.bin")
        missing = await client.get("/download/none.bin")
    assert response.status_code == 200
    assert response.content == data
    assert missing.status_code == 404  # get() looks the file up when called, before anything is sent


@pytest.mark.parametrize("size", [0, 10, 3 * 1024 * 1024])  # the largest is spooled to disk by Litestar
async def test_an_upload_is_stored_through_upload_stream(size: int) -> None:
    data = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    storage = MemoryStorage()

    @post("/upload")
    async def upload(data: Upload, storage: StorageDependency) -> StoredFile:
        await data.read(3)  # upload_stream reads from the start whatever was read before
        return await storage.put(f"up/{data.filename}", upload_stream(data, chunk_size=4096))

    app = Litestar([upload], plugins=[StoragePlugin(storage)])
    async with AsyncTestClient(app) as client:
        response = await client.post("/upload", files={"data": ("f.bin", data, "application/octet-stream")})
    assert response.status_code == 201
    assert response.json()["size"] == size
    assert response.json()["etag"] == md5_etag(data)
    assert await storage.get_bytes("up/f.bin") == data


async def test_a_request_body_is_stored_as_a_stream() -> None:
    storage = MemoryStorage(MemoryConfig(max_size=1000))

    @put("/raw/{key:str}")
    async def raw(key: Key, request: AnyRequest, storage: StorageDependency) -> StoredFile:
        return await storage.put(key, request.stream())

    app = Litestar([raw], plugins=[StoragePlugin(storage)])
    async with AsyncTestClient(app) as client:
        stored = await client.put("/raw/a.bin", content=b"z" * 600)
        too_big = await client.put("/raw/b.bin", content=b"z" * 600)
    assert stored.status_code == 200
    assert stored.json()["etag"] == md5_etag(b"z" * 600)
    assert too_big.status_code == 413
    assert not await storage.exists("b.bin")  # nothing half-written


def test_upload_stream_checks_chunk_size() -> None:
    upload = UploadFile(content_type="text/plain", filename="a.txt")
    with pytest.raises(TypeError, match="chunk_size must be an int"):
        upload_stream(upload, chunk_size=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        upload_stream(upload, chunk_size=0)


# ------------------------------------------------------------------------- the module


def test_every_public_name_is_documented() -> None:
    api = (ROOT / "docs" / "api.md").read_text()
    documented = set(re.findall(r"memstore\.litestar\.(\w+)", api))
    documented |= set(re.findall(r"\.\. py:\w+:: (\w+)\n\s+:module: memstore\.litestar\b", api))
    assert set(memstore.litestar.__all__) <= documented
    for name in memstore.litestar.__all__:
        obj = getattr(memstore.litestar, name)
        if callable(obj) and name != "StorageDependency":
            assert obj.__doc__, f"memstore.litestar.{name} has no docstring"


def test_the_guide_is_in_the_toctree() -> None:
    index = (ROOT / "docs" / "index.md").read_text()
    assert "guides/litestar" in index
    assert (ROOT / "docs" / "guides" / "litestar.md").is_file()


def test_an_uploads_file_object_goes_straight_into_put() -> None:
    from litestar.testing import TestClient

    storage = MemoryStorage()

    @post("/upload")
    async def upload(
        data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> StoredFile:
        return await storage.put(f"up/{data.filename}", data.file)  # read in a worker thread

    with TestClient(Litestar([upload])) as client:
        response = client.post("/upload", files={"data": ("a.bin", b"hello world" * 1000)})
    assert response.status_code == 201
    assert response.json()["size"] == 11_000
    assert anyio.run(storage.get_bytes, "up/a.bin") == b"hello world" * 1000
