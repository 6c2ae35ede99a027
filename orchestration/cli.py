"""The ``maskpose`` command line (docs/method.md §5 — the contract users and scripts rely on).

    maskpose data build   --dataset cmu-mv4 --profile P [--poses FILE.npz [--split all]] [--root DIR]
    maskpose data preview --dataset D --out FILE.png [--profile P] [--root DIR]
    maskpose train --profile P [--workers N] [key=value ...]
    maskpose eval  --checkpoint PATH --dataset D [--poses FILE.npz --split all]
    maskpose tune  --profile P --trials N [--concurrent K] [--resume]
    maskpose zoo   list [--json] | verify | build [--entries NAME ...] [--steps KIND=N] [--parallel K]
    maskpose ui    [--tracking-uri URI] [--experiment NAME] [--port 5000] [--no-browser]

``data build`` prints the data set folder last; ``train`` and ``eval`` print the final
metrics as one JSON line last (``train`` prints ``checkpoint: <path>`` and then the MLflow
run URL before it), ``tune`` its summary; that line is the last on standard output (Ray is
disconnected first, so its held-back worker lines come before it: ``runtime.own_ray``). Bad
input exits with status 2 and a one-line reason before any work starts.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import sys
from pathlib import Path

from maskpose_core.config import PROFILES, apply_overrides, parse_overrides, profile_config
from maskpose_core.data.configs import DATASETS

log = logging.getLogger("maskpose")


def _non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (a refusal exits with status 2, naming the option)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0 = the whole split), got {value}")
    return value


def _common_data(p: argparse.ArgumentParser, *, need_out: bool = False) -> None:
    p.add_argument("--dataset", choices=DATASETS, default="cmu-mv4")
    p.add_argument("--profile", choices=PROFILES, default="quick")
    p.add_argument("--poses", default="", help="poses file in the mocap/ format (synthetic data sets)")
    p.add_argument("--split", choices=("default", "all"), default="default",
                   help="'all': every frame of --poses in one evaluation split")
    p.add_argument("--root", default="", help="built-data root (synthetic) or raw data folder (real)")
    p.add_argument("--workers", type=int, default=None, help="build processes (default: all cores)")
    if need_out:
        p.add_argument("--out", required=True, help="PNG file to write")
        p.add_argument("--n", type=int, default=6, help="moments in the grid")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="data.* config overrides")


def _launch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=PROFILES, default="quick")
    p.add_argument("--gpus-per-worker", type=float, default=0.0)
    p.add_argument("--cpus-per-worker", type=float, default=None, help="default: derived from the cluster")
    p.add_argument("--storage", default="", help="checkpoint storage (shared on clusters); "
                   "default $MASKPOSE_STORAGE or <project>/checkpoints")
    p.add_argument("--data-root", default="", help="built-data root (default $MASKPOSE_DATA or <project>/data)")
    p.add_argument("--tracking-uri", default=None, help="default $MLFLOW_TRACKING_URI or <project>/mlflow.db")
    p.add_argument("--ray-address", default=None, help="default $RAY_ADDRESS, else a local Ray instance")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maskpose", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="build or look at a data set").add_subparsers(dest="data_command",
                                                                                      required=True)
    _common_data(data.add_parser("build", help="build (or find, by config hash) a data set"))
    _common_data(data.add_parser("preview", help="a PNG grid of images, masks, G and joints"), need_out=True)

    train = sub.add_parser("train", help="one training run (plain process or Ray Train DDP)")
    train.add_argument("--workers", type=int, default=0, help="0 = plain process; N >= 1 = Ray Train DDP")
    train.add_argument("--max-failures", type=int, default=2, help="worker-group restarts (Ray Train)")
    train.add_argument("--study", default="train", help="MLflow experiment")
    train.add_argument("--variant", default="", help="run name part (default: the config hash)")
    _launch_args(train)

    ev = sub.add_parser("eval", help="evaluate a checkpoint (monocular, per view)")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--dataset", choices=DATASETS, default="cmu-mv4")
    ev.add_argument("--poses", default="")
    ev.add_argument("--split", choices=("default", "all"), default="default")
    ev.add_argument("--root", default="")
    ev.add_argument("--max-samples", type=_non_negative_int, default=0, help="0 = the whole evaluation split")

    tune = sub.add_parser("tune", help="Ray Tune + Optuna over λs, λp, σ²")
    tune.add_argument("--trials", type=int, default=8)
    tune.add_argument("--concurrent", type=int, default=1)
    tune.add_argument("--workers", type=int, default=1, help="Ray Train workers per trial")
    tune.add_argument("--objective", default="val/mask_iou",
                      help="val/mask_iou (label-free, default; 0.0 at --profile smoke, where ψ is "
                           "untrained), val/loss_skeleton (label-free), val/mpjpe_mm (uses 3D labels)")
    tune.add_argument("--space", action="append", default=[], metavar="key=low:high",
                      help="log-uniform range (repeatable); default λs, λp in 0.1:10, σ² in 0.003:0.03")
    tune.add_argument("--search-seed", type=int, default=0)
    tune.add_argument("--grace-period", type=int, default=1, help="ASHA: epochs before stopping")
    tune.add_argument("--name", default="", help="sweep name (default from profile/objective/seed)")
    tune.add_argument("--resume", action="store_true", help="continue an interrupted sweep")
    tune.add_argument("--interrupt-after", type=int, default=0, help=argparse.SUPPRESS)
    _launch_args(tune)

    from orchestration.ui import add_arguments as _ui_arguments
    _ui_arguments(sub.add_parser("ui", help="serve the MLflow store on the loopback, open the pose runs table"))
    from orchestration.zoo import add_parser as _zoo_parser
    _zoo_parser(sub)
    return parser


def _config(profile: str, overrides: list[str]):
    return apply_overrides(profile_config(profile), parse_overrides(overrides))


def _data_config(args):
    cfg = _config(args.profile, args.overrides)
    fields = {"dataset": args.dataset, "poses": args.poses, "split_all": args.split == "all"}
    if args.root:
        fields["root"] = str(Path(args.root).expanduser().resolve())
    return dataclasses.replace(cfg.data, **fields)


def cmd_data(args) -> int:
    from maskpose_core.data.registry import load_data

    data_cfg = _data_config(args)
    bundle = load_data(data_cfg, workers=args.workers, progress=True)
    folder = Path(getattr(bundle, "folder", bundle))
    if args.data_command == "preview":
        from maskpose_core.data.cmu_mv4 import preview
        split = "all" if data_cfg.split_all else getattr(getattr(bundle, "val", None), "split", "val")
        out = preview(folder, Path(args.out), split=split, n=args.n)
        print(out)
        return 0
    print(folder)
    return 0


def cmd_train(args) -> int:
    from orchestration.runtime import own_ray
    from orchestration.train import LaunchOptions, run_training

    cfg = _config(args.profile, args.overrides)
    opts = LaunchOptions(workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                         cpus_per_worker=args.cpus_per_worker, max_failures=args.max_failures,
                         storage_path=args.storage, study=args.study, variant=args.variant,
                         tracking_uri=args.tracking_uri, data_root=args.data_root,
                         ray_address=args.ray_address)
    with own_ray():                   # Ray's held-back worker lines print before ours
        out = run_training(cfg, opts)
    if out.checkpoint:
        print(f"checkpoint: {out.checkpoint}")
    print(f"MLflow run: {out.url}")
    print(json.dumps(out.metrics, sort_keys=True))
    return 0


def cmd_eval(args) -> int:
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.checkpoint import config_of, load_checkpoint

    state = load_checkpoint(args.checkpoint)
    cfg = config_of(state)
    fields = {"dataset": args.dataset, "poses": args.poses, "split_all": args.split == "all"}
    if args.root:
        fields["root"] = str(Path(args.root).expanduser().resolve())
    bundle = load_data(dataclasses.replace(cfg.data, **fields), progress=True)
    print(json.dumps(_evaluate(state, bundle.val, args.max_samples), sort_keys=True))
    return 0


def _evaluate(state: dict, split, max_samples: int) -> dict[str, float]:
    """The core's ``evaluate_checkpoint`` on one split: the metrics by their own names (``mpjpe_mm``,
    …) and, when the checkpoint holds an SPP mapping θ, ``spp/…``."""
    from maskpose_core.train.checkpoint_eval import evaluate_checkpoint

    metrics = evaluate_checkpoint(state, split, max_samples=max_samples, name="eval")
    return {k.removeprefix("eval/").replace("eval_spp/", "spp/"): v for k, v in metrics.items()}


def cmd_tune(args) -> int:
    from orchestration.runtime import own_ray
    from orchestration.tune import SweepOptions, parse_space, run_sweep

    cfg = _config(args.profile, args.overrides)
    if args.profile == "smoke" and args.objective == "val/mask_iou":
        log.warning("val/mask_iou is 0.0 in every smoke trial (ψ's output stays below 0.5 in a few "
                    "steps): the best trial is picked from a constant; --objective val/loss_skeleton varies")
    opts = SweepOptions(name=args.name, trials=args.trials, concurrent=args.concurrent,
                        workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                        gpus_per_worker=args.gpus_per_worker, objective=args.objective,
                        search_seed=args.search_seed, space=parse_space(args.space),
                        grace_period=args.grace_period, storage_path=args.storage,
                        tracking_uri=args.tracking_uri, data_root=args.data_root,
                        ray_address=args.ray_address, resume=args.resume,
                        interrupt_after=args.interrupt_after)
    with own_ray():                   # Ray's held-back worker lines print before ours
        out = run_sweep(cfg, opts)
    print(f"MLflow sweep run: {out.url}")
    if out.interrupted:
        print(f"sweep {out.name} interrupted after {out.finished_trials} finished trials; "
              f"continue with: maskpose tune --profile {args.profile} --name {out.name} --resume")
        return 130
    print(json.dumps({"sweep": out.name, "trials": out.finished_trials, "best": out.best}, sort_keys=True))
    return 0


def cmd_ui(args) -> int:
    from orchestration.ui import run_ui
    return run_ui(args)


def cmd_zoo(args) -> int:
    from orchestration.zoo import main_zoo
    return main_zoo(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``maskpose`` console script."""
    # docs/stack.md: a background job of a non-interactive shell starts with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    from orchestration.tracking import TrackingUnavailableError

    handlers = {"data": cmd_data, "train": cmd_train, "eval": cmd_eval, "tune": cmd_tune, "ui": cmd_ui, "zoo": cmd_zoo}
    try:
        return handlers[args.command](args)
    except (ValueError, FileNotFoundError, TrackingUnavailableError) as err:
        log.error("%s", err)
        print(f"maskpose {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
