"""The command line every ``studies/<study>.py`` shares (docs/method.md §5).

    python studies/<study>.py [--profile smoke|quick|paper] [--seeds K] [--dataset D] [--dry-run]
        [--tracking-uri URI] [--rows NAME ...] [--workers N | --parallel K] [key=value ...]

Plans the rows, logs ``skip <row> seed=<s>: finished run <id>`` for every run MLflow already
has, runs the rest, writes ``reports/<study>.md`` (+ csv, png) and the ``reports/README.md``
index. ``--dry-run`` prints the rows, their hashes, done / missing, the planned number of runs
and a time estimate, and changes nothing; ``--report-only`` writes the report from the finished
runs and trains nothing. Exit status: 0 done, 1 some runs failed (the table
shows them), 2 bad input (before any work), 130 interrupted (no table written; run again).
"""
from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

from maskpose_core.config import PROFILES, parse_overrides
from maskpose_core.data.registry import SYNTHETIC
from orchestration.runtime import project_root
from orchestration import tracking
from orchestration.tracking import TrackingUnavailableError, check_tracking, git_state, resolve_tracking_uri
from studies.runner import report, runs
from studies.runner.execute import ExecOptions, execute
from studies.runner.index import write_index
from studies.runner.plan import NO_TEST_SPLIT, STUDY_DATASETS, Planned, Study, plan_study, training_runs

log = logging.getLogger("maskpose.study")

StudySource = Study | Callable[[argparse.Namespace], Study]


def build_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=PROFILES, default=None, help="default: the study's (quick)")
    p.add_argument("--seeds", type=int, default=None, help="seeds for every row (default: each row's own)")
    p.add_argument("--dataset", choices=STUDY_DATASETS, default=None, help="default: the study's")
    p.add_argument("--raw-root", "--root", dest="raw_root", default="",
                   help="raw data folder of a real data set (h36m, 3dhp, wild)")
    p.add_argument("--rows", nargs="+", default=None, metavar="ROW", help="only these rows")
    p.add_argument("--dry-run", action="store_true", help="print rows, hashes, done/missing; run nothing")
    p.add_argument("--report-only", action="store_true",
                   help="write the report from the finished runs, train nothing (a long study stopped part-way: "
                        "its rows show n finished / N planned)")
    p.add_argument("--tracking-uri", default=None, help="default $MLFLOW_TRACKING_URI or <project>/mlflow.db")
    p.add_argument("--workers", type=int, default=0, help="Ray Train DDP workers per training (0 = plain)")
    p.add_argument("--parallel", type=int, default=1, help="trainings at once as Ray tasks (tracking server)")
    p.add_argument("--gpus-per-worker", type=float, default=0.0)
    p.add_argument("--ray-address", default=None, help="default $RAY_ADDRESS, else a local Ray")
    p.add_argument("--storage", default="", help="checkpoints (default $MASKPOSE_STORAGE or <project>/checkpoints)")
    p.add_argument("--data-root", default="", help="built data (default $MASKPOSE_DATA or <project>/data)")
    p.add_argument("--reports-dir", default="", help="default <project>/reports")
    p.add_argument("--paper-csv", default="", help="default maskpose_core/assets/paper_tables.csv")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides of every row")
    return p


def _hms(seconds: float) -> str:
    m = round(seconds / 60)
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{seconds:.0f} s" if seconds < 120 else f"{m} min"


# ---------------------------------------------------------------- plan / status

def _status_line(p: Planned, picked, found: dict[str, str]) -> str:
    if p.action == "unavailable":
        return f"not run: {p.row.note}"
    if p.hash in found:
        return f"done (run {found[p.hash]})"
    if p.hash in picked.index:
        return f"{picked.loc[p.hash]['status']} (run {picked.loc[p.hash]['run_id']}) — will resume/redo"
    if p.action == "eval" and p.train_hash in found:
        return f"to evaluate (training run {found[p.train_hash]})"
    return "missing"


def _stage1_cached(storage: str):
    """Whether a config's stage 1 is already in the stage store under ``storage`` (creates nothing)."""
    from maskpose_core.train.recipe import CheckpointStore, stages
    from orchestration.runtime import default_storage_path
    from orchestration.train import stage_store
    store = CheckpointStore(stage_store(Path(storage or default_storage_path()).expanduser().resolve()))
    return lambda cfg: store.has(stages(cfg)[0])


def _final_in_zoo(cfg) -> bool:
    """Does the package's zoo hold ``cfg``'s final stage (a REFERENCE at its plateau: evaluated, not trained)?"""
    from maskpose_core.train.recipe import stages
    from maskpose_core.train.zoo import Zoo
    last = stages(cfg)[-1]
    return last.trains and Zoo().find(last) is not None


def print_plan(study: Study, plan: list[Planned], picked, found: dict[str, str], frame, budget_h: float,
               stage1_done=lambda cfg: False) -> None:
    print(f"study {study.name}: {study.title}")
    print(f"{'row':34} {'seed':>4}  {'action':8} {'hash':12}  status")
    for p in plan:
        print(f"{p.row.name:34} {p.seed:>4}  {p.action:8} {p.hash[:12]:12}  {_status_line(p, picked, found)}")
    todo = [p for h, p in training_runs(plan) if h not in found]
    others = [p for p in plan if p.action in ("eval", "baseline") and p.hash not in found]
    table = [p for p in plan if p.action != "unavailable"]
    print(f"planned: {len(table)} table runs ({len(training_runs(plan))} distinct trainings); "
          f"done: {sum(p.hash in found for p in table)}; to run: {len(todo)} trainings, "
          f"{len(others)} evaluations/baselines")
    if todo:
        total, source = runs.estimate_plan_s(frame, [p.cfg for p in todo], stage1_done=stage1_done,
                                           final_in_zoo=_final_in_zoo)
        if total is None:
            print(f"estimate: {source}")
        else:
            print(f"estimate: ≈ {_hms(total)} ({source})")
            if budget_h and total > budget_h * 3600:
                print(f"WARNING: over the study's budget of {budget_h:g} h on this machine")


def _log_plan(study: Study, plan: list[Planned], found: dict[str, str], frame,
              stage1_done=lambda cfg: False) -> None:
    todo = [p for h, p in training_runs(plan) if h not in found]
    total, source = (runs.estimate_plan_s(frame, [p.cfg for p in todo], stage1_done=stage1_done,
                                           final_in_zoo=_final_in_zoo) if todo
                     else (0.0, "nothing to train"))
    estimate = f"≈ {_hms(total)} ({source})" if total is not None else source
    log.info("study %s: %d trainings to run, %d of %d table runs already finished; estimate %s",
             study.name, len(todo), sum(p.hash in found for p in plan), sum(p.action != "unavailable" for p in plan),
             estimate)


def _log_skips(plan: list[Planned], found: dict[str, str]) -> int:
    skipped = 0
    for p in plan:
        if p.action != "unavailable" and p.hash in found:
            log.info("skip %s seed=%d: finished run %s", p.row.name, p.seed, found[p.hash])
            skipped += 1
        elif p.action == "eval" and p.train_hash in found:
            log.info("skip training of %s seed=%d: finished run %s", p.row.name, p.seed, found[p.train_hash])
    return skipped


# ---------------------------------------------------------------- main

def resolve_study(source: StudySource, args: argparse.Namespace) -> Study:
    study = source(args) if callable(source) else source
    if args.dataset and not callable(source):
        study = replace(study, dataset=args.dataset)
    evaluated = {study.dataset} | {r.evaluate_on["data.dataset"] for r in study.rows if r.evaluate_on}
    if study.split == "test" and evaluated & set(NO_TEST_SPLIT):
        study = replace(study, split="val")     # their loader's evaluation split (plan.NO_TEST_SPLIT)
    return study.select(args.rows)


def main(source: StudySource, argv: Sequence[str] | None = None, *, description: str = "",
         also_report: Sequence[Study] = (), add_args: Callable | None = None) -> int:
    """Run a study from the command line (see the module docstring); ``also_report`` studies
    are written from the same runs afterwards (never trained for)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)   # docs/stack.md: background jobs ignore SIGINT
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    start = time.monotonic()
    parser = build_parser(description)
    if add_args is not None:
        add_args(parser)
    args = parser.parse_args(argv)
    try:
        return _run(source, args, also_report, start)
    except (ValueError, FileNotFoundError, TrackingUnavailableError) as err:
        log.error("%s", err)
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log.warning("interrupted: finished runs are kept in MLflow and the old report is untouched; "
                    "run the same command again to continue")
        return 130


def _run(source: StudySource, args, also_report: Sequence[Study], start: float) -> int:
    uri = resolve_tracking_uri(args.tracking_uri)
    args.tracking_uri = uri
    check_tracking(uri)
    paper = report.load_paper_table(args.paper_csv or None)
    study = resolve_study(source, args)
    profile = args.profile or study.profile
    overrides = parse_overrides(args.overrides)
    plan = plan_study(study, profile=profile, seeds=args.seeds, overrides=overrides, raw_root=args.raw_root)
    extra = [(s, plan_study(s, profile=profile, seeds=args.seeds, overrides=overrides, raw_root=args.raw_root))
             for s in also_report]
    opts = ExecOptions(tracking_uri=uri, storage_path=args.storage, data_root=args.data_root,
                       workers=args.workers, parallel=args.parallel, gpus_per_worker=args.gpus_per_worker,
                       ray_address=args.ray_address)
    frame = runs.runs_frame(uri)
    picked = runs.pick_runs(frame)
    found = runs.finished_ids(picked)
    if args.dry_run:
        print_plan(study, plan, picked, found, frame, study.budget_hours, _stage1_cached(args.storage))
        return 0
    skipped = _log_skips(plan, found)
    if args.report_only:
        missing = sum(p.hash not in found for p in plan if p.action != "unavailable")
        log.info("--report-only: %d planned run(s) not finished are left out of the table's means", missing)
        failed = []
    else:
        _log_plan(study, plan, found, frame, _stage1_cached(args.storage))
        failed = execute(study, plan, found, opts, lambda: runs.finished_runs(uri))
    picked = runs.pick_runs(runs.runs_frame(uri))
    git = git_state()
    reports_dir = Path(args.reports_dir) if args.reports_dir else project_root() / "reports"
    produced = sum(p.hash in runs.finished_ids(picked) for p in plan if p.action != "unavailable") - skipped
    for s, pl in [(study, plan)] + extra:
        ctx = report.ReportContext(command=_command(), profile=profile, dataset=_dataset_text(s, pl),
                                   overrides=overrides, tracking_uri=uri, git_commit=git["git_commit"],
                                   git_dirty=git["git_dirty"], wall_s=time.monotonic() - start,
                                   trained=max(produced, 0), skipped=skipped)
        for path in report.write_study_reports(s, pl, picked, paper, ctx, reports_dir, failed):
            log.info("wrote %s", path)
    write_index(reports_dir)
    if reports_dir.resolve() == (project_root() / "reports").resolve():      # the project's own reports
        from studies.runner.readme_results import write_readme_results
        write_readme_results(project_root() / "README.md", reports_dir)
    exp = tracking.client(uri).get_experiment_by_name(study.name)
    if exp is not None:
        log.info("MLflow runs table: %s", tracking.experiment_url(uri, exp.experiment_id))
    if failed:
        log.error("%d run(s) failed; they are marked in the table — run the same command again to retry",
                  len(failed))
    return 1 if failed else 0


def _data_text(data) -> str:
    size = f"{data.image_size} px, {data.train_frames or 'all'} train / {data.val_frames or 'all'} val moments"
    kind = "synthetic, built in" if data.dataset in SYNTHETIC else f"raw folder {data.root}"
    pseudo = f", pseudo images of {data.pseudo_activities} only" if data.pseudo_activities else ""
    return f"{data.dataset} ({kind}, {size}{pseudo})"


def _dataset_text(study: Study, plan: list[Planned]) -> str:
    """Training data set(s), and where the rows were evaluated when that differs."""
    trained = dict.fromkeys(_data_text(p.cfg.data) for p in plan if p.cfg is not None and p.action != "baseline")
    evals = dict.fromkeys(_data_text(p.eval_data) for p in plan if p.eval_data is not None and p.action == "eval")
    text = " and ".join(trained) or study.dataset
    if evals:
        text += "; evaluated on " + " and ".join(evals)
    return text


def _command() -> str:
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(project_root())
    except ValueError:
        pass
    return " ".join(["python", shlex.quote(str(script))] + [shlex.quote(a) for a in sys.argv[1:]])


def main_with_section(study: Study, *, description: str, heading: str, section, after=None) -> int:
    """``main``, then one section computed from the study's runs csv appended to its report
    (``report.append_section``), then ``after(reports_dir)`` (e.g. a study's own figure); nothing
    of either on ``--dry-run``."""
    status = main(study, description=description)
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--reports-dir", default="")
    ap.add_argument("--dry-run", action="store_true")
    opts, _ = ap.parse_known_args()
    if not opts.dry_run:
        reports_dir = Path(opts.reports_dir) if opts.reports_dir else project_root() / "reports"
        report.append_section(reports_dir, study.name, heading, section)
        if after is not None:
            after(reports_dir)
    return status
