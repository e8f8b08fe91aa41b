"""fsspec's own test suite for implementers (``fsspec.tests.abstract``) on ``memstore://``.

Wired as fsspec wires its memory filesystem and s3fs wires S3: a class-scoped
filesystem, paths joined with ``/``, and a storage name as the root (the "bucket").
Object-store folders exist only while a file is below them, as on S3, so
``supports_empty_directories`` is ``False`` (the suite then adds a dummy file where it
needs a folder to exist).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("fsspec")

import fsspec.tests.abstract as abstract
from fsspec.tests.abstract import AbstractFixtures

from memstore import MemoryStorage
from memstore.fsspec import MemstoreFileSystem

NAME = "fsspec-abstract"


class MemstoreFixtures(AbstractFixtures):  # type: ignore[misc]
    @pytest.fixture(scope="class")
    @classmethod
    def fs(cls) -> Iterator[MemstoreFileSystem]:
        MemoryStorage.named(NAME)
        yield MemstoreFileSystem()
        MemoryStorage.named(NAME).as_sync().clear()

    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return lambda *args: "/".join(args)

    @pytest.fixture
    def fs_path(self) -> str:
        return NAME

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False


class TestMemstoreCopy(abstract.AbstractCopyTests, MemstoreFixtures):  # type: ignore[misc]
    pass


class TestMemstoreGet(abstract.AbstractGetTests, MemstoreFixtures):  # type: ignore[misc]
    pass


class TestMemstorePut(abstract.AbstractPutTests, MemstoreFixtures):  # type: ignore[misc]
    pass


class TestMemstorePipe(abstract.AbstractPipeTests, MemstoreFixtures):  # type: ignore[misc]
    pass


class TestMemstoreOpen(abstract.AbstractOpenTests, MemstoreFixtures):  # type: ignore[misc]
    pass
