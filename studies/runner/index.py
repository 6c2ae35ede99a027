"""``reports/README.md``: the index of every report, how to run each study, on a laptop and a cluster.

Rewritten (atomically) by every study run from what is in ``reports/`` and the study scripts
listed in :data:`studies.SCRIPTS`: the title, data set, profile, date and wall time come from
each report's header lines, each study's one-line summary from its script's docstring.
"""
from __future__ import annotations

import ast
from pathlib import Path

from orchestration.runtime import project_root
from studies import SCRIPTS
from studies.runner.report import atomic_write_text
from studies.runner.staleness import check_runs_csv, todays_studies

HEADER_FIELDS = ("command", "data set", "profile", "date", "wall time of the command")
RUNTIME_ENV = ('{"excludes": ["/mlflow.db", "/mlartifacts/", "/data/", "/checkpoints/", "/.venv/", "/.git/", '
               '"/reports/"], "env_vars": {"MLFLOW_TRACKING_URI": "http://ray-head:5000", '
               '"MASKPOSE_STORAGE": "/mnt/shared/checkpoints", "MASKPOSE_DATA": "/mnt/shared/data"}}')

USAGE = """\
## Flags (every study)

`--profile smoke|quick|paper` (default quick), `--seeds K` (every row; default: each row's own),
`--dataset D`, `--raw-root DIR` (real data sets), `--rows NAME ...`, `--dry-run` (rows, hashes,
done / missing, number of runs and a time estimate — runs nothing), `--tracking-uri URI`,
`--workers N` (Ray Train DDP per training), `--parallel K` (K trainings at once as Ray tasks;
needs an MLflow server), `key=value` overrides of every row. A run is identified by its config
hash: a FINISHED run with the same hash in MLflow is reused (`skip <row> seed=<s>: finished run
<id>` in the log). Interrupted (Ctrl-C, a kill), the same command continues: finished runs are
skipped, an unfinished one resumes from its last checkpoint; no report is written until the
runs are gathered, and every file is replaced atomically.

## Wall time and scaling

The header of each report gives the wall time of the command that wrote it, on the machine it
ran on (this project: 2 shared CPU cores). The runs of a study are independent: with K GPUs (or
K CPU slots) `--parallel K --gpus-per-worker 1` runs K trainings at once, so the wall time falls
≈ K-fold until K reaches the number of runs; `--workers N` instead splits one training over N
DDP workers (worth it for the `paper` profile on GPUs, not on 2 CPU cores: see
`benchmarks.md`). The evaluation runs and the mean-pose baseline take seconds to minutes.
"""


def report_header(path: Path) -> dict[str, str]:
    """The title and the header fields (HEADER_FIELDS) of a report's first 20 lines."""
    out = {"title": path.stem}
    for line in path.read_text(errors="replace").splitlines()[:20]:
        if line.startswith("# ") and out["title"] == path.stem:
            out["title"] = line[2:].strip()
        for f in HEADER_FIELDS:
            if line.startswith(f"- {f}: "):
                value = line[len(f) + 4:].strip().strip("`")
                out[f] = value.split(";")[0] if f in ("profile", "data set") else value
    return out


def _scripts(studies_dir: Path, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, first docstring line) of each listed study script; a listed script that is not
    in ``studies_dir`` raises naming it."""
    out = []
    for name in names:
        path = studies_dir / f"{name}.py"
        if not path.is_file():
            raise FileNotFoundError(f"study script {path} is listed in studies.SCRIPTS but does not exist")
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        out.append((name, doc.strip().splitlines()[0] if doc.strip() else ""))
    return out


def render_index(reports_dir: Path, studies_dir: Path, scripts: tuple[str, ...] = SCRIPTS) -> str:
    lines = ["# Reports", "",
             "Written by the study scripts in `studies/` (this index is rewritten by every study run). "
             "Each report states its data set, profile, seeds, git commit and date above its table; "
             "the csv beside it holds the MLflow run id of every number.", "",
             "The last column is the staleness check (`python -m studies.runner.staleness`): each report's "
             "runs replanned with today's defaults, study budgets and rows; STALE names the keys or rows that changed.", "",
             "| report | table | data set | profile | date | wall time | command | current? |",
             "|---|---|---|---|---|---|---|---|"]
    studies = todays_studies()
    for path in sorted(reports_dir.glob("*.md")):
        if path.name == "README.md":
            continue
        h = report_header(path)
        runs = path.with_name(f"{path.stem}_runs.csv")
        current = check_runs_csv(runs, studies.get(path.stem)).text.replace("|", "\\|") if runs.is_file() else "— (no runs)"
        lines.append(f"| [{path.name}]({path.name}) | {h['title']} | {h.get('data set', '')} | "
                     f"{h.get('profile', '')} | {h.get('date', '')} | {h.get('wall time of the command', '')} | "
                     f"`{h.get('command', '')}` | {current} |")
    scripts = _scripts(studies_dir, scripts)
    lines += ["", "## Run a study", "", "| study | what | on this machine |", "|---|---|---|"]
    lines += [f"| {name} | {doc} | `python studies/{name}.py` |" for name, doc in scripts]
    lines += ["", "## On a Ray cluster", "",
              "`ray submit` copies the script to the head of a cluster started with a launcher YAML of "
              "`orchestration/cluster/` (the project is installed on every node; reports land in "
              "`~/maskpose/reports` on the head). `ray job submit` runs it from an upload of this folder "
              "on any cluster: the tracking URI, shared paths and the reports folder must then be given "
              "explicitly (`orchestration/cluster/README.md`). `--parallel 4 --gpus-per-worker 1`: four "
              "trainings at once, one GPU each.", "", "```bash"]
    for name, _ in scripts:
        lines.append(f"ray submit orchestration/cluster/aws-gpu.yaml studies/{name}.py -- "
                     f"--profile paper --parallel 4 --gpus-per-worker 1")
    lines.append("")
    for name, _ in scripts:
        lines.append(f"ray job submit --address http://127.0.0.1:8265 --working-dir . --runtime-env-json "
                     f"'{RUNTIME_ENV}' -- python studies/{name}.py --profile paper --parallel 4 "
                     f"--gpus-per-worker 1 --reports-dir /mnt/shared/reports")
    lines += ["```", "", USAGE]
    return "\n".join(lines)


def write_index(reports_dir: Path, studies_dir: Path | None = None) -> Path:
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "README.md"
    atomic_write_text(path, render_index(reports_dir, studies_dir or project_root() / "studies"))
    return path
