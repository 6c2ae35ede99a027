"""The inside term: the exact outside-distance map, hand-derived losses, gradient direction."""
import pytest
import torch

from maskpose_core.loss.mask_loss import extremity, inside, outside_distance, tip_weight

R = 32
PX = 2.0 / R   # one pixel in normalised crop units


def _left_half() -> torch.Tensor:
    """(1, R, R): foreground where x < 0 (columns 0..15)."""
    m = torch.zeros(1, R, R)
    m[..., : R // 2] = 1.0
    return m


def _centre(col: int) -> float:
    return (2 * col + 1) / R - 1.0


def test_outside_distance_of_a_half_plane():
    d = outside_distance(_left_half())[0]
    assert torch.all(d[:, : R // 2] == 0)
    # column j >= 16 lies (j - 15) pixels from column 15, the last foreground one
    for j in (16, 20, 31):
        assert torch.allclose(d[:, j], torch.full((R,), (j - 15) * PX))


def test_inside_is_zero_in_the_silhouette_and_the_distance_outside():
    dist = outside_distance(_left_half())
    seg = torch.tensor([[0, 1]])
    vertical = lambda x: torch.tensor([[[x, -0.5], [x, 0.5]]])          # noqa: E731
    assert inside(vertical(_centre(5)), seg, dist, 5).item() == 0.0
    assert inside(vertical(_centre(20)), seg, dist, 5).item() == pytest.approx(5 * PX, abs=1e-6)
    # beyond the crop: the border column's distance (16 px) plus the 0.5 past the edge
    assert inside(vertical(1.5), seg, dist, 5).item() == pytest.approx(16 * PX + 0.5, abs=1e-6)
    # a horizontal bone from column 5 to column 25: samples at columns 5, 10, 15, 20, 25
    horiz = torch.tensor([[[_centre(5), 0.0], [_centre(25), 0.0]]])
    assert inside(horiz, seg, dist, 5).item() == pytest.approx((5 + 10) * PX / 5, abs=1e-6)


def test_inside_gradient_pulls_the_bone_into_the_mask():
    dist = outside_distance(_left_half())
    pts = torch.tensor([[[_centre(20) + 0.01, -0.5], [_centre(20) + 0.01, 0.5]]], requires_grad=True)
    inside(pts, torch.tensor([[0, 1]]), dist, 5).backward()
    assert torch.all(pts.grad[0, :, 0] > 0)          # descent moves x left, into the silhouette
    assert torch.allclose(pts.grad[0, :, 1], torch.zeros(2))


def test_outside_distance_refuses_an_empty_mask():
    with pytest.raises(ValueError, match="no foreground"):
        outside_distance(torch.zeros(2, R, R))


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
