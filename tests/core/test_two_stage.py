"""The two-stage recipe: stage 1 cached and checked, stage 2 lowers its mask loss without
reading a target label, the pseudo supervision and the supervised ψ really act."""
import dataclasses
import logging

import numpy as np
import pytest
import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.data.packed import PackedSplit
from maskpose_core.train.checkpoint import save_checkpoint
from maskpose_core.train.fit import build_model, fit
from maskpose_core.train.hooks import TrainHooks
from maskpose_core.train.two_stage import check_stage1, ensure_stage1, stage1_config

RECIPE = {"recipe.stages": "two_stage", "model.init_prior": "none", "loss.template_weight": 0.0,
          "optim.batch_size": 8, "train.val_samples": 8, "train.figure_samples": 2,
          "recipe.stage1_epochs": 4, "recipe.stage1_steps_per_epoch": 0}


def _cfg(**over):
    return apply_overrides(profile_config("smoke"), {**RECIPE, **over})


def _with_pseudo(data):
    """The tiny set plays both roles: its labelled train split is the pseudo source."""
    return dataclasses.replace(data, pseudo=data.train)


def _stage1_state(cfg, data):
    store = {}
    fit(stage1_config(cfg), data, hooks=TrainHooks(report=lambda r: store.update(state=r.state)))
    return store["state"]


@pytest.fixture(scope="module")
def stage1(tiny_data):
    cfg = _cfg()
    return cfg, _stage1_state(cfg, tiny_data)


def test_stage1_is_supervised_on_the_pseudo_set_and_shared_by_stage2_rows():
    cfg = _cfg()
    s1 = stage1_config(cfg)
    assert s1.data.dataset == "pseudo" and s1.loss.mode == "supervised_reference" and s1.loss.physique_supervised
    assert s1.train.epochs == 4 and s1.optim.lr == cfg.recipe.stage1_lr
    # rows that change only stage-2 terms share stage 1; the architecture or the seed does not
    stage2_only = {"loss.lambda_s": 0.02, "loss.lambda_p": 0.02, "loss.coverage_weight": 0, "loss.geodesic": False,
                   "loss.extremity_weight": 0, "loss.pseudo_weight": 3.0, "train.epochs": 7}
    assert stage1_config(apply_overrides(cfg, stage2_only)).hash == s1.hash
    assert stage1_config(apply_overrides(cfg, {"model.input": "image"})).hash != s1.hash
    assert stage1_config(apply_overrides(cfg, {"seed": 1})).hash != s1.hash
    # Δ shapes the render ψ learns on in stage 1; without ψ it shapes nothing there
    assert stage1_config(apply_overrides(cfg, {"loss.delta": False})).hash != s1.hash
    no_psi = apply_overrides(cfg, {"model.physique": False})
    assert stage1_config(apply_overrides(no_psi, {"loss.delta": False})).hash == stage1_config(no_psi).hash
    # a row without ψ starts from Full's stage 1 (ψ trained there, dropped on loading)
    assert stage1_config(no_psi).hash == s1.hash and stage1_config(no_psi).model.physique


def test_a_row_without_psi_loads_the_stage1_detector_and_drops_psi(tiny_data, stage1):
    cfg, state = stage1
    no_psi = apply_overrides(cfg, {"model.physique": False})
    check_stage1(no_psi, state)                               # the same stage 1: accepted
    net = build_model(no_psi, tiny_data, init=state)
    assert net.physique is None
    got = net.state_dict()
    assert all(torch.equal(got[k], v) for k, v in state["model"].items() if not k.startswith("physique."))
    assert not any(k.startswith("physique.") for k in got)


def test_stage1_trains_psi_on_exact_skeletons(tiny_data, stage1):
    cfg, state = stage1
    net = build_model(stage1_config(cfg), tiny_data, init=state)
    fresh = build_model(stage1_config(cfg), tiny_data)
    batch = next(iter(torch.utils.data.DataLoader(tiny_data.val, batch_size=8)))
    with torch.no_grad():
        losses = [float(n.objective.supervised_physique(batch, n.physique.eval(), sigma2=cfg.loss.sigma2))
                  for n in (fresh, net)]
    assert losses[1] < 0.7 * losses[0], losses


def test_a_cached_stage1_is_reused_and_a_mismatched_one_refused(tmp_path, stage1, caplog):
    cfg, state = stage1
    path = save_checkpoint(tmp_path / f"stage1-{stage1_config(cfg).hash}.pt", state)
    with caplog.at_level(logging.INFO, logger="maskpose_core.train.two_stage"):
        got, where = ensure_stage1(cfg, tmp_path)          # no data is built: it is found
    assert where == path and "stage 1: reusing" in caplog.text
    assert all(torch.equal(v, got["model"][k]) for k, v in state["model"].items())
    wider = apply_overrides(cfg, {"model.width": 16})
    with pytest.raises(ValueError, match=r"model\.width: 8 \(need 16\)"):
        check_stage1(wider, state)
    save_checkpoint(tmp_path / f"stage1-{stage1_config(wider).hash}.pt", state)   # wrong file under its name
    with pytest.raises(ValueError, match=r"another config: model\.width"):
        ensure_stage1(wider, tmp_path)


def test_stage2_lowers_its_mask_loss_and_reads_no_target_label(tiny_data, stage1):
    """The target's train joints are NaN (all but the root the root protocol uses): stage 2
    still trains to finite losses, and its mask loss on a target batch goes down."""
    cfg, state = stage1
    cfg = apply_overrides(cfg, {"train.epochs": 4, "train.steps_per_epoch": 0, "loss.physique_warmup": 0.0})
    train = PackedSplit(tiny_data.train.folder, tiny_data.train.split).load_in_memory()
    for key in ("joints_cam_mm", "joints_world_mm", "joints_2d_norm"):
        train.arrays[key] = np.full_like(train.arrays[key], np.nan)
    data = dataclasses.replace(tiny_data, train=train, pseudo=tiny_data.train)
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=16)))
    batch = {k: v for k, v in batch.items() if not k.startswith("joints")}

    def mask_loss(net):
        with torch.no_grad():
            return float(net.eval()(batch, sigma2=cfg.loss.sigma2, physique_on=True)["loss"])

    before = mask_loss(build_model(cfg, data, init=state))
    reports = []
    metrics = fit(cfg, data, init=state, hooks=TrainHooks(report=reports.append))
    after = mask_loss(build_model(cfg, data, init=reports[-1].state))
    assert np.isfinite(metrics["train/loss"]) and metrics["train/loss_pseudo"] > 0
    assert after < before, (before, after)
    assert np.isfinite(metrics["val/mpjpe_mm"])


def test_stage2_refuses_to_start_without_the_pseudo_set(tiny_data, stage1):
    cfg, state = stage1
    with pytest.raises(ValueError, match="pseudo=True"):
        fit(cfg, tiny_data, init=state)


def test_masks_off_row_keeps_the_pseudo_stream(tiny_data, stage1):
    """'Stage 2, masks off' sees the same streams: only the pseudo term moves the weights."""
    cfg, state = stage1
    off = apply_overrides(cfg, {"loss.lambda_s": 0, "loss.lambda_p": 0, "loss.coverage_weight": 0,
                                "loss.extremity_weight": 0, "train.epochs": 1, "train.steps_per_epoch": 2})
    metrics = fit(off, _with_pseudo(tiny_data), init=state)
    assert metrics["train/loss_pseudo"] > 0 and metrics["train/loss_skeleton"] > 0
