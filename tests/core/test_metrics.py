"""Metrics: hand-derived values (expected numbers worked out in the comments)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from maskpose_core import metrics as M
from maskpose_core.skeleton import JOINT_NAMES, NUM_JOINTS

J = NUM_JOINTS
PER_SAMPLE_3D = (M.mpjpe, M.mpjpe_abs, M.n_mpjpe, M.p_mpjpe)
FLIP_3D = (M.mpjpe_flip, M.mpjpe_abs_flip, M.n_mpjpe_flip, M.p_mpjpe_flip)


def symmetric_pose() -> torch.Tensor:
    """(J, 3) mm, integer coordinates: right joints at x = -100, left at x = +100, centre
    joints at x = 0; mirror-symmetric about x = 0 but not planar (z varies), pelvis at 0."""
    y = {"pelvis": 0, "hip": 0, "knee": -400, "ankle": -800, "spine": 200, "thorax": 400,
         "nose": 500, "head_top": 600, "shoulder": 400, "elbow": 150, "wrist": -100}
    z = {"nose": 100, "wrist": 200, "ankle": 50}
    pose = torch.zeros(J, 3, dtype=torch.float64)
    for j, name in enumerate(JOINT_NAMES):
        part = name[2:] if name[:2] in ("l_", "r_") else name
        pose[j] = torch.tensor([100.0 if name.startswith("l_") else -100.0 if name.startswith("r_") else 0.0,
                                y[part], z.get(part, 0)])
    return pose


def random_poses(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, J, 3, generator=g, dtype=torch.float64) * 300.0 + torch.tensor([0, 0, 4000.0])


def rotation(axis, angle_rad: float) -> torch.Tensor:
    a = torch.tensor(axis, dtype=torch.float64)
    a = a / a.norm()
    K = torch.tensor([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]], dtype=torch.float64)
    return torch.linalg.matrix_exp(angle_rad * K)


def test_identical_gives_zero_error_and_perfect_scores():
    gt = random_poses(5)
    for fn in PER_SAMPLE_3D + FLIP_3D:
        assert torch.allclose(fn(gt, gt), torch.zeros(5, dtype=torch.float64), atol=1e-6), fn.__name__
    assert torch.equal(M.pck(gt, gt), torch.full((5,), 100.0, dtype=torch.float64))
    # Error 0 is correct at every threshold except t = 0 (strict "<", official 3DHP code):
    # AUC = 30/31 = 96.774 %.
    assert torch.allclose(M.auc(gt, gt), torch.full((5,), 3000.0 / 31, dtype=torch.float64))
    xy = gt[..., :2] / 5000.0
    assert torch.equal(M.error_2d_pct(xy, xy), torch.zeros(5, dtype=torch.float64))
    out = M.compute_metrics(gt, gt, xy, xy, views=5)
    assert set(out) == set(M.METRIC_KEYS)
    for key in ("mpjpe_mm", "mpjpe_flip_mm", "mpjpe_abs_mm", "n_mpjpe_mm", "p_mpjpe_mm", "err2d_pct",
                "ambiguity_ratio_pct", "lr_swapped_pct"):
        assert out[key] == pytest.approx(0.0, abs=1e-6), key


def test_translated_copy():
    # t = (30, 40, 0) mm: |t| = 50 mm (3-4-5); root alignment removes it entirely.
    gt = random_poses(4)
    pred = gt + torch.tensor([30.0, 40.0, 0.0], dtype=torch.float64)
    assert torch.allclose(M.mpjpe(pred, gt), torch.zeros(4, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(M.mpjpe_abs(pred, gt), torch.full((4,), 50.0, dtype=torch.float64))
    assert M.compute_metrics(pred, gt)["mpjpe_abs_mm"] == pytest.approx(50.0)


def test_similarity_copy_has_zero_p_mpjpe_and_scaled_copy_zero_n_mpjpe():
    gt = random_poses(6, seed=1)
    R = rotation((1.0, 2.0, -0.5), 1.1)
    pred = 1.7 * gt @ R.T + torch.tensor([100.0, -250.0, 3000.0], dtype=torch.float64)
    assert float(M.p_mpjpe(pred, gt).max()) <= 1e-6
    assert float(M.mpjpe(pred, gt).min()) > 10.0  # rotation and scale are real errors for MPJPE
    # A copy scaled about its root: N-MPJPE's s = <p,g>/<p,p> = 1/0.6 undoes it exactly.
    root = gt[:, :1]
    scaled = root + 0.6 * (gt - root)
    assert float(M.n_mpjpe(scaled, gt).max()) <= 1e-9
    assert float(M.mpjpe(scaled, gt).min()) > 10.0


def _p_mpjpe_reference(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """VideoPose3D common/loss.py::p_mpjpe, re-derived in numpy, per sample."""
    mu_x, mu_y = gt.mean(1, keepdims=True), pred.mean(1, keepdims=True)
    x0, y0 = gt - mu_x, pred - mu_y
    nx = np.sqrt((x0 ** 2).sum((1, 2), keepdims=True))
    ny = np.sqrt((y0 ** 2).sum((1, 2), keepdims=True))
    x0, y0 = x0 / nx, y0 / ny
    U, s, Vt = np.linalg.svd(np.matmul(x0.transpose(0, 2, 1), y0))
    V = Vt.transpose(0, 2, 1)
    sign = np.sign(np.expand_dims(np.linalg.det(np.matmul(V, U.transpose(0, 2, 1))), 1))
    V[:, :, -1] *= sign
    s[:, -1] *= sign.flatten()
    R = np.matmul(V, U.transpose(0, 2, 1))
    a = np.expand_dims(np.sum(s, axis=1, keepdims=True), 2) * nx / ny
    t = mu_x - a * np.matmul(mu_y, R)
    aligned = a * np.matmul(pred, R) + t
    return np.linalg.norm(aligned - gt, axis=-1).mean(-1)


def test_p_mpjpe_matches_videopose3d_including_reflections():
    gt = random_poses(8, seed=2)
    pred = random_poses(8, seed=3)
    pred[4:] = gt[4:] * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)  # mirror images
    ours = M.p_mpjpe(pred, gt).numpy()
    np.testing.assert_allclose(ours, _p_mpjpe_reference(pred.numpy(), gt.numpy()), rtol=1e-9, atol=1e-9)
    # A mirror image is not a rotation: the proper-rotation constraint leaves an error.
    assert ours[4:].min() > 1.0


def test_n_mpjpe_is_optimal_over_scales_and_handles_a_collapsed_prediction():
    gt, pred = random_poses(3, seed=4), random_poses(3, seed=5)
    n = M.n_mpjpe(pred, gt)
    root_p, root_g = pred[:, :1], gt[:, :1]
    for s in (0.5, 0.9, 1.0, 1.1, 2.0):
        assert (n <= M.mpjpe(root_g + s * (pred - root_p), gt) + 1e-9).all()
    # All joints at the root: every scale is equally good, s = 0, error = mean |g - g_root|.
    collapsed = pred[:, :1].expand(-1, J, -1)
    expected = (gt - root_g).norm(dim=-1).mean(-1)
    assert torch.allclose(M.n_mpjpe(collapsed, gt), expected)
    assert torch.allclose(M.p_mpjpe(collapsed, gt), (gt - gt.mean(1, keepdim=True)).norm(dim=-1).mean(-1))


def test_left_right_swap():
    gt = symmetric_pose()[None]
    swapped = M.flip_pose(gt)
    # Each of the 12 left/right joints lands on its partner: (±100) -> (∓100), 200 mm off;
    # the 5 centre joints are exact. MPJPE = 12 · 200 / 17 = 2400 / 17 = 141.18 mm.
    assert M.mpjpe(swapped, gt).item() == pytest.approx(2400.0 / 17)
    assert M.mpjpe_abs(swapped, gt).item() == pytest.approx(2400.0 / 17)
    assert M.p_mpjpe(swapped, gt).item() > 1.0  # a mirror image of a non-planar pose
    for fn in FLIP_3D:
        assert fn(swapped, gt).item() == pytest.approx(0.0, abs=1e-6), fn.__name__
    # PCK150: the 12 swapped joints are 200 mm off -> 5/17 correct; † -> 100 %.
    assert M.pck(swapped, gt).item() == pytest.approx(500.0 / 17)
    assert M.pck_flip(swapped, gt).item() == 100.0
    assert M.auc_flip(swapped, gt).item() == pytest.approx(3000.0 / 31)
    out = M.compute_metrics(swapped, gt)
    assert out["lr_swapped_pct"] == 100.0
    assert out["mpjpe_mm"] == pytest.approx(2400.0 / 17) and out["mpjpe_flip_mm"] == pytest.approx(0.0, abs=1e-6)
    # 2D: swapped joints are 200 mm / 1000 = 0.2 units off -> 12·0.2/17 units = 50·2.4/17 %.
    xy = gt[..., :2] / 1000.0
    assert M.error_2d_pct(M.flip_pose(xy), xy).item() == pytest.approx(120.0 / 17)
    assert M.error_2d_pct_flip(M.flip_pose(xy), xy).item() == pytest.approx(0.0, abs=1e-12)


def test_pck_and_auc_on_a_constructed_error_pattern():
    # Every non-root joint exactly 100 mm off (along ±x, ±y, ±z in turn), the root exact.
    gt = symmetric_pose()[None]
    dirs = torch.tensor([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
                        dtype=torch.float64)
    pred = gt.clone()
    pred[0, 1:] += 100.0 * dirs[torch.arange(J - 1) % 6]
    assert M.mpjpe(pred, gt).item() == pytest.approx(1600.0 / 17)  # 16 · 100 / 17
    assert M.pck(pred, gt).item() == 100.0                         # 100 < 150 for all
    assert M.pck(pred, gt, 100.0).item() == pytest.approx(100.0 / 17)  # strict: only the root
    # AUC thresholds 0, 5, ..., 150: the root (error 0) is correct at 30 of 31 (not at 0);
    # the 16 others (error 100) at 105..150, 10 of 31. AUC = (30 + 16·10) / (17·31)
    # = 190/527 = 36.053 %. Without the root (3DHP's 14 joints): 10/31 = 32.258 %.
    assert M.auc(pred, gt).item() == pytest.approx(19000.0 / 527)
    assert M.auc(pred, gt, joints=M.MPI_INF_3DHP_PCK_JOINTS).item() == pytest.approx(1000.0 / 31)
    out = M.compute_metrics(pred, gt)
    assert out["pck150_pct"] == 100.0 and out["auc_pct"] == pytest.approx(19000.0 / 527)


def _views(gt: torch.Tensor, swapped_views) -> torch.Tensor:
    """(C, J, 3) predictions of one moment: GT, or its left-right relabelled copy in the given views."""
    return torch.stack([M.flip_pose(gt) if c in swapped_views else gt for c in range(4)])


def test_ambiguity_ratio_four_views():
    gt = symmetric_pose()
    gt_world = torch.stack([gt, gt + 500.0])  # (M=2, J, 3)
    # Moment 1: view 0 swapped -> k = 1 for all 12 joints -> min(1, 3)/4 = 1/4.
    # Moment 2: views 0, 1 swapped -> k = 2 -> min(2, 2)/4 = 2/4. AR = (25 + 50)/2 = 37.5 %.
    pred_world = torch.stack([_views(gt_world[0], {0}), _views(gt_world[1], {0, 1})])
    assert torch.allclose(M.ambiguity_ratio(pred_world, gt_world), torch.tensor([25.0, 50.0], dtype=torch.float64))
    assert torch.equal(M.lr_swap_counts(pred_world, gt_world)[1], torch.full((12,), 2))
    # All four swapped: k = 4, min(4, 0) = 0 -> AR 0 %; three swapped: min(3, 1)/4 = 25 %.
    assert M.ambiguity_ratio(_views(gt, {0, 1, 2, 3})[None], gt[None]).item() == 0.0
    assert M.ambiguity_ratio(_views(gt, {0, 1, 3})[None], gt[None]).item() == 25.0
    # Only the knees (pair (2, 5)) swapped in view 0: 2 of 12 joints at 1/4 -> AR = 100/24 %.
    one = torch.stack([gt] * 4)
    one[0, [2, 5]] = gt[[5, 2]]
    assert M.ambiguity_ratio(one[None], gt[None]).item() == pytest.approx(100.0 / 24)


def test_ambiguity_ratio_from_camera_frames_equals_world():
    gt = symmetric_pose()
    gt_world = torch.stack([gt, gt + 500.0])
    pred_world = torch.stack([_views(gt_world[0], {0}), _views(gt_world[1], {0, 1})])
    Rs = [rotation((0.0, 1.0, 0.0), 1.5 * c) for c in range(4)]
    t = torch.tensor([0.0, 0.0, 5000.0], dtype=torch.float64)
    to_cam = lambda x, c: x @ Rs[c].T + t  # noqa: E731
    pred_cam = torch.stack([to_cam(pred_world[m, c], c) for m in range(2) for c in range(4)])  # (8, J, 3)
    gt_cam = torch.stack([to_cam(gt_world[m], c) for m in range(2) for c in range(4)])
    by_views = M.compute_metrics(pred_cam, gt_cam, views=4)["ambiguity_ratio_pct"]
    by_world = M.compute_metrics(pred_cam, gt_cam, pred_world_mm=pred_world, gt_world_mm=gt_world)
    assert by_views == pytest.approx(37.5) and by_world["ambiguity_ratio_pct"] == pytest.approx(37.5)
    assert by_world["lr_swapped_pct"] == pytest.approx(300.0 / 8)  # 3 of 8 samples swapped


def test_mean_pose_baseline():
    a, b = symmetric_pose(), 2.0 * symmetric_pose()
    train = torch.stack([a + 100.0, b - 50.0])           # roots at +100 / -50, poses a and 2a
    mean = M.mean_pose_baseline(train)
    assert torch.allclose(mean, 1.5 * symmetric_pose())  # (a + 2a) / 2, root-relative
    test = torch.stack([1.5 * symmetric_pose() + torch.tensor([10.0, 20.0, 3000.0], dtype=torch.float64)])
    out = M.evaluate_mean_pose(mean, test)
    assert out["mpjpe_mm"] == pytest.approx(0.0, abs=1e-9) and out["mpjpe_abs_mm"] == pytest.approx(0.0, abs=1e-9)
    preds = M.mean_pose_predictions(mean, test)
    assert torch.allclose(preds[:, 0], test[:, 0])


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(4, J, 2), r"pred: expected shape \(B, J, 3\), got \(4, 17, 2\)"),
    (torch.zeros(J, 3), r"pred: expected shape \(B, J, 3\), got \(17, 3\)"),
])
def test_shape_errors_name_the_argument(bad, message):
    with pytest.raises(ValueError, match=message):
        M.mpjpe(bad, torch.zeros(4, J, 3))


def test_input_validation():
    gt = random_poses(2)
    nan = gt.clone()
    nan[1, 3, 0] = float("nan")
    with pytest.raises(ValueError, match=r"gt: 1 non-finite value\(s\)"):
        M.p_mpjpe(gt, nan)
    with pytest.raises(ValueError, match="same shape"):
        M.mpjpe(gt, random_poses(3))
    with pytest.raises(ValueError, match=r"pred_cam_mm: expected shape \(N, 17, 3\)"):
        M.compute_metrics(gt[:, :16], gt[:, :16])
    with pytest.raises(ValueError, match="views"):
        M.compute_metrics(gt, gt, views=3)
    with pytest.raises(ValueError, match="pred_2d_norm and gt_2d_norm"):
        M.compute_metrics(gt, gt, pred_2d_norm=gt[..., :2])


def test_metrics_accept_numpy_and_float32():
    gt = random_poses(3)
    out = M.compute_metrics(gt.numpy().astype(np.float32), gt.numpy())
    assert out["mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
    assert M.average(M.mpjpe, gt + 1.0, gt) == pytest.approx(0.0, abs=1e-9)
