"""MLflow tracking without Ray: SQLite in tmp_path, params in chunks, resume never logs an
epoch twice, an unreachable tracking URI fails before any work, naming the URI."""
from __future__ import annotations

import socket
import time

import pytest

from maskpose_core.config import flatten, profile_config
from orchestration import tracking


@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    return f"sqlite:///{db}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_default_uri_is_absolute_sqlite_in_project(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MASKPOSE_HOME", str(tmp_path))
    assert tracking.resolve_tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    assert tracking.artifact_location(tracking.resolve_tracking_uri(), "table3") == \
        (tmp_path / "mlartifacts" / "table3").as_uri()


def test_env_overrides_and_relative_sqlite_made_absolute(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert tracking.resolve_tracking_uri() == "http://tracking:5000"
    monkeypatch.chdir(tmp_path)
    assert tracking.resolve_tracking_uri("sqlite:///runs.db") == f"sqlite:///{tmp_path}/runs.db"


def test_params_logged_in_chunks_of_at_most_100(uri, monkeypatch):
    exp = tracking.ensure_experiment(uri, "chunks")
    batches = []
    from mlflow.tracking import MlflowClient
    real = MlflowClient.log_batch

    def spy(self, run_id, metrics=(), params=(), tags=(), **kw):
        batches.append(len(params))
        return real(self, run_id, metrics=metrics, params=params, tags=tags, **kw)
    monkeypatch.setattr(MlflowClient, "log_batch", spy)
    params = {f"p.{i:03d}": i for i in range(250)}     # 250 = 100 + 100 + 50
    run_id = tracking.create_run(uri, exp, run_name="chunks/a", tags={"study": "chunks"}, params=params)
    assert [b for b in batches if b] == [100, 100, 50]
    logged = tracking.client(uri).get_run(run_id).data.params
    assert len(logged) == 250 and logged["p.249"] == "249"


def test_config_params_tags_and_config_json(uri):
    cfg = profile_config("smoke")
    exp = tracking.ensure_experiment(uri, "cfg")
    tags = tracking.run_tags(cfg, study="cfg", variant="full", dataset_hash="abc123")
    run_id = tracking.create_run(uri, exp, run_name="cfg/full/seed=0", tags=tags,
                                 params=flatten(cfg), config={"a": 1})
    run = tracking.client(uri).get_run(run_id)
    assert run.data.params["loss.lambda_s"] == str(cfg.loss.lambda_s)
    assert len(run.data.params) == len(flatten(cfg))
    for key in ("study", "variant", "seed", "config_hash", "git_commit", "git_dirty",
                "dataset_hash", "profile"):
        assert key in run.data.tags, key
    assert run.data.tags["config_hash"] == cfg.hash
    assert tracking.read_json_artifact(uri, run_id, "config.json") == {"a": 1}
    assert tracking.find_run(uri, exp, "cfg/full/seed=0").info.run_id == run_id


def test_resume_never_logs_an_epoch_twice(uri):
    exp = tracking.ensure_experiment(uri, "resume")
    run_id = tracking.create_run(uri, exp, run_name="r", tags={}, params={"a": 1})
    first = tracking.EpochLogger(uri, run_id, system_metrics=False).start()
    first.log_epoch(0, {"train/loss": 3.0, "val/mpjpe_mm": 300.0})
    first.log_epoch(1, {"train/loss": 2.0, "val/mpjpe_mm": 250.0})
    # a restarted rank 0 (checkpoint one epoch behind) replays epoch 1, then goes on
    again = tracking.EpochLogger(uri, run_id, system_metrics=False).start()
    assert again.log_epoch(1, {"train/loss": 2.1, "val/mpjpe_mm": 251.0}) == 0
    assert again.log_epoch(2, {"train/loss": 1.5, "val/mpjpe_mm": 200.0}) == 2
    for key in ("train/loss", "val/mpjpe_mm"):
        assert tracking.metric_steps(uri, run_id, key) == [0, 1, 2]
    history = tracking.client(uri).get_metric_history(run_id, "train/loss")
    assert [m.value for m in history] == [3.0, 2.0, 1.5]      # the first value of epoch 1 stays


def test_resumed_run_cannot_change_a_param(uri):
    exp = tracking.ensure_experiment(uri, "immutable")
    run_id = tracking.create_run(uri, exp, run_name="r", tags={}, params={"loss.lambda_p": 1.0})
    tracking.reopen_run(uri, run_id, {"loss.lambda_p": 1.0})          # same value: fine
    with pytest.raises(ValueError, match="loss.lambda_p"):
        tracking.reopen_run(uri, run_id, {"loss.lambda_p": 0.5})


def test_unreachable_server_fails_fast_naming_the_uri():
    uri = f"http://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(tracking.TrackingUnavailableError, match=uri.replace(".", r"\.")):
        tracking.check_tracking(uri)
    assert time.perf_counter() - t0 < 5.0


def test_unwritable_sqlite_folder_fails_naming_the_uri(tmp_path):
    uri = f"sqlite:///{tmp_path}/missing/dir/mlflow.db"
    with pytest.raises(tracking.TrackingUnavailableError, match="missing/dir"):
        tracking.check_tracking(uri)


def test_a_short_run_still_gets_a_system_metrics_sample(uri):
    pytest.importorskip("psutil")
    exp = tracking.ensure_experiment(uri, "system")
    run_id = tracking.create_run(uri, exp, run_name="s", tags={}, params={})
    logger = tracking.EpochLogger(uri, run_id, system_metrics=True).start()
    logger.log_epoch(0, {"train/loss": 1.0})
    logger.close()                                     # well within MLflow's 10 s interval
    c = tracking.client(uri)
    keys = c.get_run(run_id).data.metrics
    assert any(k.startswith("system/cpu") for k in keys), sorted(keys)
    # the pose metric arrived first (MLflow lists keys in that order), system samples after it
    first_pose = c.get_metric_history(run_id, "train/loss")[0].timestamp
    first_system = min(m.timestamp for k in keys if k.startswith("system/") for m in c.get_metric_history(run_id, k))
    assert first_pose <= first_system


def test_links_open_the_training_view_and_the_pose_columns(uri):
    exp = tracking.ensure_experiment(uri, "links")
    table = tracking.experiment_url(uri, exp)
    assert f"#/experiments/{exp}/runs?viewStateShareKey=pose&workflowType=machine_learning" in table
    assert "maskpose ui --tracking-uri" in table                         # SQLite: how to serve it
    assert tracking.run_url("http://t:5000/", exp, "abc") == \
        f"http://t:5000/#/experiments/{exp}/runs/abc?workflowType=machine_learning"
    c = tracking.client(uri)
    c.set_experiment_tag(exp, "mlflow.sharedViewState.pose", "{}")       # an older version's view...
    tracking.ensure_experiment(uri, "links")                             # ...is brought up to date
    import json
    assert json.loads(c.get_experiment(exp).tags["mlflow.sharedViewState.pose"]) == tracking.POSE_VIEW


def test_source_name_is_the_script_relative_to_the_project(monkeypatch, tmp_path):
    monkeypatch.setenv("MASKPOSE_HOME", str(tmp_path))
    (tmp_path / "studies").mkdir()
    assert tracking.source_name(str(tmp_path / "studies" / "recipe.py")) == "studies/recipe.py"
    assert tracking.source_name("/usr/local/bin/maskpose") == "maskpose"
    assert tracking.source_name("/elsewhere/run.py") == "run.py"
    assert tracking.source_name("-c") == "python"


def test_a_dataset_insert_lost_to_a_parallel_run_is_retried(uri, monkeypatch):
    """--parallel: two runs insert the same new dataset at once and the server's unique
    constraint refuses the second; the retry finds the row and links the run to it."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    exp = tracking.ensure_experiment(uri, "race")
    run_id = tracking.create_run(uri, exp, run_name="race/a", tags={"study": "race"}, params={})
    real, calls = MlflowClient.log_inputs, []

    def lose_once(self, run_id, datasets=None, **kw):
        calls.append(run_id)
        if len(calls) == 1:
            raise MlflowException("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id")
        return real(self, run_id, datasets=datasets, **kw)
    monkeypatch.setattr(MlflowClient, "log_inputs", lose_once)
    ref = tracking.DatasetRef(name="cmu-mv4", digest="abc", source="/d", context="training", split="train")
    tracking.log_datasets(uri, run_id, [ref])
    assert len(calls) == 2
    names = [d.dataset.name for d in tracking.client(uri).get_run(run_id).inputs.dataset_inputs]
    assert names == ["cmu-mv4/train"]

    def always_other(self, run_id, datasets=None, **kw):
        raise MlflowException("some other server error")
    monkeypatch.setattr(MlflowClient, "log_inputs", always_other)
    with pytest.raises(MlflowException, match="some other server error"):
        tracking.log_datasets(uri, run_id, [tracking.DatasetRef(name="x", digest="d", source="/x",
                                                                context="training", split="val")])


def test_a_regenerated_report_does_not_make_the_code_dirty(tmp_path):
    """A study run after another one rewrote reports/ and the README's results block runs the
    committed code: its report says so; a changed code file still marks it dirty."""
    import subprocess

    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (tmp_path / "reports").mkdir()
    for name in ("reports/t.md", "README.md", "code.py"):
        (tmp_path / name).write_text("v1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1")
    assert tracking.git_state(tmp_path)["git_dirty"] == "false"
    (tmp_path / "reports/t.md").write_text("v2\n")
    (tmp_path / "README.md").write_text("v2\n")
    state = tracking.git_state(tmp_path)
    assert state["git_dirty"] == "false" and len(state["git_commit"]) == 40
    (tmp_path / "code.py").write_text("v2\n")
    assert tracking.git_state(tmp_path)["git_dirty"] == "true"


def test_a_logged_pose_metric_gets_a_rounded_display_copy_and_stays_unrounded(uri):
    """The runs table shows one decimal through display copies (orchestration/views.py); the
    metric the reports read keeps every digit, and a replayed epoch writes no copy either."""
    exp = tracking.ensure_experiment(uri, "copies")
    run_id = tracking.create_run(uri, exp, run_name="c", tags={}, params={})
    rows = {0: {"test/mpjpe_flip_mm": 273.8786059711895, "val/mask_iou": 0.41249, "train/loss": 1.0}}
    assert tracking.log_metrics_once(uri, run_id, rows) == 3                  # copies are not counted
    m = tracking.client(uri).get_run(run_id).data.metrics
    assert m["test/mpjpe_flip_mm"] == 273.8786059711895                      # the truth, untouched
    assert m["test MPJPE flip mm"] == 273.9 and m["val mask IoU pct"] == 41.2  # 41.249 % -> 41.2
    assert set(m) == set(rows[0]) | {"test MPJPE flip mm", "val mask IoU pct"}  # train/loss: no copy
    assert tracking.log_metrics_once(uri, run_id, rows) == 0                  # a replay: nothing at all
    assert len(tracking.client(uri).get_metric_history(run_id, "test MPJPE flip mm")) == 1
    tracking.log_metrics_once(uri, run_id, {1: {"test/mpjpe_flip_mm": 250.04}})
    assert tracking.client(uri).get_run(run_id).data.metrics["test MPJPE flip mm"] == 250.0   # newest wins
