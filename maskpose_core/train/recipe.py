"""The recipe as a list of stages, and the one store their shared checkpoints live in.

``stages(cfg)`` says what a config runs (docs/method.md §6):

* ``mask_only`` — one stage, ``train``: the config itself.
* ``two_stage`` — ``stage1`` (supervised on the labelled pseudo images: :func:`stage1_config`),
  then ``stage2`` (the config itself on the target, started from stage 1's weights, the pseudo
  stream beside it: ``train/streams.py``).
* ``pseudo_only`` — ``stage1``, then ``pseudo_only``: stage 1 evaluated on the target, no step.

``run_stages(cfg, run_one, store)`` runs them in order: a **shared** stage (stage 1) is looked
up in the :class:`CheckpointStore` by its :func:`stage_key` and trained (by ``run_one``, under
the store's lock) only when missing; the final stage always runs — as an evaluation of the zoo's
entry when the zoo holds the final stage itself (a target REFERENCE at its plateau). ``run_one(stage, init)``
trains or evaluates one stage starting from the checkpoint file ``init`` (or from scratch) and
returns an outcome with ``metrics`` and a ``checkpoint`` path or a ``state``: the core passes
:func:`fit_stage`, the orchestration its tracked run (``orchestration/train.py``).

**Which rows share a stage 1.** Stage 1 takes from the row it serves only the seed, the
model, the target's crop size and view count, the pseudo set's data keys and the skeleton
render ψ learns on (:data:`PSI_RENDER`: σ², combine, primitive, arm factor, Δ, render size);
everything else (the stage-2 loss weights, its budget and learning rate, the streams) is
stage 2's, so rows that differ only there share one stage 1. A row without ψ trains no ψ in
stage 2 and starts from the stage 1 of the default render (``Stage.psi_render == "default"``):
"wo ψ,G" and "wo ψ,G,Δ" start from Full's stage 1, ψ's weights dropped on loading.

**The stage key** is the hash of the stage's config without the settings that change how fast
it runs, not what it learns (:data:`SPEED_KEYS`: compile, evaluation subset, figure, threads,
device, fault injection), so a compiled stage 1 serves a plain run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from maskpose_core.config import ExperimentConfig, flatten, from_dict, hashed_fields
from maskpose_core.file_lock import file_lock
from maskpose_core.loss.config import LossConfig
from maskpose_core.recipe_config import RecipeConfig

log = logging.getLogger(__name__)

# LossConfig fields of the skeleton render ψ learns on in stage 1 (the row's own, or the default
# render's for a row without ψ). The stage-2 weights (λs, λp, G, ...) are not among them.
PSI_RENDER = ("sigma2", "combine", "primitive", "arm_sigma_factor", "delta", "render_size")
# What a row without ψ takes from the default render instead of its own (Δ, primitive, combine).
DEFAULT_SHAPE = ("delta", "primitive", "combine")
# Settings that change how fast a stage runs, not what it learns: outside the stage key.
SPEED_KEYS = ("train.compile", "train.val_samples", "train.figure_samples", "train.num_threads", "train.device",
              "train.fault_kill_epoch")
# The store's folder under a storage folder (orchestration: ``<storage>/stages``; the tools:
# ``checkpoints/stages``, the default storage's).
STORE_DIR = "stages"
# What a stage refuses to start from if it differs (the data it was trained on, the network).
CHECKED_PREFIXES = ("data.", "model.")


@dataclass(frozen=True)
class Stage:
    """One stage of a recipe.

    name        "train" (mask-only), "stage1", "stage2" or "pseudo_only"
    cfg         the config this stage runs (stage 1's is derived: :func:`stage1_config`)
    trains      False: the stage evaluates ``start_from``'s checkpoint on ``cfg``'s data
    start_from  the stage whose final checkpoint this one starts from (weights only)
    shared      its checkpoint is kept in the store under :attr:`key` and reused by every row
                with the same key (stage 1)
    drops       weight-name prefixes of ``start_from`` left out on loading (ψ for a row without it)
    psi_render  stage 1: "row" (ψ learns on the row's own render) or "default" (the default
                render: a row without ψ shares Full's stage 1); "" for other stages
    zoo_entry   an evaluation of the zoo's entry of this very stage (:func:`zoo_evaluation`)
    """
    name: str
    cfg: ExperimentConfig
    trains: bool = True
    start_from: "Stage | None" = None
    shared: bool = False
    drops: tuple[str, ...] = ()
    psi_render: str = ""
    zoo_entry: str = ""

    @property
    def key(self) -> str:
        return stage_key(self.cfg)


def stage_key(cfg: ExperimentConfig) -> str:
    """12 hex digits over the fields that define what a stage learns (:data:`SPEED_KEYS` left out)."""
    fields = {k: v for k, v in hashed_fields(cfg).items() if k not in SPEED_KEYS}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:12]


def stage1_config(cfg: ExperimentConfig) -> ExperimentConfig:
    """Stage 1 of ``cfg`` (a ``two_stage`` or ``pseudo_only`` config): the detector (and ψ, with
    ``recipe.stage1_physique``) supervised on the pseudo images, with the stage-1 budget and lr."""
    if not cfg.recipe.has_stage1:
        raise ValueError(f"recipe.stages={cfg.recipe.stages!r} has no stage 1 (two_stage or pseudo_only have)")
    r = cfg.recipe
    psi = r.stage1_physique
    render = {k: getattr(cfg.loss, k) for k in PSI_RENDER}
    if not cfg.model.physique:     # psi_render "default": the skeleton's shape of the default render
        render.update({k: getattr(LossConfig(), k) for k in DEFAULT_SHAPE})
    loss = LossConfig(mode="supervised_reference", physique_supervised=psi, **render)
    train = dataclasses.replace(cfg.train, epochs=r.stage1_epochs, steps_per_epoch=r.stage1_steps_per_epoch,
                                spp_labelled=0, fault_kill_epoch=-1)
    # stage 1 is supervised on labelled renders: its root is the pseudo set's own (a label there), so a
    # stage 2 that triangulates its root (``model.root``) shares the stage 1 of the default root
    model = dataclasses.replace(cfg.model, physique=psi or cfg.model.physique, root="dataset")
    from maskpose_core.data.registry import pseudo_data_config
    return dataclasses.replace(cfg, data=pseudo_data_config(cfg.data), model=model, loss=loss,
                               optim=dataclasses.replace(cfg.optim, lr=r.stage1_lr), train=train,
                               recipe=RecipeConfig())


def stages(cfg: ExperimentConfig) -> list[Stage]:
    """The stages ``cfg`` runs, in order; the last one's metrics are the run's."""
    if not cfg.recipe.has_stage1:
        return [Stage("train", cfg)]
    s1 = Stage("stage1", stage1_config(cfg), shared=True, psi_render="row" if cfg.model.physique else "default")
    drops = () if cfg.model.physique else ("physique.",)
    if cfg.recipe.evaluates_only:
        return [s1, Stage("pseudo_only", cfg, trains=False, start_from=s1, drops=drops)]
    return [s1, Stage("stage2", cfg, start_from=s1, drops=drops)]


def check_start(stage: Stage, state: dict, *, where: str) -> None:
    """Refuse a checkpoint ``stage`` would start from whose data or model config is not its
    ``start_from``'s (named: key, the checkpoint's value, the one needed)."""
    want = flatten(stage.start_from.cfg)
    have = flatten(from_dict(state["config"]))
    bad = sorted(k for k in want if k.startswith(CHECKED_PREFIXES) and want[k] != have.get(k))
    if bad:
        diffs = ", ".join(f"{k}: {have.get(k)!r} (need {want[k]!r})" for k in bad)
        raise ValueError(f"{where} was trained with another config: {diffs}")


class Outcome(Protocol):
    metrics: dict[str, float]
    checkpoint: Any          # a path to the stage's final checkpoint, or None


@dataclass(frozen=True)
class StageOutcome:
    """What the core's :func:`fit_stage` returns: metrics and the final state (no file)."""
    metrics: dict[str, float]
    state: dict | None = None
    checkpoint: Path | None = None


class CheckpointStore:
    """The shared stages' checkpoints: ``<root>/<stage name>-<stage key>.pt``, one lock per file
    (``.<file>.lock``, held while the stage trains, so parallel rows that need the same stage
    wait for one training), one lookup by key. The model zoo (``train/zoo.py``, the package's
    by default; ``zoo=None`` for none) is looked up first: a stage the zoo holds is never trained."""

    def __init__(self, root: str | Path, zoo: Any = "package"):
        self.root = Path(root)
        if zoo == "package":
            from maskpose_core.train.zoo import Zoo
            zoo = Zoo()
        self.zoo = zoo

    def path(self, stage: Stage) -> Path:
        return self.root / f"{stage.name}-{stage.key}.pt"

    def has(self, stage: Stage) -> bool:
        return self.path(stage).is_file() or self.in_zoo(stage)

    def in_zoo(self, stage: Stage) -> bool:
        """Does the zoo hold ``stage`` (an entry of its stage key)? Looks only: no file is read."""
        return self.zoo is not None and self.zoo.find(stage) is not None

    def from_zoo(self, stage: Stage) -> tuple[str, Path] | None:
        """(entry name, its file, sha256 checked) when the zoo holds ``stage``, else None; logged."""
        entry = self.zoo.find(stage) if self.zoo is not None else None
        if entry is None:
            return None
        path = self.zoo.path(entry.name)
        log.info("%s: from the zoo, entry %s (%s, stage key %s)", stage.name, entry.name, path, stage.key)
        return entry.name, path

    def ensure(self, stage: Stage, make: Callable[[], Outcome]) -> Path:
        """The checkpoint of ``stage``: the zoo's entry (sha256 checked), else the stored one, else
        made first by ``make()`` (under the lock) and stored."""
        held = self.from_zoo(stage)
        if held is not None:
            return held[1]
        path = self.path(stage)
        if path.is_file():
            return self._reuse(stage, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(path.with_name(f".{path.name}.lock")):
            if path.is_file():                       # another row made it meanwhile
                return self._reuse(stage, path)
            log.info("%s: training (stage key %s); stored as %s", stage.name, stage.key, path)
            outcome = make()
            tmp = path.with_name(f".{path.name}.tmp")
            if getattr(outcome, "checkpoint", None):
                shutil.copyfile(outcome.checkpoint, tmp)
            elif getattr(outcome, "state", None) is not None:
                from maskpose_core.train.checkpoint import save_checkpoint
                save_checkpoint(tmp, outcome.state)
            else:
                raise RuntimeError(f"{stage.name} finished without a checkpoint to store")
            tmp.replace(path)
        return path

    @staticmethod
    def _reuse(stage: Stage, path: Path) -> Path:
        from maskpose_core.train.checkpoint import config_of, load_checkpoint
        state = load_checkpoint(path)
        if stage_key(config_of(state)) != stage.key:
            raise ValueError(f"{path} holds a checkpoint of another stage (its key {stage_key(config_of(state))}, "
                             f"need {stage.key}); delete it to train {stage.name} again")
        log.info("%s: reusing %s (stage key %s)", stage.name, path, stage.key)
        return path


def zoo_evaluation(stage: Stage, entry: str) -> Stage:
    """``stage`` as an evaluation of the zoo's entry of it (a REFERENCE the zoo holds is evaluated,
    never trained again): same config, so the same run identity as a training of it."""
    return dataclasses.replace(stage, trains=False, start_from=stage, zoo_entry=entry)


def run_stages(cfg: ExperimentConfig, run_one: Callable[[Stage, Path | None], Outcome],
               store: CheckpointStore) -> Outcome:
    """Run the stages of ``cfg`` (see the module docstring); the last stage's outcome. A final
    stage the zoo holds (a target REFERENCE at its plateau) is evaluated from the zoo's entry."""
    done: dict[str, Path] = {}
    plan = stages(cfg)
    for stage in plan[:-1]:
        init = done.get(stage.start_from.name) if stage.start_from is not None else None
        done[stage.name] = store.ensure(stage, lambda: run_one(stage, init))   # noqa: B023 (called at once)
    last = plan[-1]
    held = store.from_zoo(last) if last.trains else None
    if held is not None:
        return run_one(zoo_evaluation(last, held[0]), held[1])
    return run_one(last, done.get(last.start_from.name) if last.start_from is not None else None)


def start_state(stage: Stage, init: Path | None) -> dict | None:
    """The checkpoint state ``stage`` starts from (checked against its ``start_from``), or None."""
    if init is None:
        return None
    from maskpose_core.train.checkpoint import load_checkpoint
    state = load_checkpoint(init)
    check_start(stage, state, where=str(init))
    return state


def evaluate_stage(stage: Stage, init: Path, data, *, root: Path | None = None) -> dict[str, float]:
    """An evaluation-only stage (pseudo only, or a zoo entry of the final stage itself):
    ``start_from``'s checkpoint as the network of ``stage.cfg``, on ``data`` (``val/…``,
    ``test/…``), and, after a stage 1, the stage-1 checkpoint as it was
    trained on the pseudo set's own val split (``pseudo_val/…``; none when that set has no val
    subject left, e.g. ``data.pseudo_activities=dance``). Every runner calls this one."""
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.checkpoint import load_checkpoint
    from maskpose_core.train.checkpoint_eval import evaluate_checkpoint
    out = evaluate_checkpoint(start_state(stage, init), data, cfg=stage.cfg)
    if stage.start_from.name != "stage1":        # a zoo REFERENCE: trained on the target itself
        return out
    source = stage.start_from.cfg
    pseudo = load_data(source.data, root=root, progress=False)
    if getattr(pseudo.val, "split", "") == "val" and len(pseudo.val):      # not train standing in for it
        out.update(evaluate_checkpoint(load_checkpoint(init), pseudo.val, cfg=source, name="pseudo_val"))
    return out


def fit_stage(stage: Stage, init: Path | None, *, root: Path | None = None, progress: bool = False,
              hooks=None) -> StageOutcome:
    """The core's ``run_one``: one stage in this process (``fit``, or ``evaluate_checkpoint``
    for an evaluation-only stage), its final state returned."""
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.fit import fit
    from maskpose_core.train.hooks import TrainHooks

    cfg = stage.cfg
    data = load_data(cfg.data, root=root, progress=progress, pseudo=cfg.recipe.trains_beside_pseudo)
    if not stage.trains:
        return StageOutcome(evaluate_stage(stage, init, data, root=root))
    state = start_state(stage, init)
    final: dict = {}
    user = hooks or TrainHooks()

    def report(rep):
        if user.report is not None:
            user.report(rep)
        if rep.is_last:
            final["state"] = rep.state
    metrics = fit(cfg, data, init=state, hooks=dataclasses.replace(user, report=report))
    return StageOutcome(metrics, state=final.get("state"))


def fit_recipe(cfg: ExperimentConfig, *, store: str | Path, root: Path | None = None, progress: bool = False,
               hooks=None) -> dict[str, float]:
    """The whole recipe of ``cfg`` in this process, shared stages in ``store``: the final metrics."""
    def run_one(stage: Stage, init: Path | None) -> StageOutcome:
        return fit_stage(stage, init, root=root, progress=progress, hooks=None if stage.shared else hooks)
    return run_stages(cfg, run_one, CheckpointStore(store)).metrics
