"""The pytest plugin: fixtures registered through the pytest11 entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

pytest_plugins = ["pytester"]


def test_registered_through_the_pytest11_entry_point() -> None:
    found = [ep for ep in entry_points(group="pytest11") if ep.name == "memstore"]
    assert [ep.value for ep in found] == ["memstore.pytest_plugin"]


def test_fixtures_marker_and_cleanup(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from memstore import MemoryStorage, StorageClosedError, StorageQuotaExceededError, SyncMemoryStorage

        seen = []

        @pytest.mark.anyio
        async def test_async_fixture(memory_storage):
            assert isinstance(memory_storage, MemoryStorage)
            await memory_storage.put("a.txt", b"hello")
            assert await memory_storage.get_bytes("a.txt") == b"hello"
            seen.append(memory_storage)

        def test_sync_fixture(sync_memory_storage):
            assert isinstance(sync_memory_storage, SyncMemoryStorage)
            assert sync_memory_storage.usage.file_count == 0
            sync_memory_storage.put("b.txt", b"x")
            seen.append(sync_memory_storage)

        @pytest.mark.memstore(max_size=4)
        def test_marker_sets_the_config(sync_memory_storage):
            assert sync_memory_storage.config.max_size == 4
            with pytest.raises(StorageQuotaExceededError):
                sync_memory_storage.put("c.bin", b"12345")

        @pytest.mark.memstore(max_size=8, chunk_size=2)
        @pytest.mark.anyio
        async def test_marker_on_the_async_fixture(memory_storage):
            await memory_storage.put("d", b"abcd")
            assert [c async for c in memory_storage.get("d")] == [b"ab", b"cd"]

        def test_every_storage_was_closed_after_its_test():
            assert len(seen) == 3
            assert all(s.closed for s in seen)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "anyio")
    result.assert_outcomes(passed=7)


def test_marker_misuse_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.memstore(1024)
        def test_positional(sync_memory_storage):
            pass

        @pytest.mark.memstore(max_size=-1)
        def test_negative(sync_memory_storage):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*keyword arguments only*", "*max_size must be >= 0*"])


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.memstore(**config):*"])


def test_memstore_restore_puts_module_storages_back_before_each_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from memstore import MemoryStorage, SyncMemoryStorage

        pytestmark = pytest.mark.memstore_restore("catalog", "images")
        fills = []

        @pytest.fixture(scope="module")
        def catalog():
            fills.append(1)
            with SyncMemoryStorage() as storage:
                storage.put("a.txt", b"alpha")
                storage.put("b.txt", b"beta")
                yield storage

        @pytest.fixture(scope="module")
        def images():
            storage = MemoryStorage()
            storage.as_sync().put("logo.png", b"png")
            return storage

        def test_one_deletes(catalog):
            catalog.delete("a.txt")
            catalog.put("c.txt", b"new")

        def test_two_sees_the_original(catalog):
            assert [f.key for f in catalog.list()] == ["a.txt", "b.txt"]
            catalog.put("b.txt", b"changed")

        @pytest.mark.anyio
        async def test_three_async(images, catalog):
            assert catalog.get_bytes("b.txt") == b"beta"
            assert [f.key async for f in images.list()] == ["logo.png"]
            await images.clear()

        def test_filled_once():
            assert fills == [1]

        @pytest.mark.memstore_restore()
        def test_bad_marker():
            pass

        @pytest.mark.memstore_restore("not_a_storage")
        def test_not_a_storage(not_a_storage):
            pass

        @pytest.fixture
        def not_a_storage():
            return {}
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "anyio")
    result.assert_outcomes(passed=5, errors=2)
    result.stdout.fnmatch_lines(["*takes the names of storage fixtures*", "*not a storage with snapshot()*"])


def test_memstore_restore_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.memstore_restore(*fixture_names):*"])
