"""Shared test set-up: small torch ops run faster on one thread on a shared 2-core machine."""
import os

import pytest
import torch

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def smoke_data_root(tmp_path_factory):
    """cmu-mv4 at the smoke profile, built once per session (≈ 5 s); returns its root.
    (The studies build cmu-3dhp-rig on demand.)"""
    from maskpose_core.config import profile_config
    from maskpose_core.data.registry import load_data

    root = tmp_path_factory.mktemp("data")
    load_data(profile_config("smoke").data, root=root, workers=1, progress=False)
    return root
