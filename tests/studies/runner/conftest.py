"""Runner test set-up: ``plant``, a run put into MLflow as the runner would find it."""
from __future__ import annotations

import pytest


@pytest.fixture
def plant():
    """``plant(uri, config_hash, metrics, status=..., params=...)`` → run id: a run tagged with
    the hash (kind ``train``) whose params carry a profile, as a training's flattened config does."""
    from orchestration import tracking

    def make(uri: str, config_hash: str, metrics: dict, *, status: str = "FINISHED",
             params: dict | None = None) -> str:
        exp = tracking.ensure_experiment(uri, "planted")
        run_id = tracking.create_run(uri, exp, run_name=f"planted/{config_hash}",
                                     params=params or {"profile": "smoke"},
                                     tags={"config_hash": config_hash, "kind": "train"})
        tracking.log_metrics_once(uri, run_id, {0: metrics})
        tracking.end_run(uri, run_id, status)
        return run_id
    return make
