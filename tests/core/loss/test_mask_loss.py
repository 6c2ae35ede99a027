"""The extremity term (silhouette tips from G, the distance to the nearest limb end, its gradient)."""
import pytest
import torch

from maskpose_core.loss.mask_loss import extremity, tip_weight

R = 32
PX = 2.0 / R   # one pixel in normalised crop units


def _centre(col: int) -> float:
    return (2 * col + 1) / R - 1.0


def test_tip_weight_rescales_g_over_the_inside_pixels():
    mask = torch.tensor([[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])
    geo = torch.tensor([[[2.0, 4.0, 99.0], [6.0, 8.0, 99.0], [1.0, 1.0, 1.0]]])   # outside values ignored
    w = tip_weight(mask, geo, 0.6)[0]
    # t = 0, 1/3, 2/3, 1 inside -> (t - 0.6) / 0.4 clipped at 0
    expected = torch.tensor([[0.0, 0.0, 0.0], [(2 / 3 - 0.6) / 0.4, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(w, expected, atol=1e-6)
    assert torch.all(tip_weight(mask, torch.ones_like(geo), 0.6) == 0)          # constant G: no tips


def test_extremity_is_the_weighted_distance_to_the_nearest_limb_end():
    tips = torch.zeros(1, R, R)
    tips[0, 4, 20] = 1.0                                                          # one tip pixel
    tip = torch.tensor([_centre(20), _centre(4)])
    near, far = tip + torch.tensor([3 * PX, 4 * PX]), tip + torch.tensor([0.0, 10 * PX])
    eps = 0.02
    loss = extremity(torch.stack([far, near])[None], tips, eps)
    assert loss.item() == pytest.approx(((5 * PX) ** 2 + eps ** 2) ** 0.5, abs=1e-6)
    pts = torch.stack([far, near])[None].clone().requires_grad_(True)
    extremity(pts, tips, eps).backward()
    assert torch.all(pts.grad[0, 0] == 0)                 # only the nearest limb end is pulled
    assert torch.all(pts.grad[0, 1] > 0)                  # ... towards the tip (up and left)
    assert extremity(pts.detach(), torch.zeros(1, R, R), eps).item() == 0.0


def test_the_outside_share_judges_each_bone_by_its_own_mass():
    # mask = the left half of the crop (x < 0). A bone along y at x = −0.5 lies inside (share ≈ 0),
    # the same bone at x = +0.5 lies outside (≈ 1), and a bone across x = 0 has half of itself
    # outside whatever its length (0.5 for a long and for a short one)
    from maskpose_core.loss.mask_loss import outside_share
    from maskpose_core.render.skeleton_mask import render_segments, pixel_centres
    size = 64
    x = pixel_centres(size)
    mask = (x[None, :] < 0).float().expand(size, size)[None]
    seg, s2 = torch.tensor([[0, 1]]), torch.tensor([1e-3])

    def share(a, b):
        pts = torch.tensor([[a, b]], dtype=torch.float32)                    # (1, 2, 2)
        return float(outside_share(mask, render_segments(pts, seg, s2, size, combine="none"), torch.ones_like(mask)))
    assert share([-0.5, -0.5], [-0.5, 0.5]) < 1e-3
    assert share([0.5, -0.5], [0.5, 0.5]) > 0.999
    assert abs(share([-0.6, 0.0], [0.6, 0.0]) - 0.5) < 0.02 and abs(share([-0.2, 0.0], [0.2, 0.0]) - 0.5) < 0.02
    # its gradient pulls a bone that sticks out back inside: moving the outer end left lowers it
    pts = torch.tensor([[[-0.5, 0.0], [0.3, 0.0]]], requires_grad=True)
    outside_share(mask, render_segments(pts, seg, s2, size, combine="none"), torch.ones_like(mask)).backward()
    assert pts.grad[0, 1, 0] > 0                                              # descent moves x of the end left
