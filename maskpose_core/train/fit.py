"""``fit(cfg, data, hooks=..., resume=...) -> metrics``: the one training loop.

The same function runs as a plain process and in every Ray Train worker; the loop only
does forward/backward (the run's training split plus its auxiliary streams, ``train/streams.py``)
and hands the rest to ``TrainHooks`` (docs/style.md): evaluation, SPP and the figure are its
epoch-end steps (``train/epoch_steps.py``). Seeded and
deterministic on CPU: shuffling uses a generator seeded by (seed, epoch), model init by
``cfg.seed``. A non-finite loss raises ``FloatingPointError`` naming the step and terms.
"""
from __future__ import annotations

import copy
import logging
import time

import torch

from maskpose_core.config import ExperimentConfig, to_dict
from maskpose_core.data.packed import DataBundle
from maskpose_core.train.init_weights import init_state, load_init
from maskpose_core.model.net import AuxBatch, MaskPoseNet
from maskpose_core.model.precision import check_precision
from maskpose_core.train import schedule
from maskpose_core.train.epoch_steps import DEFAULT_STEPS, EpochEnd
from maskpose_core.train.hooks import EpochReport, TrainHooks
from maskpose_core.train.init_prior import apply_init_prior
from maskpose_core.train.streams import endless_batches, streams
from maskpose_core.train.zoo import resolve_init


log = logging.getLogger(__name__)


def _check_data(cfg: ExperimentConfig, data: DataBundle) -> None:
    if data.train.image_size != cfg.data.image_size:
        raise ValueError(f"data.image_size is {cfg.data.image_size} but the data set {data.folder} has "
                         f"{data.train.image_size}-px images")
    if bool(cfg.data.extra) != (data.extra is not None):
        raise ValueError(f"DataConfig.extra is {cfg.data.extra!r} but the data bundle "
                         f"{'has no' if data.extra is None else 'has an'} extra data set; load it with load_data(cfg.data)")
    if cfg.data.extra and cfg.loss.mode == "supervised_reference":
        raise ValueError("DataConfig.extra is mask-only data; loss.mode='supervised_reference' cannot use it")
    if cfg.loss.mode == "supervised_reference" and not data.train.has_labels:
        raise ValueError(f"loss.mode='supervised_reference' needs 3D labels; {data.name} has none")


def _loader(cfg: ExperimentConfig, data: DataBundle, hooks: TrainHooks, epoch: int):
    g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    loader = torch.utils.data.DataLoader(data.train, batch_size=cfg.optim.batch_size, shuffle=True,
                                         generator=g, drop_last=True)
    loader = hooks.wrap_loader(loader)
    if hasattr(loader, "sampler") and hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    return loader


def _to(device: torch.device, batch: dict) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _steps_per_epoch(cfg: ExperimentConfig, data: DataBundle, world_size: int) -> int:
    full = len(data.train) // (cfg.optim.batch_size * world_size)
    if full < 1:
        raise ValueError(f"optim.batch_size {cfg.optim.batch_size} × {world_size} worker(s) exceeds the "
                         f"{len(data.train)} training moments of {data.name}")
    return min(full, cfg.train.steps_per_epoch) if cfg.train.steps_per_epoch else full


LABEL_KEYS = ("joints_cam_mm", "joints_world_mm", "joints_2d_norm")


def _label_free(cfg: ExperimentConfig, batch: dict) -> dict:
    """The target batch as a label-free run may see it: outside the supervised reference the
    joint labels are dropped before the model sees the batch (a mask-only or stage-2 run that
    read one would fail with a KeyError, not learn from it). Kept: images, masks, G, cameras
    and the root (the root protocol: ``model.root``)."""
    if cfg.loss.mode == "supervised_reference":
        return batch
    return {k: v for k, v in batch.items() if k not in LABEL_KEYS}


def _check_finite(step: int, out: dict) -> None:
    if torch.isfinite(out["loss"]):
        return
    bad = {k: float(v.detach()) for k, v in out.items() if k.startswith("loss") and v.ndim == 0}
    raise FloatingPointError(f"non-finite loss at step {step}: terms {bad}")


def build_model(cfg: ExperimentConfig, data: DataBundle, *, init: dict | None = None) -> MaskPoseNet:
    """The network of ``cfg``: seeded init plus the init prior, or (``init``, a checkpoint state
    such as stage 1's, else the file ``model.init`` names) its weights, buffers included, without
    re-applying the prior; a checkpoint of another architecture is refused naming the keys. Stage 1
    has no pose discriminator: a stage-2 one starts fresh (seeded) beside the loaded weights; a
    network without ψ leaves out the ``physique.*`` weights of a stage 1 that trained ψ, and so
    does a stage 2 with ``recipe.stage2_physique=scratch`` (its ψ stays at its seeded init)."""
    torch.manual_seed(cfg.seed)
    net = MaskPoseNet(cfg.model, cfg.loss, image_size=cfg.data.image_size,
                      discriminator_weight=cfg.recipe.discriminator_weight)
    where = "the initial weights"
    if init is None and cfg.model.init:          # model.init: a checkpoint file to start from
        init, where = init_state(resolve_init(cfg.model.init)), f"model.init {cfg.model.init}"
    if init is None:
        apply_init_prior(net, cfg, data)
    else:
        fresh = ("physique.",) if cfg.recipe.fresh_physique else ()     # the authors' stage 2: ψ untrained
        loaded = load_init(net, init, where=where, fresh=fresh)
        psi = "" if net.physique is None else "; ψ untrained (recipe.stage2_physique=scratch)" if fresh else " and ψ"
        log.info("%s: loaded %d tensors (detector%s)", where, loaded, psi)
    return net


def fit(cfg: ExperimentConfig, data: DataBundle, *, hooks: TrainHooks = TrainHooks(),
        resume: dict | None = None, init: dict | None = None) -> dict[str, float]:
    """Train ``cfg`` on ``data``; returns the final metrics (``val/…``, and ``test/…`` where the
    data has a test split). ``init``: a checkpoint state to start from (stage 2 of the two-stage
    recipe starts from stage 1's: weights only, a fresh optimiser); ``resume``: continue an
    interrupted run of this same config (weights, optimiser, epoch)."""
    _check_data(cfg, data)
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    torch.use_deterministic_algorithms(cfg.train.device == "cpu", warn_only=True)
    device = torch.device(cfg.train.device)
    check_precision(cfg.train.precision, cfg.train.device)      # warns where bf16 is emulated
    net = build_model(cfg, data, init=init).to(device).set_precision(cfg.train.precision)
    if cfg.train.compile:
        net.compile_backbone()
    frozen = net.physique if cfg.recipe.frozen_physique and net.physique is not None else None
    if frozen is not None:                          # stage 1's ψ, fixed: the body model, not a learner
        frozen.requires_grad_(False)
    params = net.parameters() if frozen is None else [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    start_epoch, step = 0, 0
    if resume is not None:
        net.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        start_epoch, step = int(resume["epoch"]) + 1, int(resume["step"])
        torch.set_rng_state(resume["rng_torch"])
    model = hooks.wrap_model(net)
    steps = _steps_per_epoch(cfg, data, hooks.world_size)
    total = steps * cfg.train.epochs
    aux_streams = streams(cfg, data)
    epoch_steps = DEFAULT_STEPS if hooks.epoch_end is None else hooks.epoch_end
    metrics: dict[str, float] = {}
    for epoch in range(start_epoch, cfg.train.epochs):
        if hooks.on_epoch_start is not None:
            hooks.on_epoch_start(epoch)
        t0, sums, seen, done = time.perf_counter(), {}, 0, 0
        model.train()
        if frozen is not None:
            frozen.eval()                           # its BatchNorm statistics stay stage 1's
        aux_batches = [endless_batches(s, cfg.seed, epoch, hooks.wrap_loader) for s in aux_streams]
        for batch in _loader(cfg, data, hooks, epoch):
            if done >= steps:
                break
            batch = _to(device, _label_free(cfg, batch))
            aux = [AuxBatch(s.name, s.kind, s.weight, _to(device, next(it))) for s, it in zip(aux_streams, aux_batches)]
            p = step / total
            for group in opt.param_groups:
                group["lr"] = cfg.optim.lr * schedule.lr_factor_at(cfg.optim, p)
            out = model(batch, sigma2=schedule.sigma2_at(cfg.loss, p),
                        physique_on=schedule.physique_on_at(cfg.loss, p), aux=aux)
            _check_finite(step, out)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            if cfg.optim.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.optim.grad_clip)
            opt.step()
            step += 1
            done += 1
            seen += batch["image"].shape[0]
            for k, v in out.items():
                if k.startswith("loss") or k == "spread_mm":
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
        dt = time.perf_counter() - t0
        is_last = epoch == cfg.train.epochs - 1
        metrics = {f"train/{k}": v / max(done, 1) for k, v in sums.items()}
        metrics.update({"train/sigma2": schedule.sigma2_at(cfg.loss, step / total), "train/lr": opt.param_groups[0]["lr"],
                        "time/epoch_s": dt, "train/samples_per_s": seen * hooks.world_size / dt})
        end = EpochEnd(net=net, cfg=cfg, data=data, epoch=epoch, is_last=is_last, rank=hooks.rank, metrics=metrics)
        for epoch_step in epoch_steps:
            epoch_step(end)
        # a snapshot: the live tensors keep changing after the report returns
        state = {"config": to_dict(cfg), "model": copy.deepcopy(net.state_dict()),
                 "optimizer": copy.deepcopy(opt.state_dict()),
                 "epoch": epoch, "step": step, "rng_torch": torch.get_rng_state(), "spp": end.spp_state}
        if hooks.report is not None:
            hooks.report(EpochReport(epoch=epoch, metrics=metrics, state=state, figure=end.figure, is_last=is_last))
    return metrics
