"""One cross-process lock for work that several processes may start at once (a data build, a
stage-1 training): ``with file_lock(path): ...`` — the first one does the work, the others wait
and then find it done. An advisory ``fcntl`` lock; where the platform has none, no lock."""
from __future__ import annotations

import contextlib
from pathlib import Path

try:
    import fcntl
except ImportError:          # not POSIX: no cross-process lock
    fcntl = None


@contextlib.contextmanager
def file_lock(path: Path):
    """Exclusive advisory lock on ``path`` (created, with its folder, if missing) for the body."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
