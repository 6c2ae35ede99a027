"""``maskpose ui`` without a browser: the pose view's columns and charts, the display copies it
writes for runs that lack them, and a real server started on a free port, fetched, and stopped."""
from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest

from orchestration import cli, tracking, ui, views


@pytest.fixture
def store(tmp_path):
    """A store with one maskpose experiment holding a run logged around ``log_metrics_once`` (so
    without display copies, as runs logged before them) and a foreign experiment."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp = tracking.ensure_experiment(uri, "table3_shape")
    run_id = tracking.create_run(uri, exp, run_name="Full/seed=0", tags={}, params={})
    c = tracking.client(uri)
    for key, value in {"test/mpjpe_flip_mm": 286.25, "test/p_mpjpe_mm": 166.2704,
                       "val/mask_iou": 0.5, "train/loss": 0.123456}.items():
        c.log_metric(run_id, key, value, step=3)
    foreign = c.create_experiment("someone else's")
    c.log_metric(c.create_run(foreign).info.run_id, "test/mpjpe_flip_mm", 1.25)
    return uri, exp, run_id


def test_the_pose_view_puts_the_test_columns_first_and_opens_the_compare_view_on_them():
    v = views.POSE_VIEW
    assert v["columnOrder"][:5] == ["attributes.`Run Name`", "runDateAndNestInfo",
                                    "metrics.`test MPJPE flip mm`", "metrics.`test P-MPJPE mm`",
                                    "metrics.`test 2D flip pct`"]
    shown = [c for c in v["selectedColumns"] if c.startswith("metrics.")]
    assert shown == v["columnOrder"][2:2 + len(shown)]                      # every metric column, in that order
    assert all(v["columnWidths"][c] >= 8 * len(c.split("`")[1]) for c in shown)  # whole headers
    charts = v["compareRunCharts"]
    assert [c["metricKey"] for c in charts] == ["test MPJPE flip mm", "test P-MPJPE mm", "test 2D flip pct"]
    first = v["compareRunSections"][0]
    assert first["display"] and all(c["metricSectionId"] == first["uuid"] for c in charts)
    assert not any(s["display"] for s in v["compareRunSections"][1:])       # the generated ones folded
    assert views.charts_page("7") == \
        "#/experiments/7/runs?viewStateShareKey=pose&compareRunsMode=CHART&workflowType=machine_learning"
    assert views.runs_page("7") == "#/experiments/7/runs?viewStateShareKey=pose&workflowType=machine_learning"


def test_stale_copies_round_to_one_decimal_and_skip_what_is_there():
    # 286.25 is 286.25 in binary: Python rounds half to even -> 286.2; 0.5 IoU -> 50.0 %
    assert ui.stale_copies({"test/mpjpe_flip_mm": 286.25, "val/mask_iou": 0.5, "train/loss": 1.0}) == \
        {"test MPJPE flip mm": 286.2, "val mask IoU pct": 50.0}
    assert ui.stale_copies({"test/p_mpjpe_mm": 166.2704, "test P-MPJPE mm": 166.3}) == {}
    assert ui.stale_copies({"test/p_mpjpe_mm": 170.0, "test P-MPJPE mm": 166.3}) == {"test P-MPJPE mm": 170.0}


def test_sync_writes_the_missing_copies_once_and_refreshes_an_old_view(store):
    uri, exp, run_id = store
    c = tracking.client(uri)
    c.set_experiment_tag(exp, views.POSE_VIEW_TAG, json.dumps({"selectedColumns": []}))   # an older view
    assert [e.name for e in ui.sync(uri)] == ["table3_shape"]               # the foreign one is left alone
    m = c.get_run(run_id).data.metrics
    assert (m["test MPJPE flip mm"], m["test P-MPJPE mm"], m["val mask IoU pct"]) == (286.2, 166.3, 50.0)
    assert m["test/p_mpjpe_mm"] == 166.2704 and "train/loss" in m and not any("loss " in k for k in m)
    assert json.loads(c.get_experiment(exp).tags[views.POSE_VIEW_TAG]) == views.POSE_VIEW
    assert ui.sync_experiment(uri, c.get_experiment(exp)) == 0               # nothing stale any more


def test_bad_input_exits_2_with_a_reason(store, tmp_path, capsys):
    uri, _, _ = store
    assert cli.main(["ui", "--tracking-uri", f"sqlite:///{tmp_path}/none.db", "--no-browser"]) == 2
    assert "no tracking store" in capsys.readouterr().err
    assert cli.main(["ui", "--tracking-uri", uri, "--experiment", "nope", "--no-browser"]) == 2
    assert "table3_shape" in capsys.readouterr().err                        # it names the ones there are
    with socket.socket() as taken:
        taken.bind((ui.HOST, 0))
        port = taken.getsockname()[1]
        assert cli.main(["ui", "--tracking-uri", uri, "--port", str(port), "--no-browser"]) == 2
    assert f"port {port}" in capsys.readouterr().err


def _lines(proc: subprocess.Popen) -> queue.Queue:
    q: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [q.put(line) for line in proc.stdout], daemon=True).start()
    return q


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_maskpose_ui_serves_the_store_and_prints_links_that_answer(store):
    uri, exp, _ = store
    proc = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "ui", "--tracking-uri", uri,
                             "--port", "0", "--no-browser", "--sync-every", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines, printed = _lines(proc), {}
        while "serving" not in printed:
            line = lines.get(timeout=120)                            # mlflow server: ~5-20 s
            head, _, rest = line.partition(": http")
            printed["serving" if line.startswith("serving") else head] = "http" + rest.strip()
        table = printed["MLflow runs table"]
        assert table.endswith(f"/#/experiments/{exp}/runs?viewStateShareKey=pose&workflowType=machine_learning")
        assert printed["MLflow compare view"].endswith("&compareRunsMode=CHART&workflowType=machine_learning")
        base = table.split("#")[0]
        with urllib.request.urlopen(base, timeout=30) as page:               # the UI's page...
            assert page.status == 200 and "<div id=\"root\"" in page.read().decode()
        api = f"{base}ajax-api/2.0/mlflow/experiments/get?experiment_id={exp}"
        with urllib.request.urlopen(api, timeout=30) as resp:                # ...and the view it will read
            tags = {t["key"]: t["value"] for t in json.load(resp)["experiment"]["tags"]}
        assert json.loads(tags[views.POSE_VIEW_TAG]) == views.POSE_VIEW
    finally:
        proc.send_signal(signal.SIGINT)                                      # Ctrl-C
        assert proc.wait(timeout=60) == 0
    port = int(base.rstrip("/").rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):                              # the server is gone with it
        socket.create_connection((ui.HOST, port), timeout=5)
    assert ui.port_free(port)                                                # and a new ui may take it
