"""Where things live and what the cluster can hold: project paths, storage checks, Ray start-up
and the CPU/GPU arithmetic that keeps Ray Train and Tune from waiting forever for resources.

docs/stack.md: on a 2-core machine a placement group that cannot be satisfied is retried without
end (``WorkerGroupStartupTimeout``), so every launch is planned here first and refused with
the arithmetic when it does not fit.
"""
from __future__ import annotations

import contextlib
import math
import os
import socket
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

PROJECT_ENV = "MASKPOSE_HOME"          # overrides the project folder (clusters: a shared path)
STORAGE_ENV = "MASKPOSE_STORAGE"       # overrides the checkpoint storage folder
RAY_ADDRESS_ENV = "MASKPOSE_RAY_ADDRESS"  # "auto" on cluster nodes (set by the launcher YAMLs)
CPU_QUANTUM = 0.05                     # CPU shares are rounded down to this step
MIN_CPUS_PER_WORKER = 0.1              # below this a worker is starved: refuse instead
TUNE_DRIVER_CPUS = 0.1                 # docs/stack.md: a Tune trial's driver function, 0 is refused
RAY_QUIET_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    # docs/stack.md: report() blocks ~1.9 s per call at the default 2 s poll; 0.1 s -> ~0.19 s.
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1",
    "RAY_TRAIN_V2_ENABLED": "1",
}


def project_root() -> Path:
    """The project folder: ``$MASKPOSE_HOME``, else the source checkout holding this package,
    else the current directory (an installed, non-editable package)."""
    env = os.environ.get(PROJECT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve().parents[1]
    if (here / "pyproject.toml").is_file():
        return here
    return Path.cwd().resolve()


def default_storage_path() -> Path:
    """Ray Train/Tune storage (checkpoints, trial state): ``$MASKPOSE_STORAGE`` or
    ``<project>/checkpoints``. Multi-node clusters must point this at shared storage."""
    env = os.environ.get(STORAGE_ENV)
    return Path(env).expanduser().resolve() if env else project_root() / "checkpoints"


def check_storage_path(path: str | os.PathLike | None) -> Path:
    """Resolve ``path`` (None/'' = default) to an absolute folder, create it, prove it writable.

    Raises ``ValueError`` naming the path when it cannot be created or written.
    """
    raw = str(path) if path not in (None, "") else str(default_storage_path())
    if "://" in raw:
        raise ValueError(f"storage path {raw!r}: only local or mounted shared folders are supported "
                         "(mount the bucket, e.g. with s3fs/gcsfuse, and pass the mount point)")
    folder = Path(raw).expanduser().resolve()
    probe = folder / f".write-probe-{uuid.uuid4().hex[:8]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"storage path {str(folder)!r} is not writable: {err.strerror or err}") from None
    return folder


def quiet_ray_env() -> None:
    """Environment defaults for Ray (set before ``ray.init`` so workers and actors inherit them)."""
    for key, value in RAY_QUIET_ENV.items():
        os.environ.setdefault(key, value)


def ensure_ray(address: str | None = None, *, num_cpus: int | None = None) -> dict[str, float]:
    """Connect to (or start) Ray once and return ``ray.cluster_resources()``.

    ``address``: None = ``$RAY_ADDRESS`` if set (``ray job submit`` sets it), else
    ``$MASKPOSE_RAY_ADDRESS`` (``auto`` on launcher-built clusters), else a new local instance
    (``"local"``: never attach by accident to another user's ``ray start`` on the same host).
    """
    import ray

    quiet_ray_env()
    if not ray.is_initialized():
        target = (address or os.environ.get("RAY_ADDRESS") or os.environ.get(RAY_ADDRESS_ENV)
                  or "local")
        kwargs = _local_instance_kwargs(num_cpus) if target == "local" else {}
        ray.init(address=target, log_to_driver=True, **kwargs)
    return dict(ray.cluster_resources())


def ray_connected() -> bool:
    """Is this process connected to Ray (without importing it when it never was)?"""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


@contextlib.contextmanager
def own_ray():
    """For a command's Ray work: if Ray was not connected when the block began, disconnect (and
    so print what Ray still holds back) when it ends, whatever happens in it.

    docs/stack.md: Ray's log thread prints worker lines whenever they arrive, and holds back lines
    repeated across processes ("[repeated 5x across cluster]") until it disconnects — at
    interpreter exit, after a command's final line, unless the command disconnects first. A Ray
    connection the caller already had (a test session, a notebook) is left open.
    """
    was_connected = ray_connected()
    try:
        yield
    finally:
        if not was_connected and ray_connected():
            disconnect_ray()


def disconnect_ray() -> None:
    """``ray.shutdown()``: prints the worker lines Ray holds back, stops its log threads (nothing
    of Ray's prints after this) and, for a local instance this process started, stops it."""
    import ray

    ray.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()


def _local_instance_kwargs(num_cpus: int | None) -> dict:
    """A local instance whose processes find *its* dashboard even when other Ray instances run on
    the same host. Measured here: without ``RAY_API_SERVER_ADDRESS``, Ray Train's placement-group
    cleaner fails with "Found multiple active Ray instances" and a failed run's CPUs stay held."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api = f"http://127.0.0.1:{port}"   # for Ray's processes only: this process's env is untouched
    kwargs = {"include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": port,
              "runtime_env": {"env_vars": {"RAY_API_SERVER_ADDRESS": api}}}
    if num_cpus:
        kwargs["num_cpus"] = num_cpus
    return kwargs


def job_placement_groups() -> set[str]:
    """Ids (hex) of this Ray job's placement groups that still hold resources."""
    import ray

    job = ray.get_runtime_context().get_job_id()
    return {pg_id for pg_id, info in ray.util.placement_group_table().items()
            if pg_id.endswith(job) and info["state"] != "REMOVED"}


def release_placement_groups(before: set[str]) -> int:
    """Remove this job's placement groups created since ``before`` (a ``job_placement_groups()``
    snapshot) — call only when none of them can still be in use.

    Measured here: a Tune sweep interrupted in a process that lives on (a notebook, a test)
    leaves its trials' Ray Train placement groups CREATED, and the resumed sweep then waits
    for those CPUs forever; docs/stack.md: so does a failed fit whose workers could not start.
    """
    import ray
    from ray.util.placement_group import PlacementGroup
    from ray._raylet import PlacementGroupID

    leaked = job_placement_groups() - before
    for pg_id in leaked:
        ray.util.remove_placement_group(PlacementGroup(PlacementGroupID(bytes.fromhex(pg_id))))
    return len(leaked)


@dataclass(frozen=True)
class ResourcePlan:
    """Per-launch resources: ``concurrent`` × (driver + workers × per-worker) ≤ the cluster."""
    workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    driver_cpus: float
    concurrent: int
    cluster_cpus: float
    cluster_gpus: float

    @property
    def cpus_per_launch(self) -> float:
        return self.driver_cpus + self.workers * self.cpus_per_worker

    def describe(self) -> str:
        return (f"{self.concurrent} × ({self.driver_cpus:g} driver + {self.workers} workers × "
                f"{self.cpus_per_worker:g} CPU) = {self.concurrent * self.cpus_per_launch:g} of "
                f"{self.cluster_cpus:g} CPUs")


def _floor(x: float) -> float:
    return math.floor(x / CPU_QUANTUM + 1e-9) * CPU_QUANTUM


def plan_resources(*, workers: int, cluster: dict[str, float], cpus_per_worker: float | None = None,
                   gpus_per_worker: float = 0.0, driver_cpus: float = 0.0,
                   concurrent: int = 1) -> ResourcePlan:
    """Derive (or check) CPU and GPU shares so that every concurrent launch fits at once.

    cpus_per_worker None = the largest multiple of 0.05 that fits. Raises ``ValueError`` with
    the arithmetic when the request exceeds the cluster (Ray would wait forever instead).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1 for Ray Train, got {workers}")
    if concurrent < 1:
        raise ValueError(f"concurrent must be >= 1, got {concurrent}")
    if gpus_per_worker < 0:
        raise ValueError(f"gpus_per_worker must be >= 0, got {gpus_per_worker}")
    cpus, gpus = float(cluster.get("CPU", 0.0)), float(cluster.get("GPU", 0.0))
    if cpus_per_worker is None:
        cpus_per_worker = _floor((cpus / concurrent - driver_cpus) / workers)
        if cpus_per_worker < MIN_CPUS_PER_WORKER:
            raise ValueError(
                f"cluster too small: {concurrent} × ({driver_cpus:g} driver + {workers} workers × "
                f"≥ {MIN_CPUS_PER_WORKER:g} CPU) = {concurrent * (driver_cpus + workers * MIN_CPUS_PER_WORKER):g}"
                f" > {cpus:g} CPUs; use fewer workers or fewer concurrent trials")
    elif cpus_per_worker <= 0:
        raise ValueError(f"cpus_per_worker must be > 0, got {cpus_per_worker}")
    plan = ResourcePlan(workers, float(cpus_per_worker), float(gpus_per_worker), driver_cpus,
                        concurrent, cpus, gpus)
    if concurrent * plan.cpus_per_launch > cpus + 1e-9:
        raise ValueError(f"workers × CPUs exceed the cluster: {plan.describe()}; lower --workers, "
                         f"--cpus-per-worker or --concurrent")
    need_gpus = concurrent * workers * gpus_per_worker
    if need_gpus > gpus + 1e-9:
        raise ValueError(f"workers × GPUs exceed the cluster: {concurrent} × {workers} workers × "
                         f"{gpus_per_worker:g} GPU = {need_gpus:g} > {gpus:g} GPUs")
    return plan
