"""file_lock: exclusive across processes, and its file is gone once nobody holds it."""
from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from maskpose_core.file_lock import fcntl, file_lock

pytestmark = pytest.mark.skipif(fcntl is None, reason="no fcntl: file_lock is a no-op on this platform")

ROUNDS, PROCESSES = 15, 3


def _count(folder: str) -> None:
    """ROUNDS read-sleep-write increments of a counter file, each under the lock."""
    counter = Path(folder) / "counter"
    for _ in range(ROUNDS):
        with file_lock(Path(folder) / ".work.lock"):
            n = int(counter.read_text())
            time.sleep(0.002)                  # a lost update shows if two hold the lock at once
            counter.write_text(str(n + 1))


def test_the_lock_file_is_removed_after_the_body_and_after_an_error(tmp_path):
    lock = tmp_path / "sub" / ".x.lock"
    with file_lock(lock):
        assert lock.is_file()                  # held: the file is there
    assert not lock.exists() and list((tmp_path / "sub").iterdir()) == []
    with pytest.raises(RuntimeError, match="inside"):
        with file_lock(lock):
            raise RuntimeError("inside")
    assert list((tmp_path / "sub").iterdir()) == []


def test_processes_never_hold_it_together_though_each_release_deletes_the_file(tmp_path):
    (tmp_path / "counter").write_text("0")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_count, args=(str(tmp_path),)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    # 3 processes x 15 increments, none lost: the lock was exclusive across the unlinks
    assert (tmp_path / "counter").read_text() == str(ROUNDS * PROCESSES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter"]
