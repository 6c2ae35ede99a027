"""Orchestration test set-up: one Ray instance for the session (docs/stack.md: ~4 s once), a smoke
data set built once, and a fresh SQLite tracking store + storage folder per test.

Every Ray test carries ``@pytest.mark.ray`` and ``@pytest.mark.timeout`` (a placement group that
cannot be satisfied waits forever; the timeout turns that into a failure).
"""
from __future__ import annotations

import os

import pytest


RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1",   # docs/stack.md: report() 1.9 s -> 0.19 s
    "RAY_TRAIN_V2_ENABLED": "1",
}


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore:The ``noload`` loader strategy:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:ray.*")


@pytest.fixture(scope="session")
def ray_cluster():
    """A local 2-CPU Ray started the way ``maskpose`` starts it (``ensure_ray``: its own
    dashboard port, found by Ray Train's helpers even beside other Ray instances on the host);
    yields the cluster resources; shut down at the end."""
    import ray
    from orchestration.runtime import ensure_ray

    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    resources = ensure_ray(num_cpus=2)
    yield resources
    ray.shutdown()


@pytest.fixture
def tracking_uri(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"
