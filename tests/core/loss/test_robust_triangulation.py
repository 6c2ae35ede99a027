"""The robust triangulation target: a hand-built pose seen by 4 cameras is recovered when views
swap left and right (whole views or single limbs) and when one view's joint is far off; the
plain DLT is not. The loss is 0 at that pose, and its aligned form ignores a rigid motion."""
import torch

from maskpose_core.geometry import look_at, normalized_to_pixels, pixels_to_normalized, project_to_pixels, \
    world_to_camera
from maskpose_core.geometry import triangulate_dlt
from maskpose_core.loss.robust_triangulation import resolve_left_right, robust_triangulate, \
    robust_triangulation_loss
from maskpose_core.skeleton import FLIP_PERMUTATION, JOINT_NAMES, LEFT_RIGHT_PAIRS, TEMPLATE_MM

SIZE = 64


def _scene():
    """The template at (0, 900, 0) mm, an arm and a foot forward, 4 cameras ≈ 5 m away; its 2D in px."""
    import math
    K, R, t = [], [], []
    for a_deg, height in ((15, 1500.0), (95, 1300.0), (200, 1700.0), (280, 1400.0)):    # a generic rig: no
        a = math.radians(a_deg)                                                         # opposite pair
        Rc, tc = look_at(torch.tensor([5000 * math.cos(a), height, 4500 * math.sin(a)]),
                         torch.tensor([0.0, 900.0, 0.0]))
        K.append(torch.tensor([[90.0, 0, 32.0], [0, 90.0, 32.0], [0, 0, 1]]))
        R.append(Rc)
        t.append(tc)
    K, R, t = torch.stack(K)[None].double(), torch.stack(R)[None].double(), torch.stack(t)[None].double()
    world = torch.tensor(TEMPLATE_MM, dtype=torch.float64) * torch.tensor([1.0, -1.0, 1.0]) + torch.tensor([0, 900.0, 0])
    world[JOINT_NAMES.index("l_wrist"), 2] += 250.0                 # an arm reaching forward: not symmetric
    world[JOINT_NAMES.index("r_knee"), 2] -= 150.0
    world[JOINT_NAMES.index("l_ankle")] += torch.tensor([20.0, 60.0, 180.0], dtype=world.dtype)   # one foot forward
    cam = world_to_camera(world[None, None].expand(1, 4, -1, -1), R, t)
    return world, project_to_pixels(cam, K), K, R, t


def _plain(uv, K, R, t):
    j = uv.shape[2]
    ex = lambda x: x.unsqueeze(1).expand(1, j, *x.shape[1:])         # noqa: E731
    return triangulate_dlt(uv.transpose(1, 2), ex(K), ex(R), ex(t))[0]


def test_a_view_with_left_and_right_swapped_and_a_view_with_one_limb_swapped_are_resolved():
    world, uv, K, R, t = _scene()
    bad = uv.clone()
    bad[0, 2] = uv[0, 2, list(FLIP_PERMUTATION)]                      # view 2: every pair swapped
    l, r = JOINT_NAMES.index("l_wrist"), JOINT_NAMES.index("r_wrist")
    bad[0, 3, [l, r]] = uv[0, 3, [r, l]]                               # view 3: only the wrists
    got, keep = robust_triangulate(bad, K, R, t)
    assert (got[0] - world).norm(dim=-1).max() < 1e-3                   # mm
    assert keep.min() == 1                                              # nothing had to be dropped
    assert (_plain(bad, K, R, t) - world).norm(dim=-1).max() > 50       # the plain DLT is pulled off
    _, swaps = resolve_left_right(bad, torch.cat([K @ torch.cat([R, t.unsqueeze(-1)], -1)]))
    wrists = [k for k, p in enumerate(LEFT_RIGHT_PAIRS) if set(p) == {l, r}][0]
    assert swaps[0, 2].all() and swaps[0, 3, wrists] and swaps[0, 3].sum() == 1 and not swaps[0, :2].any()


def test_the_labels_follow_the_majority_of_the_views():
    # three of four views swapped: the majority's labelling wins, i.e. the mirror-labelled pose
    world, uv, K, R, t = _scene()
    bad = uv.clone()
    for v in (1, 2, 3):
        bad[0, v] = uv[0, v, list(FLIP_PERMUTATION)]
    got, _ = robust_triangulate(bad, K, R, t)
    assert (got[0] - world[list(FLIP_PERMUTATION)]).norm(dim=-1).max() < 1e-3


def test_a_view_far_off_for_one_joint_is_dropped_for_that_joint():
    world, uv, K, R, t = _scene()
    bad = uv.clone()
    k = JOINT_NAMES.index("l_elbow")
    bad[0, 1, k] += torch.tensor([9.0, -7.0], dtype=bad.dtype)         # 11 px off in view 1
    got, keep = robust_triangulate(bad, K, R, t)
    assert keep[0, 1, k] == 0 and keep.sum() == keep.numel() - 1
    assert (got[0, k] - world[k]).norm() < 1e-3
    assert (_plain(bad, K, R, t)[k] - world[k]).norm() > 10


def test_the_loss_is_zero_at_the_truth_and_pulls_a_bent_view_back():
    world, uv, K, R, t = _scene()
    cam = world_to_camera(world[None, None].expand(1, 4, -1, -1), R, t).float()
    xy = pixels_to_normalized(uv, SIZE).float()
    K, R, t = K.float(), R.float(), t.float()
    assert robust_triangulation_loss(cam, xy, K, R, t, SIZE) < 1e-8
    bent = cam.clone()
    w = JOINT_NAMES.index("r_wrist")
    bent[0, 0, w, 2] += 300.0                                         # view 0's wrist 300 mm too deep
    bent.requires_grad_(True)
    loss = robust_triangulation_loss(bent, xy, K, R, t, SIZE, align=False)
    loss.backward()
    assert loss > 0 and bent.grad[0, 0, w, 2] > 0                       # descending moves it back
    # the aligned form teaches articulation only: a prediction rotated as a whole costs nothing
    rot = torch.tensor([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    rel = cam - cam[:, :, :1]
    turned = rel @ rot.T + cam[:, :, :1]
    assert robust_triangulation_loss(turned, xy, K, R, t, SIZE, align=True) < 1e-8
    assert robust_triangulation_loss(turned, xy, K, R, t, SIZE, align=False) > 1e-3
    assert normalized_to_pixels(xy, SIZE).shape == uv.shape


def test_one_view_is_refused_naming_the_field():
    import pytest
    world, uv, K, R, t = _scene()
    cam = world_to_camera(world[None, None].expand(1, 4, -1, -1), R, t).float()
    with pytest.raises(ValueError, match="robust_triangulation_weight > 0 needs at least 2 views"):
        robust_triangulation_loss(cam[:, :1], pixels_to_normalized(uv, SIZE).float()[:, :1], K[:, :1].float(),
                                  R[:, :1].float(), t[:, :1].float(), SIZE)


def test_a_single_view_data_set_with_the_term_is_refused_before_any_run():
    import pytest

    from maskpose_core.config import apply_overrides, profile_config
    with pytest.raises(ValueError, match="loss.robust_triangulation_weight > 0 needs at least 2 views.*'wild'"):
        apply_overrides(profile_config("smoke"), {"data.dataset": "wild", "loss.robust_triangulation_weight": 1.0})
