"""``maskpose ui``: serve a tracking store on the loopback and open its runs on the pose view.

    maskpose ui [--tracking-uri URI] [--experiment NAME] [--port 5000] [--no-browser]

1. For every experiment maskpose made (it carries the ``pose`` view tag), the view is brought up
   to date (:data:`orchestration.views.POSE_VIEW`) and each run gets its rounded display copies
   (:data:`orchestration.views.DISPLAY_METRICS`) where they are missing or stale; the metrics they
   are made from are never written. This repeats every ``--sync-every`` seconds while serving, so
   runs that finish meanwhile show their numbers too.
2. A SQLite store is served by ``mlflow server`` on 127.0.0.1 (one worker, no job runner:
   docs/stack.md); a tracking server (``http://…``) is used as it is.
3. It prints the runs table, the compare view and the serving command, and opens the runs table
   where a browser is at hand; Ctrl-C stops the server.

The links skip MLflow's home page (``/``: a GenAI welcome page and, on a loopback host name, its
assistant panel the first time a browser visits; neither can be switched off from the server in
MLflow 3.17.2).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import webbrowser
from dataclasses import dataclass

from orchestration import tracking, views

log = logging.getLogger(__name__)

HOST = "127.0.0.1"               # the loopback only: the UI can delete runs
DEFAULT_PORT = 5000              # MLflow's own default, as in every link maskpose prints
READY_TIMEOUT_S = 90.0           # `mlflow server` answers /health in ~5 s on 2 cores (docs/stack.md)
STOP_TIMEOUT_S = 15.0
SYNC_EVERY_S = 60.0
RUNS_PER_PAGE = 1000             # MLflow's maximum page of search_runs


@dataclass(frozen=True)
class Links:
    experiment: str
    runs_table: str
    compare: str


# ---------------------------------------------------------------- the views and the copies

def stale_copies(metrics: dict[str, float]) -> dict[str, float]:
    """The display copies a run's latest ``metrics`` call for and do not hold yet (key -> value)."""
    return {key: value for key, value in views.display_copies(metrics).items() if metrics.get(key) != value}


def maskpose_experiments(uri: str) -> list:
    """Active experiments maskpose made (they carry the pose view tag), latest activity first."""
    exps = [e for e in tracking.client(uri).search_experiments()
            if views.POSE_VIEW_TAG in e.tags]
    return sorted(exps, key=lambda e: e.last_update_time or 0, reverse=True)


def sync_experiment(uri: str, experiment) -> int:
    """Refresh ``experiment``'s pose view and its runs' display copies; return the runs written.

    Copies are logged at step 0 with the current time: MLflow's latest value is the one of the
    highest (step, timestamp), so the newest copy is the one shown."""
    import json

    from mlflow.entities import Metric

    c = tracking.client(uri)
    view = json.dumps(views.POSE_VIEW)
    if experiment.tags.get(views.POSE_VIEW_TAG) != view:
        c.set_experiment_tag(experiment.experiment_id, views.POSE_VIEW_TAG, view)
    written, token = 0, None
    while True:
        page = c.search_runs([experiment.experiment_id], max_results=RUNS_PER_PAGE, page_token=token)
        for run in page:
            todo = stale_copies(run.data.metrics)
            if todo:
                now = int(time.time() * 1000)
                c.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in todo.items()])
                written += 1
        token = page.token
        if not token:
            return written


def sync(uri: str) -> list:
    """:func:`sync_experiment` for every maskpose experiment; returns them, latest first."""
    exps = maskpose_experiments(uri)
    for exp in exps:
        n = sync_experiment(uri, exp)
        if n:
            log.info("%s: display copies (one decimal) written for %d run(s)", exp.name, n)
    return exps


def pick(experiments: list, name: str | None):
    if not experiments:
        raise ValueError("no experiment made by maskpose in this store yet: run `maskpose train` "
                         "or a study first")
    if not name:
        return experiments[0]
    for exp in experiments:
        if exp.name == name:
            return exp
    raise ValueError(f"no maskpose experiment named {name!r}; there are: "
                     + ", ".join(e.name for e in experiments))


def links(base_url: str, experiment) -> Links:
    base = base_url.rstrip("/") + "/"
    return Links(experiment.name, base + views.runs_page(experiment.experiment_id),
                 base + views.charts_page(experiment.experiment_id))


# ---------------------------------------------------------------- the server

def port_free(port: int) -> bool:
    """Nothing listens on ``port`` (a port in TIME_WAIT from a server just stopped is free: uvicorn
    binds with SO_REUSEADDR too)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def server_command(uri: str, port: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
            "--host", HOST, "--port", str(port), "--workers", "1"]


def start_server(uri: str, port: int) -> subprocess.Popen:
    """``mlflow server`` in its own process group (it starts uvicorn as a child). Its log (a line
    per request) goes to a temporary file, not a pipe nobody reads, which would fill and stall it."""
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}   # docs/stack.md: 7 consumers, 2 GB
    server_log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(server_command(uri, port), env=env, start_new_session=True,
                            stdout=server_log, stderr=subprocess.STDOUT)
    proc.server_log = server_log
    return proc


def _last_log_line(proc: subprocess.Popen) -> str:
    server_log = getattr(proc, "server_log", None)
    if server_log is None:
        return "no output"
    server_log.seek(0)
    lines = server_log.read().strip().splitlines()
    return lines[-1] if lines else "no output"


def wait_ready(base_url: str, proc: subprocess.Popen, timeout_s: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise tracking.TrackingUnavailableError(
                f"mlflow server exited with status {proc.returncode}: {_last_log_line(proc)}")
        try:
            with urllib.request.urlopen(base_url + "health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise tracking.TrackingUnavailableError(
        f"mlflow server did not answer {base_url}health within {timeout_s:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (the server and its uvicorn), SIGKILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_S)
    server_log = getattr(proc, "server_log", None)
    if server_log is not None:
        server_log.close()


def browser_at_hand() -> bool:
    """A graphical browser can open: macOS, Windows, or a Linux desktop session (a text browser
    that ``webbrowser`` would find on a headless box is not one)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _print_links(found: Links, others: list, serve_hint: str) -> None:
    print(f"experiment {found.experiment}")
    print(f"MLflow runs table: {found.runs_table}")
    print(f"MLflow compare view: {found.compare}")
    for other in others:
        print(f"  also: {other.experiment}: {other.runs_table}")
    if serve_hint:
        print(serve_hint)
    sys.stdout.flush()


# ---------------------------------------------------------------- the command

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracking-uri", default=None, help="default $MLFLOW_TRACKING_URI or <project>/mlflow.db")
    p.add_argument("--experiment", default="", help="experiment to open (default: the latest active)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="loopback port (0 = any free one)")
    p.add_argument("--no-browser", action="store_true", help="print the links only")
    p.add_argument("--sync-every", type=float, default=SYNC_EVERY_S,
                   help="seconds between refreshes of the views and display copies (0 = at start only)")


def run_ui(args) -> int:
    uri = tracking.resolve_tracking_uri(args.tracking_uri)
    served = uri.startswith("sqlite:///")
    if served and not os.path.exists(uri[len("sqlite:///"):]):
        raise FileNotFoundError(f"no tracking store at {uri[len('sqlite:///'):]}: run `maskpose train` "
                                "or a study first, or pass --tracking-uri")
    if not served and not uri.startswith(("http://", "https://")):
        raise ValueError(f"maskpose ui serves a SQLite store or opens a tracking server; got {uri}")
    tracking.check_tracking(uri)
    exps = sync(uri)
    chosen = pick(exps, args.experiment)
    if not served:                                    # a tracking server: it serves itself
        base = uri.rstrip("/") + "/"
        _print_links(links(base, chosen), [links(base, e) for e in exps if e is not chosen], "")
        if not args.no_browser and browser_at_hand():
            webbrowser.open(links(base, chosen).runs_table)
        return 0
    port = args.port or free_port()
    if not port_free(port):
        raise ValueError(f"port {port} on {HOST} is taken (another mlflow ui?): pass --port N or --port 0")
    base = f"http://{HOST}:{port}/"
    proc = start_server(uri, port)
    try:
        wait_ready(base, proc)
        _print_links(links(base, chosen), [links(base, e) for e in exps if e is not chosen],
                     f"serving {uri} on {base} (Ctrl-C stops it)")
        if not args.no_browser and browser_at_hand():
            webbrowser.open(links(base, chosen).runs_table)
        _serve(uri, proc, args.sync_every)
    except KeyboardInterrupt:
        print("stopping the MLflow server", file=sys.stderr)
    finally:
        stop_server(proc)
    return 0 if proc.returncode in (0, -signal.SIGTERM, -signal.SIGKILL) else 1


def _serve(uri: str, proc: subprocess.Popen, sync_every_s: float) -> None:
    """Wait on the server; refresh views and copies every ``sync_every_s`` seconds."""
    next_sync = time.monotonic() + sync_every_s
    while proc.poll() is None:
        time.sleep(0.5)
        if sync_every_s > 0 and time.monotonic() >= next_sync:
            try:
                sync(uri)
            except Exception as err:  # a busy store must not stop the UI; the next round retries
                log.warning("refresh of the views skipped: %s", err)
            next_sync = time.monotonic() + sync_every_s
    log.error("mlflow server exited with status %s: %s", proc.returncode, _last_log_line(proc))
