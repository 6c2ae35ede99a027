"""λ/σ search — Ray Tune + Optuna over λs, λp and σ² (label-free objective), then the best config re-run with seeds.

    python studies/tune_lambdas.py [--profile quick] [--trials 8] [--concurrent 2] [--objective val/mask_iou]
                                   [--seeds 3] [--dry-run]

The sweep is ``orchestration.tune.run_sweep`` (TPE, ASHA, one MLflow parent run with a child run
per trial), named from the profile, objective, search seed, trial count and base-config hash;
a finished sweep is reused, an interrupted one resumed. Then the rows: the default config (=
Table 3's Full) and the best sampled config, 3 seeds each, plus the mean-pose baseline and the
supervised reference. The search chooses on val (its objective); the rows report on test, the
subjects no trial saw. ``reports/tune_lambdas_trace.png`` shows the search trace.
"""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from maskpose_core.config import parse_overrides
from orchestration import tracking
from orchestration.runtime import check_storage_path, project_root
from orchestration.tune import DEFAULT_SPACE, OBJECTIVES, SWEEP_RECORD, SweepOptions, run_sweep
from studies.definitions import AR, BASELINE, MPJPE, MPJPE_FLIP, P_MPJPE, QUICK_BUDGET, REFERENCE
from studies.runner.cli import main
from studies.runner.plan import Metric, Row, Study, base_config

TRACE = "tune_lambdas_trace.png"


def add_args(p) -> None:
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--concurrent", type=int, default=2, help="trials at once (docs/stack.md: 2 fit on 2 cores)")
    p.add_argument("--objective", choices=sorted(OBJECTIVES), default="val/mask_iou")
    p.add_argument("--search-seed", type=int, default=0)


def template(rows: tuple[Row, ...] = (), notes: tuple[str, ...] = ()) -> Study:
    return Study(name="tune_lambdas", title="λs, λp, σ² search (Ray Tune + Optuna) and the best config re-run",
                 rows=(Row(name="default (= Full)", seeds=3),) + rows + (BASELINE, REFERENCE),
                 metrics=(MPJPE, MPJPE_FLIP, P_MPJPE, AR, Metric("mask_iou", "mask IoU", digits=3)),
                 seeds=3, split="test", profile_base=QUICK_BUDGET, notes=notes)


def sweep_best(args) -> tuple[dict | None, str, str]:
    """(best summary or None, sweep name, parent run id): reuse a finished sweep, resume an
    interrupted one, or start it (not on --dry-run)."""
    cfg = base_config(template(), profile=args.profile or "quick", overrides=parse_overrides(args.overrides),
                      raw_root=args.raw_root)
    slug = args.objective.replace("/", "_")
    name = f"tune_lambdas-{cfg.profile}-{slug}-s{args.search_seed}-t{args.trials}-{cfg.hash[:8]}"
    record = check_storage_path(args.storage) / name / SWEEP_RECORD
    parent = json.loads(record.read_text())["parent_run_id"] if record.is_file() else ""
    uri = args.tracking_uri
    if parent and tracking.client(uri).get_run(parent).info.status == "FINISHED":
        return tracking.read_json_artifact(uri, parent, "best_config.json"), name, parent
    if args.dry_run:
        return None, name, parent
    out = run_sweep(cfg, SweepOptions(name=name, trials=args.trials, concurrent=args.concurrent,
                                      objective=args.objective, search_seed=args.search_seed,
                                      space=dict(DEFAULT_SPACE), storage_path=args.storage, tracking_uri=uri,
                                      data_root=args.data_root, ray_address=args.ray_address,
                                      resume=bool(parent)))
    if out.interrupted:
        raise KeyboardInterrupt(f"sweep {name} interrupted after {out.finished_trials} trials")
    if out.best is None:
        raise ValueError(f"sweep {name}: no trial reported {args.objective}")
    return out.best, name, out.parent_run_id


def trace_png(uri: str, parent: str, objective: str) -> bytes:
    """Objective per trial (start order) with the best so far; λs vs λp coloured by objective."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = tracking.client(uri)
    runs = sorted(c.search_runs([c.get_run(parent).info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'"),
                  key=lambda r: r.info.start_time)
    runs = [r for r in runs if objective in r.data.metrics]
    y = [r.data.metrics[objective] for r in runs]
    better = max if OBJECTIVES[objective][0] == "max" else min
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    a.plot(range(1, len(y) + 1), y, "o", label="trial (last epoch reached)")
    a.plot(range(1, len(y) + 1), [better(y[:i + 1]) for i in range(len(y))], "-", label="best so far")
    a.set(xlabel="trial", ylabel=objective, title="search trace")
    a.legend(fontsize=7)
    pts = b.scatter([float(r.data.params["loss.lambda_s"]) for r in runs],
                    [float(r.data.params["loss.lambda_p"]) for r in runs], c=y,
                    s=[4000 * float(r.data.params["loss.sigma2"]) for r in runs])
    b.set(xscale="log", yscale="log", xlabel="λs", ylabel="λp", title="trials (size ∝ σ²)")
    fig.colorbar(pts, ax=b, label=objective)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def build(args) -> Study:
    best, name, parent = sweep_best(args)
    if best is None:
        return template((Row(name="tuned", kind="unavailable", note=f"sweep {name} has not finished yet"),))
    sampled = {k: float(v) for k, v in best["sampled"].items()}
    tuned = {**sampled, "loss.sigma2_start": float(best["config"]["loss.sigma2_start"])}
    label = ", ".join(f"{k.split('.')[-1]}={v:.3g}" for k, v in sorted(sampled.items()))
    reports = Path(args.reports_dir) if args.reports_dir else project_root() / "reports"
    if not args.dry_run:
        reports.mkdir(parents=True, exist_ok=True)
        tmp = reports / f".{TRACE}.tmp"
        tmp.write_bytes(trace_png(args.tracking_uri, parent, best["objective"]))
        tmp.replace(reports / TRACE)
    notes = (f"Sweep `{name}` (MLflow parent run {parent}): {args.trials} trials, objective "
             f"{best['objective']} ({best['mode']}; {'uses 3D labels' if best['uses_labels'] else 'label-free'}), "
             f"best value {best['value']:.4g}.", f"Search trace: ![search trace]({TRACE})")
    return template((Row(name=f"tuned: {label}", seeds=3, overrides=tuned),), notes)


if __name__ == "__main__":
    sys.exit(main(build, description=__doc__, add_args=add_args))
