"""A StoredFile serialises everywhere a dataclass is expected to, and still cannot change
what is stored (it is also what web frameworks such as Litestar return as JSON)."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle

import pytest

from tests.faces import Make

pytestmark = pytest.mark.anyio


async def test_json_through_asdict(make: Make) -> None:
    storage = make()
    file = await storage.put("docs/a.txt", b"hello", metadata={"owner": "ann"})
    data = dataclasses.asdict(file)
    assert json.loads(json.dumps(data, default=str)) == {
        "key": "docs/a.txt",
        "size": 5,
        "content_type": "text/plain",
        "etag": file.etag,
        "last_modified": str(file.last_modified),
        "metadata": {"owner": "ann"},
    }


async def test_msgspec_encodes_a_stored_file_and_a_list_of_them(make: Make) -> None:
    msgspec = pytest.importorskip("msgspec")
    storage = make()
    file = await storage.put("a.bin", b"\x00\x01", metadata={"k": "v"})  # its ETag not read yet
    decoded = json.loads(msgspec.json.encode([file, file]))
    assert decoded[0]["metadata"] == {"k": "v"}
    assert decoded[0]["etag"] == file.etag
    assert decoded[0]["size"] == 2


async def test_pickle_and_copies_keep_the_fields(make: Make) -> None:
    storage = make()
    file = await storage.put("k", b"x", metadata={"a": "b"})
    for clone in (pickle.loads(pickle.dumps(file)), copy.copy(file), copy.deepcopy(file)):
        assert clone == file
        assert dict(clone.metadata) == {"a": "b"}


async def test_what_a_caller_gets_cannot_change_what_is_stored(make: Make) -> None:
    storage = make()
    file = await storage.put("k", b"x", metadata={"a": "b"})
    asdict = dataclasses.asdict(file)["metadata"]
    for metadata in (file.metadata, asdict, pickle.loads(pickle.dumps(file)).metadata):
        with pytest.raises(TypeError, match="read-only"):
            metadata["a"] = "changed"  # type: ignore[index]
        with pytest.raises(TypeError, match="read-only"):
            metadata.update(a="changed")  # type: ignore[union-attr]
        with pytest.raises(TypeError, match="read-only"):
            del metadata["a"]  # type: ignore[union-attr]
    mutable = file.metadata.copy()  # type: ignore[attr-defined]
    mutable["a"] = "mine"
    assert dict((await storage.info("k")).metadata) == {"a": "b"}
    assert isinstance(file.metadata, dict)  # what serialisers expect
