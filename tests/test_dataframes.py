"""Real round trips through ``memstore://`` with the libraries notebook users use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fsspec")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

import fsspec  # noqa: E402

from memstore import MemoryConfig, StorageQuotaExceededError, SyncMemoryStorage  # noqa: E402


@pytest.fixture
def lab() -> Iterator[SyncMemoryStorage]:
    storage = SyncMemoryStorage.named("frames", MemoryConfig(max_size=32 << 20))
    yield storage
    storage.close()


def frame() -> Any:
    return pd.DataFrame(
        {
            "x": range(1000),
            "y": [i * 0.5 for i in range(1000)],
            "name": [f"row {i}" for i in range(1000)],
        }
    )


def test_pandas_csv(lab: SyncMemoryStorage) -> None:
    df = frame()
    df.to_csv("memstore://frames/tables/df.csv", index=False)
    assert lab.info("tables/df.csv").content_type == "text/csv"
    assert lab.get_bytes("tables/df.csv").startswith(b"x,y,name\n0,0.0,row 0\n")
    pd.testing.assert_frame_equal(pd.read_csv("memstore://frames/tables/df.csv"), df)


def test_pandas_parquet(lab: SyncMemoryStorage) -> None:
    df = frame()
    df.to_parquet("memstore://frames/tables/df.parquet")
    assert lab.get_bytes("tables/df.parquet", start=0, end=4) == b"PAR1"
    pd.testing.assert_frame_equal(pd.read_parquet("memstore://frames/tables/df.parquet"), df)
    only = pd.read_parquet("memstore://frames/tables/df.parquet", columns=["y"])
    assert list(only.columns) == ["y"]


def test_a_to_parquet_past_the_quota_leaves_nothing(lab: SyncMemoryStorage) -> None:
    np = pytest.importorskip("numpy")
    big = pd.DataFrame({"noise": np.random.default_rng(0).random(8_000_000)})  # ~64 MB of doubles
    with pytest.raises(StorageQuotaExceededError):
        big.to_parquet("memstore://frames/big.parquet", compression=None)
    assert not lab.exists("big.parquet")
    assert lab.usage.used_bytes == 0


def test_polars_parquet_through_an_fsspec_file_object(lab: SyncMemoryStorage) -> None:
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    with fsspec.open("memstore://frames/pl/df.parquet", "wb") as f:
        df.write_parquet(f)
    assert lab.exists("pl/df.parquet")
    with fsspec.open("memstore://frames/pl/df.parquet", "rb") as f:
        back = pl.read_parquet(f)
    assert back.equals(df)


def test_open_files_with_a_glob(lab: SyncMemoryStorage) -> None:
    for i in range(3):
        lab.put(f"logs/{i}.txt", f"line {i}\n".encode())
    lab.put("logs/skip.csv", b"no")
    files = fsspec.open_files("memstore://frames/logs/*.txt", "rt")
    assert [f.path for f in files] == ["frames/logs/0.txt", "frames/logs/1.txt", "frames/logs/2.txt"]
    texts = []
    for of in files:
        with of as f:
            texts.append(f.read())
    assert texts == ["line 0\n", "line 1\n", "line 2\n"]
    written = fsspec.open_files("memstore://frames/out/part-*.txt", "wt", num=2)
    for i, of in enumerate(written):
        with of as f:
            f.write(f"part {i}")
    assert lab.get_bytes("out/part-1.txt") == b"part 1"


@pytest.mark.filterwarnings("ignore:UPath .memstore. filesystem not explicitly implemented")
def test_universal_pathlib(lab: SyncMemoryStorage) -> None:
    upath = pytest.importorskip("upath")
    path = upath.UPath("memstore://frames/x.txt")
    path.write_bytes(b"from upath")
    assert lab.get_bytes("x.txt") == b"from upath"
    assert path.read_bytes() == b"from upath"
    assert path.exists()
    assert path.stat().st_size == 10
    folder = upath.UPath("memstore://frames/")
    assert [p.name for p in folder.iterdir()] == ["x.txt"]
    (folder / "sub" / "y.txt").write_text("text")
    assert sorted(p.path for p in folder.glob("**/*.txt")) == ["frames/sub/y.txt", "frames/x.txt"]
