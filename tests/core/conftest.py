import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_data import build_tiny  # noqa: E402


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """48 train / 16 val moments × 4 views at 32 px from real CMU poses (≈ 1 s)."""
    return build_tiny(tmp_path_factory.mktemp("tiny") / "tiny-32")
