"""``maskpose zoo build | list | verify``: the model zoo of converged starting points.

    maskpose zoo list [--json]                     # kind, seed, stage key, sha256 per entry
    maskpose zoo verify                            # every entry's sha256 and stage key current; rc 1 if not
    maskpose zoo build [--entries NAME ...] [--steps KIND=N ...] [--parallel K] [--folder DIR]
    maskpose zoo adopt NAME CHECKPOINT [--steps KIND=N]   # a finished run of the entry's own config

``build`` retrains the entries named (default: every entry of ``zoo_catalog.catalog()``) from
nothing, each independent of the others: in this process one after the other, or with
``--parallel K`` as K Ray tasks at once (on a cluster, as the studies' ``--parallel``). Each
entry is evaluated on the target's val and test splits and written with its manifest line
(``maskpose_core/train/zoo.py``: the old entry stays in place until the new one is complete).
A build saves its entry's state after every epoch in ``<storage>/zoo_build/`` (``checkpoints/``
unless ``$MASKPOSE_STORAGE``): the same command run again after a stop continues from the last
epoch, so an entry longer than a session is built across sessions. The entries are weights
only (≈ 2 MB each) and are committed inside the package.

``adopt`` takes the final checkpoint of a run that trained exactly the entry's stage (its stage
key equal to the entry's, every epoch of its budget done; e.g. ``studies/convergence.py``'s row
at the plateau budget, whose stage 1 lies in ``checkpoints/stages/``), evaluates it as ``build``
does and records where it came from (``source``); the rebuild command stays ``zoo build``'s. A
checkpoint of another config is refused naming the keys that differ.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from maskpose_core.train.zoo import ZOO_DIR, Zoo, ZooEntry

log = logging.getLogger(__name__)


def list_entries(zoo: Zoo, *, as_json: bool) -> str:
    entries = zoo.entries
    if as_json:
        return json.dumps([{"name": e.name, "kind": e.kind, "seed": e.seed, "stage_key": e.stage_key,
                            "sha256": e.sha256, "steps": e.steps, "metrics": e.metrics}
                           for e in entries.values()], sort_keys=True)
    if not entries:
        return f"zoo {zoo.folder}: no entries yet (maskpose zoo build)"
    lines = [f"{'entry':18} {'kind':9} {'seed':>4} {'steps':>6} {'stage key':12} {'sha256':12} test MPJPE †"]
    for e in entries.values():
        lines.append(f"{e.name:18} {e.kind:9} {e.seed:>4} {e.steps:>6} {e.stage_key:12} {e.sha256[:12]:12} "
                     f"{e.metrics.get('test/mpjpe_flip_mm', float('nan')):.1f}")
    return "\n".join(lines)


def verify(zoo: Zoo) -> tuple[bool, str]:
    results = zoo.verify()
    lines = [f"{name}: {'ok' if not problems else '; '.join(problems)}" for name, problems in results.items()]
    ok = all(not p for p in results.values())
    total = sum(e.size_bytes for e in zoo.entries.values())
    lines.append(f"zoo {zoo.folder}: {len(results)} entries, {total / 1e6:.1f} MB, "
                 f"{'every entry current' if ok else 'NOT current'}")
    return ok, "\n".join(lines)


def build_entry(name: str, steps: dict[str, int], *, profile: str, data_root: str, out_dir: str,
                resume_dir: str = "") -> dict:
    """Train and evaluate one entry; its state written to ``out_dir`` (a temporary file the
    driver moves into the zoo); returns the manifest fields. Runs in a Ray task or here.

    ``resume_dir``: where the entry's state is saved after every epoch
    (``<resume_dir>/<name>-<stage key>.pt``), so that a build stopped part-way (a session's end,
    a lost node) continues from its last epoch when run again; removed once the entry is done.
    The file keeps the build's time so far (``build_seconds``): ``minutes`` counts every try.
    "" = no saving (a stopped build starts again from nothing)."""
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.checkpoint import save_checkpoint
    from maskpose_core.train.fit import fit
    from maskpose_core.train.hooks import TrainHooks
    from maskpose_core.train.recipe import stage_key
    from maskpose_core.train.zoo_catalog import catalog
    from orchestration.train import progress_text

    plan = catalog(profile, steps)[name]
    root = Path(data_root) if data_root else None
    t0 = time.perf_counter()
    partial = Path(resume_dir) / f"{name}-{stage_key(plan.train)}.pt" if resume_dir else None
    state = _resume_state(plan, partial)
    before_s = float(state.pop("build_seconds", 0.0)) if state is not None else 0.0   # a stopped build's time
    reports = []

    def keep(report) -> None:
        reports.append(report)
        if partial is not None:
            save_checkpoint(partial, {**report.state, "build_seconds": before_s + time.perf_counter() - t0})
        log.info("zoo entry %s: epoch %d/%d %s", name, report.epoch + 1, plan.train.train.epochs,
                 progress_text(report.metrics))

    data = load_data(plan.train.data, root=root, progress=False)
    if state is None or int(state["epoch"]) + 1 < plan.train.train.epochs:
        fit(plan.train, data, hooks=TrainHooks(report=keep), resume=state)
        state = reports[-1].state
    meta = entry_meta(plan, state, data_hash=_data_hash(data), data_root=data_root, out_dir=out_dir)
    if partial is not None:
        partial.unlink(missing_ok=True)
    minutes = (before_s + time.perf_counter() - t0) / 60     # every try's time, a resumed build's included
    return {**meta, "source": "maskpose zoo build", "minutes": round(minutes, 3)}


def _resume_state(plan, partial: Path | None) -> dict | None:
    """The state a stopped build of ``plan`` left in ``partial`` (its stage key is in the file's
    name and checked again inside), or None."""
    if partial is None or not partial.is_file():
        return None
    from maskpose_core.train.checkpoint import config_of, load_checkpoint
    from maskpose_core.train.recipe import stage_key
    state = load_checkpoint(partial)
    if stage_key(config_of(state)) != stage_key(plan.train):
        raise ValueError(f"zoo build {plan.name}: {partial} holds another config's training; remove it")
    log.info("zoo build %s: resuming from %s after epoch %d of %d", plan.name, partial,
             int(state["epoch"]) + 1, plan.train.train.epochs)
    return state


def _data_hash(data) -> str:
    return str((getattr(data.train, "meta", {}) or {}).get("hash", ""))


def entry_meta(plan, state: dict, *, data_hash: str, data_root: str, out_dir: str) -> dict:
    """Evaluate ``state`` as entry ``plan`` on the target's val and test splits; write it to
    ``out_dir`` under a temporary name; return the manifest fields (``built``: that file)."""
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.checkpoint import save_checkpoint
    from maskpose_core.train.checkpoint_eval import evaluate_checkpoint
    from maskpose_core.train.recipe import stage_key
    from orchestration.tracking import git_state

    name = plan.name
    target = load_data(plan.target.data, root=Path(data_root) if data_root else None, progress=False)
    metrics = {k: round(v, 3) for k, v in evaluate_checkpoint(state, target, cfg=plan.target).items()
               if k.split("/")[1] in ("mpjpe_mm", "mpjpe_flip_mm", "p_mpjpe_mm", "err2d_flip_pct")}
    path = save_checkpoint(Path(out_dir) / f".{name}.built.pt", state)
    return {"name": name, "kind": plan.kind, "seed": plan.seed, "stage_key": stage_key(plan.train),
            "steps": plan.steps, "data_hash": data_hash,
            "commit": git_state().get("git_commit", "unknown"), "metrics": metrics, "built": str(path),
            "command": f"maskpose zoo build --entries {name} --steps {plan.kind}={plan.steps}"}


def check_adoptable(plan, state: dict, checkpoint: Path) -> None:
    """Refuse a checkpoint that is not entry ``plan``'s stage trained to its end (named)."""
    from maskpose_core.config import hashed_fields
    from maskpose_core.train.checkpoint import config_of
    from maskpose_core.train.recipe import SPEED_KEYS, stage_key
    cfg = config_of(state)
    if stage_key(cfg) != stage_key(plan.train):
        have, want = hashed_fields(cfg), hashed_fields(plan.train)
        diff = sorted(k for k in set(have) | set(want) if k not in SPEED_KEYS and have.get(k) != want.get(k))
        shown = ", ".join(f"{k}: {have.get(k, '(default)')!r} (entry: {want.get(k, '(default)')!r})" for k in diff[:8])
        raise ValueError(f"zoo adopt {plan.name}: {checkpoint} was trained with another config: {shown}")
    epochs = plan.train.train.epochs           # the stage's own budget (stage 1's epochs in a stage-1 config)
    if int(state.get("epoch", -1)) + 1 != epochs:
        raise ValueError(f"zoo adopt {plan.name}: {checkpoint} stopped after epoch {int(state.get('epoch', -1)) + 1} "
                         f"of the entry's {epochs} (an unfinished run)")


def adopt(name: str, checkpoint: Path, *, steps: dict[str, int], folder: Path, profile: str = "quick",
          data_root: str = "") -> ZooEntry:
    """Make ``checkpoint`` (a finished run of entry ``name``'s own config) that entry."""
    from maskpose_core.train.checkpoint import load_checkpoint
    from maskpose_core.train.zoo_catalog import catalog

    plans = catalog(profile, steps)
    if name not in plans:
        raise ValueError(f"zoo adopt: no entry {name!r} at these budgets; entries are {sorted(plans) or 'none'} "
                         f"(a kind without a measured plateau needs --steps KIND=N)")
    plan = plans[name]
    state = load_checkpoint(checkpoint)
    check_adoptable(plan, state, Path(checkpoint))
    _check_writable(folder)
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.checkpoint import config_of
    data = load_data(config_of(state).data, root=Path(data_root) if data_root else None, progress=False)
    meta = entry_meta(plan, state, data_hash=_data_hash(data), data_root=data_root, out_dir=str(folder))
    meta["source"] = f"adopted from {checkpoint} (MLflow run {state.get('mlflow_run_id', 'unknown')})"
    built = Path(meta.pop("built"))
    entry = Zoo(folder).add(ZooEntry(file=f"{name}.pt", sha256="", size_bytes=0, **meta), load_checkpoint(built))
    built.unlink()
    log.info("zoo entry %s adopted from %s: %s", name, checkpoint, entry.sha256[:12])
    return entry


def _check_writable(folder: Path) -> None:
    probe = folder if folder.exists() else folder.parent
    if not os.access(probe, os.W_OK):
        raise ValueError(f"zoo folder {folder} is not writable")
    folder.mkdir(parents=True, exist_ok=True)


def build(names: list[str] | None, *, steps: dict[str, int], folder: Path, profile: str = "quick",
          data_root: str = "", parallel: int = 1, resume_dir: str = "") -> list[ZooEntry]:
    """Build the entries named (default all of the catalog); checks first, then trains
    (``resume_dir``: see :func:`build_entry`)."""
    from maskpose_core.train.checkpoint import load_checkpoint
    from maskpose_core.train.zoo_catalog import catalog

    plans = catalog(profile, steps)
    if not plans:
        raise ValueError("zoo build: no kind has a measured plateau yet (maskpose_core/train/zoo_catalog.py "
                         "PLATEAU_STEPS): run studies/convergence.py, or pass --steps KIND=N")
    names = names or sorted(plans)
    unknown = [n for n in names if n not in plans]
    if unknown:
        raise ValueError(f"zoo build: no entry {unknown} at these budgets; entries are {sorted(plans) or 'none'} "
                         f"(a kind without a measured plateau needs --steps KIND=N)")
    _check_writable(folder)
    zoo = Zoo(folder)
    if parallel > 1:
        import ray
        from orchestration.runtime import ensure_ray
        ensure_ray(None)
        task = ray.remote(num_cpus=1)(build_entry)
        done = ray.get([task.remote(n, steps, profile=profile, data_root=data_root, out_dir=str(folder),
                                    resume_dir=resume_dir) for n in names])
    else:
        done = [build_entry(n, steps, profile=profile, data_root=data_root, out_dir=str(folder),
                            resume_dir=resume_dir) for n in names]
    out = []
    for meta in done:
        built = Path(meta.pop("built"))
        minutes = meta["minutes"]
        entry = ZooEntry(file=f"{meta['name']}.pt", sha256="", size_bytes=0, **meta)
        out.append(zoo.add(entry, load_checkpoint(built)))
        built.unlink()
        log.info("zoo entry %s built in %.1f min: %s", entry.name, minutes, out[-1].sha256[:12])
    return out


def main_zoo(args) -> int:
    """The ``maskpose zoo`` subcommand (orchestration/cli.py registers it)."""
    zoo = Zoo(Path(args.folder) if getattr(args, "folder", "") else ZOO_DIR)
    if args.zoo_command == "list":
        print(list_entries(zoo, as_json=args.json))
        return 0
    if args.zoo_command == "verify":
        ok, text = verify(zoo)
        print(text)
        return 0 if ok else 1
    steps = _steps(args.steps)
    if args.zoo_command == "adopt":
        e = adopt(args.name, Path(args.checkpoint), steps=steps, folder=zoo.folder, profile=args.profile,
                  data_root=args.data_root)
        print(json.dumps({"name": e.name, "sha256": e.sha256, "stage_key": e.stage_key, "source": e.source}))
        return 0
    from orchestration.runtime import default_storage_path
    built = build(args.entries, steps=steps, folder=zoo.folder, profile=args.profile, data_root=args.data_root,
                  parallel=args.parallel, resume_dir=str(default_storage_path() / "zoo_build"))
    print(json.dumps([{"name": e.name, "sha256": e.sha256, "stage_key": e.stage_key} for e in built]))
    return 0


def _steps(items: list[str]) -> dict[str, int]:
    steps = {}
    for item in items:
        kind, sep, value = item.partition("=")
        if not sep or not value.isdigit():
            raise ValueError(f"--steps takes KIND=N (e.g. stage1=1920), got {item!r}")
        steps[kind] = int(value)
    return steps


def add_parser(sub) -> None:
    zoo = sub.add_parser("zoo", help="the model zoo: converged starting points shipped with the code")
    zsub = zoo.add_subparsers(dest="zoo_command", required=True)
    ls = zsub.add_parser("list", help="the entries")
    ls.add_argument("--json", action="store_true")
    zsub.add_parser("verify", help="every entry's sha256 and stage key current (rc 1 if not)")
    b = zsub.add_parser("build", help="retrain entries from nothing")
    b.add_argument("--entries", nargs="+", default=None, metavar="NAME")
    b.add_argument("--steps", action="append", default=[], metavar="KIND=N",
                   help="budget of a kind in steps (default: its measured plateau)")
    b.add_argument("--parallel", type=int, default=1, help="entries at once as Ray tasks")
    b.add_argument("--profile", default="quick", choices=("smoke", "quick"))
    b.add_argument("--data-root", default="")
    a = zsub.add_parser("adopt", help="make a finished run of an entry's own config that entry")
    a.add_argument("name", metavar="NAME", help="the entry, e.g. reference-seed0")
    a.add_argument("checkpoint", metavar="CHECKPOINT", help="the run's final checkpoint file")
    a.add_argument("--steps", action="append", default=[], metavar="KIND=N",
                   help="budget of a kind in steps (default: its measured plateau)")
    a.add_argument("--profile", default="quick", choices=("smoke", "quick"))
    a.add_argument("--data-root", default="")
    for p in (ls, b, a, zsub.choices["verify"]):
        p.add_argument("--folder", default="", help="zoo folder (default: the package's maskpose_core/zoo)")
