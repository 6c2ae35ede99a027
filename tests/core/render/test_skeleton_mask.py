"""Skeleton mask: hand values, fast == reference, gradients finite and non-zero."""
import math

import pytest
import torch

from maskpose_core.render.skeleton_mask import (SkeletonMaskRenderer, pixel_centres, render_segments,
                                                render_segments_loop, render_skeleton, segment_sigma2)
from maskpose_core.skeleton import DELTA_LINKS, TREE_BONES, landmark_segments


def test_pixel_centres_span_the_crop():
    # 4 px: centres at (2i+1)/4 - 1 = -0.75, -0.25, 0.25, 0.75
    assert torch.allclose(pixel_centres(4), torch.tensor([-0.75, -0.25, 0.25, 0.75]))


def test_single_bone_hand_values():
    # bone from (-0.5, 0) to (0.5, 0) -> M(p) = exp(-d²/σ²), d = distance to the segment
    pts = torch.tensor([[[-0.5, 0.0], [0.5, 0.0]]])
    segs = torch.tensor([[0, 1]])
    s2 = torch.tensor([0.02])
    size = 8   # centres ±0.125, ±0.375, ±0.625, ±0.875
    m = render_skeleton(pts, segs, s2, size)[0]
    g = pixel_centres(size)
    # pixel (x=0.125, y=0.125): inside the segment's span, d = 0.125
    assert m[4, 4].item() == pytest.approx(math.exp(-0.125 ** 2 / 0.02), rel=1e-5)
    # pixel (x=0.875, y=0.375): beyond the end point (0.5, 0): d² = 0.375² + 0.375²
    assert m[5, 7].item() == pytest.approx(math.exp(-(0.375 ** 2 * 2) / 0.02), rel=1e-5)
    assert g[4] == pytest.approx(0.125)


@pytest.mark.parametrize("combine", ["max", "sum"])
def test_fast_matches_reference(combine):
    torch.manual_seed(0)
    pts = torch.rand(6, 17, 2) * 1.6 - 0.8
    segs = torch.tensor(landmark_segments(17, delta=True))
    s2 = segment_sigma2(17, delta=True, sigma2=0.02, arm_factor=0.5)
    ref = render_segments_loop(pts, segs, s2, 16, combine=combine)
    assert torch.allclose(render_segments(pts, segs, s2, 16, combine=combine), ref, atol=1e-5)
    assert torch.allclose(render_skeleton(pts, segs, s2, 16, combine=combine), ref, atol=1e-5)


@pytest.mark.parametrize("combine", ["max", "sum"])
def test_gradients_match_autograd_and_are_finite_nonzero(combine):
    torch.manual_seed(1)
    pts = (torch.rand(3, 17, 2) * 1.4 - 0.7).double()
    segs = torch.tensor(landmark_segments(17, delta=True))
    s2 = segment_sigma2(17, delta=True, sigma2=0.03, arm_factor=0.5).double()
    w = torch.rand(3, 12, 12, dtype=torch.double)
    a, b = pts.clone().requires_grad_(True), pts.clone().requires_grad_(True)
    (render_segments(a, segs, s2, 12, combine=combine) * w).sum().backward()
    (render_skeleton(b, segs, s2, 12, combine=combine) * w).sum().backward()
    assert torch.isfinite(b.grad).all() and b.grad.abs().sum() > 0
    assert torch.allclose(a.grad, b.grad, rtol=1e-6, atol=1e-8)


def test_delta_adds_the_torso_links_and_arms_are_thinner():
    full = SkeletonMaskRenderer(num_landmarks=17, delta=True, size=8, combine="max", arm_sigma_factor=0.5)
    tree = SkeletonMaskRenderer(num_landmarks=17, delta=False, size=8, combine="max", arm_sigma_factor=0.5)
    assert full.segments.shape[0] == len(TREE_BONES) + len(DELTA_LINKS) == 24
    assert tree.segments.shape[0] == 16
    assert sorted(set(full.arm_factor.tolist())) == [0.5, 1.0]
    assert int((full.arm_factor == 0.5).sum()) == 4      # 2 upper arms + 2 forearms


def test_landmark_chains_for_spp():
    segs = landmark_segments(17 + 16 * 2, delta=False)
    assert len(segs) == 16 * 3                            # each bone split in 3 pieces
    assert segs[0] == (0, 17) and segs[1] == (17, 18) and segs[2] == (18, 1)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="points_norm"):
        render_skeleton(torch.zeros(2, 17, 3), torch.tensor([[0, 1]]), torch.tensor([0.1]), 8)
    with pytest.raises(ValueError, match="combine"):
        render_skeleton(torch.zeros(2, 17, 2), torch.tensor([[0, 1]]), torch.tensor([0.1]), 8, combine="mean")


def test_joint_primitive_draws_gaussians_at_the_joints():
    r = SkeletonMaskRenderer(num_landmarks=17, delta=True, size=8, combine="max", arm_sigma_factor=1.0,
                             primitive="joints")
    assert r.segments.shape == (17, 2) and bool((r.segments[:, 0] == r.segments[:, 1]).all())
    pts = torch.zeros(1, 17, 2)
    pts[0, :, 0] = 0.125                                   # every joint at pixel centre (x=0.125, y≈0)
    pts[0, :, 1] = 0.125
    m = r(pts, 0.02)[0]
    assert m[4, 4].item() == pytest.approx(1.0)            # d = 0 at the joint
    assert m[4, 5].item() == pytest.approx(math.exp(-0.25 ** 2 / 0.02), rel=1e-5)


def test_nearest_distance_hand_values_and_gradients():
    # bone (-0.5, 0)-(0.5, 0), 8 px: pixel (x=0.125, y=0.375) is 0.375 from it (inside its span);
    # pixel (x=0.875, y=-0.125) lies beyond the end (0.5, 0): d² = 0.375² + 0.125²
    r = SkeletonMaskRenderer(num_landmarks=17, delta=False, size=8, combine="max", arm_sigma_factor=0.5)
    pts = torch.zeros(1, 17, 2)
    pts[0, :, 0] = -0.5                                    # every bone degenerate at (-0.5, 0) ...
    pts[0, 1] = torch.tensor([0.5, 0.0])                   # ... but pelvis -> r_hip
    d2 = r.nearest_dist2(pts)[0]
    assert d2[5, 4].item() == pytest.approx(0.375 ** 2, rel=1e-5)
    assert d2[3, 7].item() == pytest.approx(0.375 ** 2 + 0.125 ** 2, rel=1e-5)
    # gradient of Σ w·d² equals autograd of the straightforward distance (σ² = 1 per segment)
    torch.manual_seed(2)
    p = (torch.rand(2, 17, 2) * 1.4 - 0.7).double()
    w = torch.rand(2, 8, 8, dtype=torch.double)
    a, b = p.clone().requires_grad_(True), p.clone().requires_grad_(True)
    ones = torch.ones(r.segments.shape[0], dtype=torch.double)
    ref = -torch.log(render_segments(a, r.segments, ones, 8, combine="max"))      # exp(-d²) -> d²
    (ref * w).sum().backward()
    (r.nearest_dist2(b) * w).sum().backward()
    assert torch.isfinite(b.grad).all() and b.grad.abs().sum() > 0
    assert torch.allclose(a.grad, b.grad, rtol=1e-6, atol=1e-8)
