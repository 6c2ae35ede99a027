"""MLflow tracking: one experiment per study, one run per training, parent/child for sweeps.

Who writes what (docs/stack.md, "Fault tolerance and resume"):
- the **driver** checks the tracking URI, creates the experiment (explicit artifact location)
  and the run (tags, params = the flattened config, ``config.json``) *before* training, and
  ends the run (FINISHED / FAILED / KILLED);
- **rank 0** reopens that run by id and logs per-epoch metrics, the figure and system metrics.
  It reads the history already logged first, so an epoch replayed after a restart is never
  logged twice (MLflow cannot delete a metric).
Everything goes through ``MlflowClient`` with an explicit URI: no global run, no cwd.
"""
from __future__ import annotations

import getpass
import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration import views
from orchestration.runtime import project_root

log = logging.getLogger(__name__)

PARAMS_PER_BATCH = 100        # MLflow's limit of params per log_batch call
METRICS_PER_BATCH = 1000      # MLflow's limit of metrics per log_batch call
CHECK_TIMEOUT_S = 5.0         # how long a tracking server may take to answer /health


class TrackingUnavailableError(ConnectionError):
    """The tracking URI cannot be reached or written; raised before any training starts."""


# ---------------------------------------------------------------- where

def default_tracking_uri() -> str:
    """``sqlite:///<project>/mlflow.db`` (absolute: Ray changes the workers' directory)."""
    return f"sqlite:///{project_root() / 'mlflow.db'}"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``$MLFLOW_TRACKING_URI``, else the project's SQLite file; relative
    SQLite paths are made absolute against the current directory."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{Path(uri[len('sqlite:///'):]).resolve()}"
    return uri


def artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts of an experiment: beside a SQLite file (``<dir>/mlartifacts/<experiment>``);
    None for a server (it serves its own artifact store)."""
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        return (db.parent / "mlartifacts" / experiment.replace("/", "_")).as_uri()
    return None


def check_tracking(uri: str, *, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Fail fast, naming the URI, when runs could not be recorded there."""
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        if not db.parent.is_dir() or not os.access(db.parent, os.W_OK):
            raise TrackingUnavailableError(f"tracking URI {uri}: folder {db.parent} does not exist "
                                           "or is not writable")
        if db.exists() and not os.access(db, os.W_OK):
            raise TrackingUnavailableError(f"tracking URI {uri}: {db} is not writable")
        return
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s) as resp:
                if resp.status != 200:
                    raise TrackingUnavailableError(f"tracking URI {uri}: /health answered {resp.status}")
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise TrackingUnavailableError(f"tracking server at {uri} is unreachable ({reason}); "
                                           "start it or set MLFLOW_TRACKING_URI") from None
        return
    try:
        client(uri).search_experiments(max_results=1)
    except Exception as err:  # any backend error means "cannot record runs there"
        raise TrackingUnavailableError(f"tracking URI {uri} is unusable: {err}") from None


def client(uri: str):
    from mlflow.tracking import MlflowClient
    return MlflowClient(tracking_uri=uri)


def _page_url(uri: str, page: str) -> str:
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/{page}"
    return f"http://127.0.0.1:5000/{page}  (run: maskpose ui --tracking-uri {uri})"


def experiment_url(uri: str, experiment_id: str) -> str:
    """The experiment's runs table on the training view, with the pose columns of
    :data:`POSE_VIEW` (MLflow's shared view state, an experiment tag set by
    :func:`ensure_experiment`)."""
    return _page_url(uri, views.runs_page(experiment_id))


def run_url(uri: str, experiment_id: str, run_id: str) -> str:
    """Where a person looks at the run (a server's page, or ``mlflow ui`` for SQLite).

    MLflow 3.17's UI opens every experiment on its GenAI view unless the link says
    ``workflowType=machine_learning`` (the experiment-kind tag is not read: docs/stack.md)."""
    return _page_url(uri, views.run_page(experiment_id, run_id))


# ---------------------------------------------------------------- experiments and runs

# What the MLflow 3 UI would read to open an experiment on its training view. 3.17.2 does not
# read it yet (it keys the view on ``?workflowType=`` and the browser's localStorage:
# docs/stack.md), so every printed link carries the parameter too; the tag is set for the
# versions that do.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"

# The runs table a pose researcher wants, as an MLflow "shared view" (experiment tag
# ``mlflow.sharedViewState.pose``, opened by ``?viewStateShareKey=pose``), its chart view and the
# rounded display copies they show: orchestration/views.py.
VIEW_PARAM, POSE_VIEW_KEY, POSE_VIEW = views.VIEW_PARAM, views.POSE_VIEW_KEY, views.POSE_VIEW


def ensure_experiment(uri: str, name: str) -> str:
    """The id of experiment ``name``, created with an explicit artifact location if new."""
    from mlflow.exceptions import MlflowException

    c = client(uri)
    exp = c.get_experiment_by_name(name)
    view = json.dumps(POSE_VIEW)
    tag = views.POSE_VIEW_TAG
    if exp is None:
        try:
            return c.create_experiment(name, artifact_location=artifact_location(uri, name),
                                       tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND,
                                             tag: view})
        except MlflowException as err:   # another process created it between the two calls
            exp = c.get_experiment_by_name(name)
            if exp is None:
                raise err
            return exp.experiment_id
    if exp.lifecycle_stage == "deleted":
        c.restore_experiment(exp.experiment_id)
    if exp.tags.get(tag) != view:   # made by an older version
        c.set_experiment_tag(exp.experiment_id, tag, view)
    return exp.experiment_id


# what the studies write (reports/*, the README's generated results block): a study run after
# another one regenerated them runs the committed code all the same, so they do not make it dirty
GENERATED_PATHS = ("reports", "README.md")


def git_state(root: Path | None = None) -> dict[str, str]:
    """``git_commit`` and ``git_dirty`` of the project checkout ('unknown' outside git).
    ``git_dirty`` is "true" when a tracked file other than the studies' outputs
    (:data:`GENERATED_PATHS`) differs from the commit."""
    root = root or project_root()
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":(exclude){p}" for p in GENERATED_PATHS)], cwd=root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower()}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}


def source_name(argv0: str | None = None) -> str:
    """What started this process, as MLflow's "Source" column shows it: the script relative to
    the project (``studies/recipe.py``), ``maskpose`` for the command line, else its name."""
    path = Path(argv0 if argv0 is not None else (sys.argv[0] if sys.argv else ""))
    if not path.name or path.name in ("-c", "-m"):
        return "python"
    if path.name == "maskpose":               # the console script, wherever it is installed
        return "maskpose"
    try:
        return str(path.resolve().relative_to(project_root()))
    except ValueError:
        return path.name


def source_tags() -> dict[str, str]:
    """MLflow's own fields of a run's origin: Source, User and the git commit (run page)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = "unknown"
    git = git_state()
    return {"mlflow.source.name": source_name(), "mlflow.source.type": "LOCAL", "mlflow.user": user,
            "mlflow.source.git.commit": git["git_commit"], **git}


def run_tags(cfg, *, study: str, variant: str, dataset_hash: str, extra: dict | None = None) -> dict[str, str]:
    """The tags every run of a study carries, training or not (the runner and reports select
    on them; MLflow's Source, User and git columns read the ``mlflow.*`` ones)."""
    tags = {
        "study": study, "variant": variant, "seed": str(cfg.seed), "config_hash": cfg.hash,
        "profile": cfg.profile, "dataset": cfg.data.dataset, "dataset_hash": dataset_hash,
        **source_tags(),
    }
    tags.update({k: str(v) for k, v in (extra or {}).items()})
    return tags


def find_run(uri: str, experiment_id: str, run_name: str, *, tags: dict[str, str] | None = None):
    """The newest run named ``run_name`` (and carrying ``tags``) in the experiment, or None."""
    filt = [f"attributes.run_name = '{run_name}'"]
    filt += [f"tags.`{k}` = '{v}'" for k, v in (tags or {}).items()]
    runs = client(uri).search_runs([experiment_id], " and ".join(filt), max_results=1,
                                   order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


def create_run(uri: str, experiment_id: str, *, run_name: str, tags: dict[str, str],
               params: dict[str, Any], parent_run_id: str | None = None,
               config: dict | None = None) -> str:
    """Create a RUNNING run with tags, params (chunked) and ``config.json``; return its id."""
    c = client(uri)
    if parent_run_id:
        tags = {**tags, "mlflow.parentRunId": parent_run_id}
    run = c.create_run(experiment_id, run_name=run_name, tags=tags)
    log_params(uri, run.info.run_id, params)
    if config is not None:
        c.log_dict(run.info.run_id, config, "config.json")
    return run.info.run_id


@dataclass(frozen=True)
class DatasetRef:
    """One split of a data set a run read, as MLflow's "Datasets" column and run page show it:
    ``<name>/<split>`` with the data set's hash as digest (MLflow keeps one input per name and
    digest, so the split is in the name).

    ``context`` is MLflow's ``mlflow.data.context`` (training | evaluation); ``profile``
    is a short JSON of what a reader needs (split, moments, views, profile)."""
    name: str
    digest: str
    source: str
    context: str
    split: str
    profile: dict = field(default_factory=dict)


def log_datasets(uri: str, run_id: str, refs: list[DatasetRef]) -> None:
    """Log ``refs`` as the run's dataset inputs (once each: a resumed run logs none twice)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    have = {(d.dataset.name, d.dataset.digest) for d in (client(uri).get_run(run_id).inputs.dataset_inputs or [])}
    todo = []
    for ref in refs:
        tags = [InputTag("mlflow.data.context", ref.context), InputTag("split", ref.split)]
        if (f"{ref.name}/{ref.split}", ref.digest) in have:
            continue
        ds = Dataset(name=f"{ref.name}/{ref.split}", digest=ref.digest, source_type="local",
                     source=json.dumps({"uri": ref.source}),
                     profile=json.dumps({"split": ref.split, **ref.profile}, sort_keys=True))
        todo.append(DatasetInput(ds, tags=tags))
    if not todo:
        return
    from mlflow.exceptions import MlflowException
    for attempt in range(3):
        try:
            client(uri).log_inputs(run_id, datasets=todo)
            return
        except MlflowException as e:
            # two runs of one experiment inserting the same new dataset at once (--parallel): the
            # server's unique constraint refuses the second; the row now exists, and a retry uses it
            if "UNIQUE constraint" not in str(e) or attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))


def reopen_run(uri: str, run_id: str, params: dict[str, Any]) -> None:
    """Mark an existing run RUNNING again for a resume; its params must not change."""
    log_params(uri, run_id, params)
    client(uri).update_run(run_id, status="RUNNING")


def log_params(uri: str, run_id: str, params: dict[str, Any]) -> None:
    """Log params in batches of ≤ 100. A param already logged with another value raises
    ``ValueError`` (MLflow params are immutable; a resumed run must keep its config)."""
    c = client(uri)
    logged = c.get_run(run_id).data.params
    changed = {k: (logged[k], str(v)) for k, v in params.items() if k in logged and logged[k] != str(v)}
    if changed:
        raise ValueError(f"run {run_id} already has different values for params "
                         f"{ {k: f'{a} -> {b}' for k, (a, b) in changed.items()} }; "
                         "a resumed run cannot change its config")
    from mlflow.entities import Param
    todo = [Param(k, str(v)) for k, v in params.items() if k not in logged]
    for i in range(0, len(todo), PARAMS_PER_BATCH):
        c.log_batch(run_id, params=todo[i:i + PARAMS_PER_BATCH])


def end_run(uri: str, run_id: str, status: str = "FINISHED") -> None:
    client(uri).set_terminated(run_id, status=status)


def log_metrics_once(uri: str, run_id: str, rows: dict[int, dict[str, float]]) -> int:
    """Log ``{step: {key: value}}`` skipping every (key, step) already in the run's history;
    return how many values were written.

    A written metric of :data:`views.DISPLAY_METRICS` also gets its rounded display copy (the
    runs table's one-decimal column), at step 0 with the same time: the copy's latest value is
    the newest one. Copies are not counted; the metric itself is logged unrounded."""
    from mlflow.entities import Metric
    c = client(uri)
    seen: dict[str, set[int]] = {}
    todo, copies, now = [], {}, int(time.time() * 1000)
    for step, metrics in sorted(rows.items()):
        for key, value in metrics.items():
            if key not in seen:
                seen[key] = {m.step for m in c.get_metric_history(run_id, key)}
            if step not in seen[key]:
                todo.append(Metric(key, float(value), now, int(step)))
                seen[key].add(step)
                copies.update(views.display_copies({key: value}))
    written = len(todo)
    todo += [Metric(key, value, now, 0) for key, value in copies.items()]
    for i in range(0, len(todo), METRICS_PER_BATCH):
        c.log_batch(run_id, metrics=todo[i:i + METRICS_PER_BATCH])
    return written


def metric_steps(uri: str, run_id: str, key: str) -> list[int]:
    """Steps logged for ``key``, in order (tests: each epoch exactly once)."""
    return [m.step for m in client(uri).get_metric_history(run_id, key)]


def write_json_artifact(uri: str, run_id: str, obj: Any, name: str) -> None:
    client(uri).log_text(run_id, json.dumps(obj, indent=1, sort_keys=True, default=str), name)


def read_json_artifact(uri: str, run_id: str, name: str) -> Any:
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        local = client(uri).download_artifacts(run_id, name, dst_path=tmp)
        return json.loads(Path(local).read_text())


class EpochLogger:
    """Rank 0's view of a run: metrics once per epoch, the figure, system metrics.

    ``EpochLogger(uri, run_id).start()`` on every (re)start of rank 0; ``log_epoch`` skips
    epochs already in the history; ``close()`` stops the system-metrics thread.

    The system-metrics thread starts after the first epoch's metrics are logged: MLflow's run
    and compare pages list metrics in the order their keys first arrived, so the pose metrics
    come first there instead of ``system/cpu_utilization_percentage`` (the first epoch's
    system samples are the price).
    """

    def __init__(self, uri: str, run_id: str, *, system_metrics: bool = True):
        self.uri, self.run_id, self.system_metrics = uri, run_id, system_metrics
        self._monitor = None
        self._started = False

    def start(self) -> "EpochLogger":
        """Arm the logger; system metrics begin with the first :meth:`log_epoch`."""
        self._started = True
        return self

    def _start_monitor(self) -> None:
        if self.system_metrics and self._monitor is None:
            try:
                from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
                self._monitor = SystemMetricsMonitor(self.run_id, resume_logging=True, tracking_uri=self.uri)
            except ImportError as err:  # psutil: vendored in Ray workers, not always in a plain venv
                log.warning("system metrics off (%s); install psutil to record them", err)
                self.system_metrics = False
                return
            self._monitor.start()

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> int:
        written = log_metrics_once(self.uri, self.run_id, {epoch: metrics})
        if self._started:
            self._start_monitor()
        return written

    def log_figure(self, figure, name: str) -> None:
        """An (H, W, 3) uint8 image as a PNG artifact under ``figures/``."""
        client(self.uri).log_image(self.run_id, figure, artifact_file=f"figures/{name}.png")

    def log_file(self, path: str | os.PathLike, folder: str) -> None:
        client(self.uri).log_artifact(self.run_id, str(path), folder)

    def close(self) -> None:
        """Stop the system-metrics thread, then log one last sample: MLflow's monitor logs only
        at the end of a full sampling interval (10 s), so a short run would have none."""
        monitor, self._monitor = self._monitor, None
        if monitor is None:
            return
        try:
            monitor.finish()
            monitor.collect_metrics()
            monitor.publish_metrics(monitor.aggregate_metrics())
            monitor.mlflow_logger.flush()
        except Exception as err:  # a failing monitor must not fail the training
            log.warning("system metrics monitor did not stop cleanly: %s", err)
