"""The sha256 of a file's bytes, read in 1 MiB blocks: one implementation for the poses files a
build renders (``data/cmu_mv4/config.py``), the ``model.init`` file a run's hash holds
(``config.py``) and the model zoo's entries (``train/zoo.py``)."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    """64 hex digits of sha256 over the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
