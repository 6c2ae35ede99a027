"""Cluster launch: Ray cluster-launcher YAMLs (``aws-gpu.yaml``, ``gcp-gpu.yaml``,
``onprem.yaml``) and what ``ray job submit`` must not upload. See ``README.md`` here."""
from __future__ import annotations

import json
from pathlib import Path

CLUSTER_DIR = Path(__file__).resolve().parent
YAMLS = ("aws-gpu.yaml", "gcp-gpu.yaml", "onprem.yaml")

# gitignore-style patterns, relative to --working-dir: never upload the tracking store, data,
# checkpoints or the virtual environment (the nodes install the project with scripts/setup.sh).
JOB_EXCLUDES = ["/mlflow.db", "/mlartifacts/", "/mlruns/", "/data/", "/checkpoints/", "/ray_results/",
                "/.venv/", "/.git/", "*.egg-info/", "__pycache__/", ".pytest_cache/", "*.pt"]


def runtime_env_json(env_vars: dict[str, str] | None = None) -> str:
    """The ``--runtime-env-json`` value for ``ray job submit --working-dir .``."""
    return json.dumps({"excludes": JOB_EXCLUDES, "env_vars": dict(env_vars or {})})
