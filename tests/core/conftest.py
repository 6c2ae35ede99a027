"""The core tests' shared fixture. pytest puts this folder on ``sys.path`` before importing this
file (its default ``prepend`` import mode: ``tests/core`` is not a package), so ``tiny_data``
imports as a module of its own, with no path set-up here."""
import pytest

from tiny_data import build_tiny


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """48 train / 16 val moments × 4 views at 32 px from real CMU poses (≈ 1 s)."""
    return build_tiny(tmp_path_factory.mktemp("tiny") / "tiny-32")
