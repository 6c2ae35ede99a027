"""model.depth_hypotheses: the top-K local peaks of the depth marginal (hand-derived), each
peak's windowed depth (a two-mode marginal gives both modes where the soft-argmax gives
their mean), gradients, the per-batch minimum in the training loss, the oracle protocol's
use of the hypotheses, and the config's checks."""
from __future__ import annotations

import pytest
import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.model.hypotheses import depth_hypotheses, min_over_hypotheses, peak_indices, window_bins
from maskpose_core.train.evaluate import evaluate
from maskpose_core.train.fit import build_model


def _grid(d: int) -> torch.Tensor:
    return (2.0 * torch.arange(d) + 1.0) / d - 1.0


def test_peaks_highest_first_then_the_highest_other_bins():
    pz = torch.tensor([[[0.1, 0.3, 0.1, 0.05, 0.25, 0.2]]])
    # local peaks: bin 1 (0.3) and bin 4 (0.25); no third peak, so the highest other bin: 5 (0.2)
    assert peak_indices(pz, 3).tolist() == [[[1, 4, 5]]]
    assert peak_indices(pz, 1).tolist() == [[[1]]]
    # an edge bin compares with its one neighbour
    assert peak_indices(torch.tensor([[[0.5, 0.2, 0.3]]]), 2).tolist() == [[[0, 2]]]
    with pytest.raises(ValueError, match="K depth hypotheses must be in 1..D = 3, got 4"):
        peak_indices(torch.tensor([[[0.5, 0.2, 0.3]]]), 4)


def test_window_is_the_authors_fraction_made_odd():
    assert window_bins(64) == 15 and window_bins(16) == 3 and window_bins(8) == 3


def test_two_modes_give_both_depths_where_the_soft_argmax_gives_their_mean():
    d = 16
    grid = _grid(d)
    pz = torch.zeros(1, 1, d)
    pz[0, 0, 2:5] = torch.tensor([0.15, 0.3, 0.15])      # mode at bin 3, mass 0.6
    pz[0, 0, 11:14] = torch.tensor([0.1, 0.2, 0.1])      # mode at bin 12, mass 0.4
    z = depth_hypotheses(pz, grid, 2)
    # the 3-bin window around each peak holds one symmetric mode: its mean is the peak's centre
    assert torch.allclose(z[0, 0], torch.stack([grid[3], grid[12]]), atol=1e-6)
    mean = float((pz * grid).sum())                     # 0.6 · grid[3] + 0.4 · grid[12]
    assert abs(mean - float(0.6 * grid[3] + 0.4 * grid[12])) < 1e-6
    assert grid[3] < mean < grid[12]                     # between the modes, on neither


def test_hypotheses_pass_gradient_to_the_logits():
    logits = torch.randn(2, 3, 16, requires_grad=True)
    z = depth_hypotheses(torch.softmax(logits, -1), _grid(16), 3)
    assert z.shape == (2, 3, 3) and bool(((z >= -1) & (z <= 1)).all())
    z.sum().backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) > 0


def test_min_over_hypotheses_keeps_the_smallest_with_its_graph():
    w = torch.tensor(1.0, requires_grad=True)
    loss, best = min_over_hypotheses([3 * w, 2 * w, 5 * w])
    assert best == 1 and float(loss.detach()) == 2.0
    loss.backward()
    assert float(w.grad) == 2.0


def _cfg(**over):
    return apply_overrides(profile_config("smoke"), {"model.depth_hypotheses": 3, "optim.batch_size": 4, **over})


def test_net_with_k_hypotheses_trains_on_the_best_pose_and_predicts_hypothesis_0(tiny_data):
    cfg = _cfg()
    net = build_model(cfg, tiny_data)
    batch = next(iter(torch.utils.data.DataLoader(tiny_data.train, batch_size=4)))
    batch = {k: v for k, v in batch.items() if k not in ("joints_cam_mm", "joints_world_mm", "joints_2d_norm")}
    with torch.no_grad():
        hyps, xy = net.predict_views(batch)
        assert len(hyps) == 3 and all(h.shape == hyps[0].shape for h in hyps)
        # only depth differs between hypotheses: the same 2D projection in the own view
        assert torch.allclose(hyps[1][..., :2] / hyps[1][..., 2:], hyps[0][..., :2] / hyps[0][..., 2:], atol=1e-4)
        each = [float(net._mask_terms(batch, h, xy, cfg.loss.sigma2, False)["loss"]) for h in hyps]
        out = net(batch, sigma2=cfg.loss.sigma2, physique_on=False)
    assert float(out["loss"]) == pytest.approx(min(each), rel=1e-6)
    assert torch.equal(out["joints_cam_mm"], hyps[0])
    metrics = evaluate(net, tiny_data.val, max_samples=8)
    for key in ("mpjpe_mm", "oracle_mpjpe_mm"):
        assert torch.isfinite(torch.tensor(metrics[key])), key


def test_k_is_checked_and_hash_neutral_at_one():
    base = profile_config("quick")
    assert apply_overrides(base, {"model.depth_hypotheses": 1}).hash == base.hash
    assert apply_overrides(base, {"model.depth_hypotheses": 3}).hash != base.hash
    with pytest.raises(ValueError, match=r"ModelConfig.depth_hypotheses \(K\) must be in 1..heatmap_depth \(16\), got 0"):
        apply_overrides(base, {"model.depth_hypotheses": 0})
