"""Many processes on one Redis namespace, near its quota (docs/guides/design.md, invariants 1, 2, 5).

Four processes (threads on the sync face, tasks on the async face on asyncio and on
trio, and a process with both) put, overwrite, stream, copy, move, delete and
delete_prefix a few dozen shared keys for a fixed number of operations each
(tests/redis_stress_worker.py), while this process polls the server's quota ledger.
The ledger must never show more than ``max_size`` bytes used or promised, and
afterwards the namespace must be exactly consistent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from memstore.redis import RedisConfig, SyncRedisStorage
from tests.redis_server import RedisServer
from tests.redis_stress_worker import CHUNK_SIZE, verify

ROOT = Path(__file__).resolve().parent.parent
MAX_SIZE = 48 * 1024  # the 24 keys would hold about 72 KiB: writes run into the quota
MODES = ("threads", "asyncio", "trio", "mixed")
OPS = 100  # operations per thread or task: 4 processes x 3 to 5 workers x 100


class LedgerMonitor(threading.Thread):
    """Polls ``used`` and ``reserved`` (one atomic ``HMGET``) until stopped; keeps the worst."""

    def __init__(self, storage: SyncRedisStorage) -> None:
        super().__init__(daemon=True)
        self.storage = storage
        self.stop = threading.Event()
        self.polls = 0
        self.over: list[tuple[int, int]] = []  # (used, reserved) samples over the limit
        self.max_used = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                reply = self.storage._command("HMGET", self.storage._prefix + "st", "used", "reserved")
                used, reserved = int(reply[0] or 0), int(reply[1] or 0)
                self.polls += 1
                self.max_used = max(self.max_used, used)
                if used > MAX_SIZE or used + reserved > MAX_SIZE or used < 0 or reserved < 0:
                    self.over.append((used, reserved))
                self.stop.wait(0.002)
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_four_processes_near_the_quota_keep_the_ledger_exact(redis_server: RedisServer) -> None:
    namespace = "stress"
    config = RedisConfig(redis_server.url, namespace=namespace, max_size=MAX_SIZE, chunk_size=CHUNK_SIZE)
    with SyncRedisStorage(config) as storage:
        storage.clear()
        monitor = LedgerMonitor(SyncRedisStorage(config))
        monitor.start()
        command = [sys.executable, "-m", "tests.redis_stress_worker", redis_server.url, namespace]
        workers = [
            subprocess.Popen(
                [*command, str(MAX_SIZE), mode, str(seed), str(OPS)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for seed, mode in enumerate(MODES)
        ]
        outputs = [worker.communicate(timeout=240) for worker in workers]
        monitor.stop.set()
        monitor.join(timeout=60)
        monitor.storage.close()
        for mode, worker, (_, err) in zip(MODES, workers, outputs, strict=True):
            assert worker.returncode == 0, f"the {mode} process failed:\n{err}"
        counts: Counter[str] = Counter()
        for out, _ in outputs:
            counts.update(json.loads(out.strip().splitlines()[-1]))

        # the run was real: every kind of write happened, and the quota refused some
        for name in ("put", "stream", "copy", "move", "delete", "delete_prefix", "read"):
            assert counts[name] > 0, (name, counts)
        assert counts["quota"] > 0, counts
        assert monitor.error is None, monitor.error
        assert monitor.polls > 0
        assert monitor.over == [], f"the ledger went over max_size={MAX_SIZE}: {monitor.over[:5]}"

        # afterwards: consistent, exact, nothing staged, pinned or reserved
        assert storage.check() == []
        files = list(storage.list())
        usage = storage.get_usage()
        assert usage.used_bytes == sum(f.size for f in files) <= MAX_SIZE
        assert usage.file_count == len(files) == storage.count()
        prefix = storage._prefix
        assert storage._command("HGET", prefix + "st", "reserved") in (None, b"0")
        for name in ("res", "stg", "pin"):
            assert storage._command("HLEN", prefix + name) == 0, name
        assert storage._command("ZCARD", prefix + "lease") == 0
        for file in files:  # every file holds exactly the bytes one writer wrote
            data = storage.get_bytes(file.key)
            verify(data)
            assert len(data) == file.size
        storage.clear()
