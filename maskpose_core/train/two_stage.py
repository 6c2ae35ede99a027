"""The authors' two-stage recipe (docs/method.md §6) on our own pseudo images.

* :func:`stage1_config` — the stage-1 ExperimentConfig of a recipe config: the detector (and
  ψ, with ``recipe.stage1_physique``) trained **supervised** on the labelled pseudo set
  (``registry.pseudo_data_config``), with the stage-1 budget and learning rate. Its hash is
  the cache key: every stage-2 row with the same pseudo data, model, stage-1 optimisation
  and seed shares one stage-1 checkpoint; a row that changes the detector's architecture (K,
  input, backbone) or, with ψ, the skeleton render ψ learns on (σ², Δ, combine) gets its own.
  Stage 1 trains ψ whenever ``recipe.stage1_physique``; a row without ψ starts stage 2 from
  the same checkpoint with ψ's weights dropped (ψ's term never reaches φ in stage 1).
* :func:`check_stage1` — a stage-1 checkpoint is refused unless its data and model keys
  are the ones this config asks for (named in the error).
* :func:`fit_two_stage` — the whole recipe in one process with a checkpoint cache
  (``<cache>/stage1-<hash>.pt``): the core's own driver, used by the GPU check and the
  tests; the orchestration layer runs the same two stages as tracked runs.

Loading stage 1 never re-applies the init prior (its buffers are in the checkpoint) and the
stage-2 optimiser starts fresh. ``pseudo_only`` rows evaluate stage 1 on the target.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from maskpose_core.config import ExperimentConfig, flatten, from_dict
from maskpose_core.data.packed import DataBundle
from maskpose_core.data.registry import load_data, pseudo_data_config
from maskpose_core.loss.config import LossConfig
from maskpose_core.recipe_config import RecipeConfig
from maskpose_core.train.checkpoint import load_checkpoint, save_checkpoint
from maskpose_core.train.evaluate import evaluate
from maskpose_core.train.fit import build_model, fit
from maskpose_core.train.hooks import EpochReport, TrainHooks

log = logging.getLogger(__name__)

# LossConfig fields that shape what ψ learns on in stage 1 (the skeleton mask it is given). The
# stage-2 weights (λs, λp, G on or off, ...) are not among them: rows that change only those
# share stage 1 (ψ's stage-1 term has weight 1 and is G-weighted, as the physique term's default).
RENDER_KEYS = ("sigma2", "combine", "primitive", "arm_sigma_factor", "delta", "render_size")
SHAPE_KEYS = ("delta", "primitive", "combine")  # what a row without ψ may change and still share Full's stage 1
CHECKED_PREFIXES = ("data.", "model.")          # what a stage-2 run refuses to start from if it differs


def stage1_config(cfg: ExperimentConfig) -> ExperimentConfig:
    """Stage 1 of ``cfg`` (a ``two_stage`` or ``pseudo_only`` config): supervised on pseudo images."""
    if not cfg.recipe.uses_pseudo:
        raise ValueError(f"recipe.stages={cfg.recipe.stages!r} has no stage 1 (two_stage or pseudo_only have)")
    r = cfg.recipe
    psi = r.stage1_physique
    # ψ learns on the skeleton mask a row renders; a row without ψ in stage 2 drops ψ's weights on
    # loading (build_model), so it starts from the stage 1 of the default render: "wo ψ,G" and
    # "wo ψ,G,Δ" start from Full's stage 1 (the same detector, so their difference is stage 2's)
    render = {k: getattr(cfg.loss, k) for k in RENDER_KEYS}
    if not cfg.model.physique:      # the skeleton's shape (Δ, primitive, combine) of the default render
        render.update({k: getattr(LossConfig(), k) for k in SHAPE_KEYS})
    loss = LossConfig(mode="supervised_reference", physique_supervised=psi, **render)
    train = dataclasses.replace(cfg.train, epochs=r.stage1_epochs, steps_per_epoch=r.stage1_steps_per_epoch,
                                spp_labelled=0, fault_kill_epoch=-1)
    model = dataclasses.replace(cfg.model, physique=psi or cfg.model.physique)
    return dataclasses.replace(cfg, data=pseudo_data_config(cfg.data), model=model, loss=loss,
                               optim=dataclasses.replace(cfg.optim, lr=r.stage1_lr), train=train,
                               recipe=RecipeConfig())


def check_stage1(cfg: ExperimentConfig, state: dict, *, where: str = "stage-1 checkpoint") -> None:
    """Refuse a stage-1 state whose data or model config is not ``stage1_config(cfg)``'s."""
    want = flatten(stage1_config(cfg))
    have = flatten(from_dict(state["config"]))
    bad = sorted(k for k in want if k.startswith(CHECKED_PREFIXES) and want[k] != have.get(k))
    if bad:
        diffs = ", ".join(f"{k}: {have.get(k)!r} (need {want[k]!r})" for k in bad)
        raise ValueError(f"{where} was trained with another config: {diffs}")


def evaluate_on_target(net, data: DataBundle, *, val_samples: int = 0) -> dict[str, float]:
    """``val/…`` and (if the target has one) ``test/…`` metrics of a network on the target."""
    out = {f"val/{k}": v for k, v in evaluate(net, data.val, max_samples=val_samples).items()}
    if data.test is not None:
        out.update({f"test/{k}": v for k, v in evaluate(net, data.test).items()})
    return out


def _final_state_hook(store: dict) -> TrainHooks:
    def report(rep: EpochReport) -> None:
        if rep.is_last:
            store["state"] = rep.state
    return TrainHooks(report=report)


def ensure_stage1(cfg: ExperimentConfig, cache: Path, *, root: Path | None = None,
                  progress: bool = False) -> tuple[dict, Path]:
    """Stage 1 of ``cfg``: the cached checkpoint ``<cache>/stage1-<hash>.pt`` if it exists (and
    matches), else trained now and cached. Returns (state, path)."""
    s1 = stage1_config(cfg)
    path = Path(cache) / f"stage1-{s1.hash}.pt"
    if path.is_file():
        state = load_checkpoint(path)
        check_stage1(cfg, state, where=str(path))
        log.info("stage 1: reusing %s (stage-1 hash %s)", path, s1.hash)
        return state, path
    log.info("stage 1: training %s on %s (hash %s)", s1.data.dataset, s1.data.train_frames or "all", s1.hash)
    store: dict = {}
    fit(s1, load_data(s1.data, root=root, progress=progress), hooks=_final_state_hook(store))
    save_checkpoint(path, store["state"])
    return store["state"], path


def fit_two_stage(cfg: ExperimentConfig, *, cache: Path, root: Path | None = None, progress: bool = False,
                  hooks: TrainHooks | None = None) -> dict[str, float]:
    """The whole recipe in this process: stage 1 (cached), then stage 2 on the target
    (``two_stage``) or stage 1 alone evaluated on the target (``pseudo_only``)."""
    state, _ = ensure_stage1(cfg, cache, root=root, progress=progress)
    data = load_data(cfg.data, root=root, progress=progress, pseudo=cfg.recipe.stages == "two_stage")
    if cfg.recipe.stages == "pseudo_only":
        net = build_model(cfg, data, init=state)
        return evaluate_on_target(net, data)
    return fit(cfg, data, init=state, hooks=hooks or TrainHooks())
