"""The authors' oracle-assisted protocol on hand-built examples (values derived in comments)."""
import pytest
import torch

from maskpose_core import metrics as M
from maskpose_core.metrics_oracle import oracle_hypothesis, oracle_metrics, oracle_swap

L_WRIST, R_WRIST = 13, 16


def _wrists(left_x: float, right_x: float, scale: float) -> torch.Tensor:
    """(1, 17, 2 or 3): every joint at the origin but the wrists at x = ±…"""
    pose = torch.zeros(1, 17, 3, dtype=torch.float64)
    pose[0, L_WRIST, 0], pose[0, R_WRIST, 0] = left_x * scale, right_x * scale
    return pose


def test_a_swapped_pair_of_wrists_is_undone_per_joint():
    gt3, pred3 = _wrists(1, -1, 300.0), _wrists(-1, 1, 300.0)     # wrists at ±300 mm, swapped
    gt2, pred2 = _wrists(1, -1, 0.5)[..., :2], _wrists(-1, 1, 0.5)[..., :2]
    # strict: the two wrists are 600 mm off each, over 17 joints -> 1200 / 17 = 70.59 mm
    assert M.average(M.mpjpe, pred3, gt3) == pytest.approx(1200 / 17)
    p3, p2, took = oracle_swap(pred3, pred2, gt2)
    # joint 13: own L1 |-0.5 - 0.5| = 1.0, partner's |0.5 - 0.5| = 0 -> takes it; same for 16;
    # every other pair ties at 0 (strict <): kept
    assert took[0].nonzero().flatten().tolist() == [L_WRIST, R_WRIST]
    assert torch.equal(p3, gt3) and torch.equal(p2, gt2)
    out = oracle_metrics(pred3, gt3, pred2, gt2)
    assert out["oracle_mpjpe_mm"] == 0.0 and out["oracle_error_2d_pct"] == 0.0
    assert out["oracle_swapped_pct"] == pytest.approx(100 * 2 / 17)


def test_each_joint_decides_alone():
    """Truth: left wrist x = 0.5, right -0.5. Predicted: left 1.5, right 0.4. The left wrist's
    own L1 is 1.0, its partner's prediction 0.1 away: it takes it. The right wrist's own is
    0.9, the partner's 2.0: it keeps its own. Both end at 0.4 (no pair constraint)."""
    gt2 = _wrists(1, -1, 0.5)[..., :2]
    pred2 = _wrists(3, 0.8, 0.5)[..., :2]
    _, p2, took = oracle_swap(_wrists(3, 0.8, 300.0), pred2, gt2)
    assert took[0].nonzero().flatten().tolist() == [L_WRIST]
    assert p2[0, L_WRIST, 0] == p2[0, R_WRIST, 0] == pytest.approx(0.4)


def test_the_closest_hypothesis_is_taken_per_joint():
    gt = torch.randn(1, 17, 3, dtype=torch.float64) * 200
    gt[:, 0] = 0.0
    h0, h1 = gt.clone(), gt.clone()
    h0[0, 5, 2] += 100.0           # hypothesis 0: left knee 100 mm too deep
    h1[0, 6, 2] -= 50.0            # hypothesis 1: left ankle 50 mm too close
    chosen, idx = oracle_hypothesis(torch.stack([h0, h1], dim=1), gt)
    # per joint: the knee from hypothesis 1, the ankle from hypothesis 0 -> the truth itself
    assert idx[0, 5] == 1 and idx[0, 6] == 0 and torch.equal(chosen, gt)
    assert M.average(M.mpjpe, h0, gt) == pytest.approx(100 / 17)
    assert oracle_metrics(h0, gt, gt[..., :2], gt[..., :2], hypotheses_3d=torch.stack([h0, h1], 1))[
        "oracle_mpjpe_mm"] == 0.0


def test_the_oracle_needs_labels():
    nan = torch.full((1, 17, 3), float("nan"), dtype=torch.float64)
    with pytest.raises(ValueError, match="needs ground-truth"):
        oracle_metrics(torch.zeros(1, 17, 3), nan, torch.zeros(1, 17, 2), nan[..., :2])
