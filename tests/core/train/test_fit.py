"""fit / evaluate / checkpoint: the loss goes down, resume is exact, bad input is refused."""
import dataclasses

import pytest
import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from maskpose_core.train.evaluate import evaluate
from maskpose_core.train.fit import build_model, fit
from maskpose_core.train.hooks import TrainHooks


def _cfg(**over):
    base = {"train.epochs": 2, "train.steps_per_epoch": 3, "optim.batch_size": 8, "train.val_samples": 8,
            "train.figure_samples": 2}
    return apply_overrides(profile_config("smoke"), {**base, **over})


def _run(cfg, data, resume=None):
    reports = []
    metrics = fit(cfg, data, hooks=TrainHooks(report=reports.append), resume=resume)
    return metrics, reports


def test_short_fit_lowers_the_mask_loss(tiny_data):
    # 6 epochs × 6 steps of 8 moments (the 48-moment tiny set), skeleton term only in play
    cfg = _cfg(**{"train.epochs": 6, "train.steps_per_epoch": 0, "optim.lr": 1e-3, "loss.physique_warmup": 1.0})
    net = build_model(cfg, tiny_data)
    batch = next(iter(torch.utils.data.DataLoader(tiny_data.train, batch_size=16)))
    with torch.no_grad():
        before = float(net(batch, sigma2=cfg.loss.sigma2, physique_on=False)["loss_skeleton"])
    _, reports = _run(cfg, tiny_data)
    net.load_state_dict(reports[-1].state["model"])
    with torch.no_grad():
        after = float(net(batch, sigma2=cfg.loss.sigma2, physique_on=False)["loss_skeleton"])
    assert after < 0.9 * before, (before, after)


def test_report_every_epoch_with_metrics_state_and_figure(tiny_data):
    metrics, reports = _run(_cfg(), tiny_data)
    assert [r.epoch for r in reports] == [0, 1] and reports[-1].is_last and not reports[0].is_last
    for key in ("train/loss", "train/spread_mm", "val/mpjpe_mm", "val/mpjpe_flip_mm", "val/p_mpjpe_mm",
                "val/ambiguity_ratio_pct", "val/mask_iou", "train/samples_per_s"):
        assert key in metrics and metrics[key] == metrics[key], key      # present and not NaN
    assert reports[-1].figure.ndim == 3 and reports[-1].figure.dtype.name == "uint8"
    assert all(r.figure is not None and r.figure.ndim == 3 for r in reports)   # every epoch: watchable


def test_resume_from_epoch_checkpoint_equals_uninterrupted_run(tiny_data, tmp_path):
    cfg = _cfg()
    full, reports = _run(cfg, tiny_data)
    path = save_checkpoint(tmp_path / "epoch0.pt", reports[0].state)
    resumed, resumed_reports = _run(cfg, tiny_data, resume=load_checkpoint(path))
    assert [r.epoch for r in resumed_reports] == [1]
    for k, v in reports[-1].state["model"].items():
        assert torch.equal(v, resumed_reports[-1].state["model"][k]), k
    assert resumed["val/mpjpe_mm"] == full["val/mpjpe_mm"]


def test_checkpoint_round_trip_gives_identical_eval(tiny_data, tmp_path):
    cfg = _cfg(**{"train.epochs": 1})
    _, reports = _run(cfg, tiny_data)
    path = save_checkpoint(tmp_path / "final.pt", reports[-1].state)
    net, cfg2 = model_from_checkpoint(load_checkpoint(path))
    assert cfg2 == cfg
    original = build_model(cfg, tiny_data)
    original.load_state_dict(reports[-1].state["model"])
    assert evaluate(net, tiny_data.val) == evaluate(original, tiny_data.val)


def test_checkpoint_from_another_config_and_corrupt_file(tiny_data, tmp_path):
    cfg = _cfg(**{"train.epochs": 1})
    _, reports = _run(cfg, tiny_data)
    state = reports[-1].state
    other = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, heatmap_depth=4))
    with pytest.raises(ValueError, match="model config"):
        model_from_checkpoint(state, expect=other)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_non_finite_loss_names_step_and_terms(tiny_data):
    poisoned = tiny_data.train.arrays["geodesic"].copy()
    poisoned[:] = float("nan")
    saved = tiny_data.train.arrays["geodesic"]
    tiny_data.train.arrays["geodesic"] = poisoned
    try:
        with pytest.raises(FloatingPointError, match=r"step 0.*loss_skeleton"):
            fit(_cfg(), tiny_data)
    finally:
        tiny_data.train.arrays["geodesic"] = saved


def test_supervised_reference_needs_and_uses_labels(tiny_data):
    metrics, _ = _run(_cfg(**{"loss.mode": "supervised_reference"}), tiny_data)
    assert "train/loss_supervised" in metrics and "train/loss_skeleton" not in metrics


def test_supervised_reference_mask_iou_is_the_skeleton_masks(tiny_data):
    """ψ is never trained in the reference: its mask IoU is the skeleton mask's, not ψ's noise."""
    cfg = _cfg(**{"loss.mode": "supervised_reference"})
    net = build_model(cfg, tiny_data)
    with_psi = evaluate(net, tiny_data.val)["mask_iou"]
    net.physique = None
    assert with_psi == evaluate(net, tiny_data.val)["mask_iou"] and with_psi > 0.05


def test_image_size_mismatch_is_refused(tiny_data):
    with pytest.raises(ValueError, match="image_size"):
        fit(_cfg(**{"data.image_size": 64}), tiny_data)
