"""One cross-process lock for work that several processes may start at once (a data build, a
stage-1 training): ``with file_lock(path): ...`` — the first one does the work, the others wait
and then find it done. An advisory ``fcntl`` lock; where the platform has none, no lock.

The lock file exists only while someone holds or waits for it: the holder deletes it before
releasing, and a waiter that then gets the lock on the deleted file opens ``path`` afresh
(the file it locked is no longer the one at ``path``), so the lock stays exclusive and no
empty ``.lock`` file is left behind. A lock file is only ever deleted by its holder."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

try:
    import fcntl
except ImportError:          # not POSIX: no cross-process lock
    fcntl = None


@contextlib.contextmanager
def file_lock(path: Path):
    """Exclusive advisory lock on ``path`` (created, with its folder, if missing) for the body;
    ``path`` is removed when the body ends, whatever happens in it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    handle = _acquire(path)
    try:
        yield
    finally:
        try:
            path.unlink()                # still ours: every other process opens it anew
        except FileNotFoundError:        # removed by hand meanwhile: nothing to clean
            pass
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _acquire(path: Path):
    """Open and lock ``path`` until the locked file is the one at ``path`` -> the open handle."""
    while True:
        handle = open(path, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            held = os.fstat(handle.fileno())
            try:
                now = os.stat(path)
            except FileNotFoundError:    # the previous holder removed it: lock a new one
                now = None
            if now is not None and (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev):
                return handle
        except BaseException:
            handle.close()
            raise
        handle.close()
