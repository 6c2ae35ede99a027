"""The extremity term (silhouette tips from G, the distance to the nearest limb end, its gradient),
the coverage term's radius and the hidden-arm gate."""
import pytest
import torch

from maskpose_core.loss.config import LossConfig
from maskpose_core.loss.mask_loss import coverage, extremity, hidden_arm_gate, tip_weight
from maskpose_core.loss.objective import MaskObjective

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


def test_coverage_radius_counts_pixels_near_a_bone_as_covered():
    # three pixels at distances 0.05, 0.1 and 0.3 from the nearest bone, weight 1, mask 1
    d = torch.tensor([[[0.05, 0.1, 0.3]]])
    mask, w, eps = torch.ones_like(d), torch.ones_like(d), 0.02
    plain = coverage(mask, d * d, w, eps)
    assert plain.item() == pytest.approx(sum((x * x + eps * eps) ** 0.5 for x in (0.05, 0.1, 0.3)) / 3, rel=1e-5)
    assert coverage(mask, d * d, w, eps, radius=0.0).item() == plain.item()        # 0 is the plain term
    # radius 0.1: excess 0, 0, 0.2 -> (eps + eps + sqrt(0.2² + eps²)) / 3
    expected = (eps + eps + (0.2 ** 2 + eps * eps) ** 0.5) / 3
    assert coverage(mask, d * d, w, eps, radius=0.1).item() == pytest.approx(expected, rel=1e-5)
    d2 = (d * d).clone().requires_grad_(True)
    coverage(mask, d2, w, eps, radius=0.1).backward()
    assert torch.all(d2.grad[0, 0, :2] == 0)               # covered pixels pull nothing
    assert d2.grad[0, 0, 2] > 0                            # the far one still pulls its bone in
    assert torch.isfinite(d2.grad).all()
    on_bone = torch.zeros(1, 1, 1, requires_grad=True)     # d = 0: no NaN from sqrt at 0
    coverage(torch.ones(1, 1, 1), on_bone, torch.ones(1, 1, 1), eps, radius=0.1).backward()
    assert torch.isfinite(on_bone.grad).all()
    with pytest.raises(ValueError, match="coverage_radius"):
        LossConfig(coverage_radius=-0.1)


def _pose_2d() -> torch.Tensor:
    """(17, 2) a front-facing body in normalised crop units: torso square x in ±0.2, y in −0.4…0.2;
    the left arm (12, 13) in front of the torso, the right arm (15, 16) raised out to the side."""
    p = torch.zeros(17, 2)
    p[11], p[14] = torch.tensor([0.2, -0.4]), torch.tensor([-0.2, -0.4])      # l, r shoulder
    p[4], p[1] = torch.tensor([0.2, 0.2]), torch.tensor([-0.2, 0.2])          # l, r hip
    p[12], p[13] = torch.tensor([0.1, -0.1]), torch.tensor([-0.05, 0.0])      # inside the torso
    p[15], p[16] = torch.tensor([-0.5, -0.4]), torch.tensor([-0.7, -0.6])     # outside
    return p


def test_the_gate_detaches_exactly_the_arm_joints_inside_the_torso():
    pts = _pose_2d()[None, None].repeat(2, 3, 1, 1).requires_grad_(True)       # (2, 3, 17, 2)
    gated = hidden_arm_gate(pts)
    assert torch.equal(gated, pts)                                                # values unchanged
    gated.sum().backward()
    moved = pts.grad[0, 0].abs().sum(-1) > 0                                     # (17,)
    assert moved.tolist() == [j not in (12, 13) for j in range(17)]
    # the same quadrilateral in the other winding order (a mirrored body) gates the same joints
    mirrored = _pose_2d() * torch.tensor([-1.0, 1.0])
    m = mirrored.clone().requires_grad_(True)
    hidden_arm_gate(m).sum().backward()
    assert (m.grad.abs().sum(-1) == 0).nonzero().flatten().tolist() == [12, 13]
    # a twisted torso (shoulders crossed) contains nothing: no joint is gated
    twisted = _pose_2d()
    twisted[[11, 14]] = twisted[[14, 11]]
    t = twisted.clone().requires_grad_(True)
    hidden_arm_gate(t).sum().backward()
    assert torch.all(t.grad.abs().sum(-1) > 0)


def test_the_margin_also_gates_arm_joints_near_the_torso_edges():
    pose = _pose_2d()
    pose[15] = torch.tensor([-0.23, -0.1])        # 0.03 left of the right edge (x = −0.2)
    pose[16] = torch.tensor([-0.1, 0.28])         # 0.08 below the hips' edge (y = 0.2)

    def gated(margin):
        p = pose.clone().requires_grad_(True)
        hidden_arm_gate(p, margin).sum().backward()
        return (p.grad.abs().sum(-1) == 0).nonzero().flatten().tolist()

    assert gated(0.0) == [12, 13]
    assert gated(0.05) == [12, 13, 15]
    assert gated(0.1) == [12, 13, 15, 16]


def test_the_gated_objective_leaves_a_hidden_arm_to_the_priors_but_not_a_raised_hand_to_extremity():
    torch.manual_seed(0)
    size = 64
    b, c = 1, 1
    xy = _pose_2d()[None, None]                                                  # (1, 1, 17, 2)
    z = torch.full((1, 1, 17, 1), 4000.0)
    f = size / 2.0
    cam = torch.cat([xy * z, z], -1)                                             # x_norm = x/z + 1/size
    K = torch.tensor([[f, 0, f], [0, f, f], [0, 0, 1.0]]).expand(b, c, 3, 3)
    batch = {"R": torch.eye(3).expand(b, c, 3, 3), "t_mm": torch.zeros(b, c, 3), "K": K,
             "mask": torch.rand(b, c, size, size).round(), "geodesic": torch.rand(b, c, size, size)}
    grads = {}
    for gate in (False, True):
        cfg = LossConfig(hidden_arm_gate=gate, lambda_p=0.0, symmetry_weight=0.0, limb_ratio_weight=0.0,
                         template_weight=0.0, triangulation_weight=0.0, consistency_weight=0.0,
                         extremity_weight=0.0, cross_view=False)
        joints = cam.clone().requires_grad_(True)
        out = MaskObjective(cfg, image_size=size, num_landmarks=17).mask_terms(batch, joints, xy, sigma2=2e-2)
        out["loss"].backward()
        grads[gate] = joints.grad[0, 0].abs().sum(-1)
    assert grads[False][12] > 0 and grads[False][13] > 0
    assert grads[True][12] == 0 and grads[True][13] == 0                         # skeleton, coverage gated
    assert torch.allclose(grads[True][16], grads[False][16])                     # the raised hand untouched
    # the extremity term reads the ungated points: with only it on, a hidden wrist is still pulled
    cfg = LossConfig(hidden_arm_gate=True, lambda_s=0.0, lambda_p=0.0, coverage_weight=0.0, symmetry_weight=0.0,
                     limb_ratio_weight=0.0, template_weight=0.0, triangulation_weight=0.0,
                     consistency_weight=0.0, cross_view=False)
    batch["mask"] = torch.ones(b, c, size, size)
    joints = cam.clone().requires_grad_(True)
    MaskObjective(cfg, image_size=size, num_landmarks=17).mask_terms(batch, joints, xy,
                                                                     sigma2=2e-2)["loss"].backward()
    assert joints.grad[0, 0, 13].abs().sum() > 0                                 # the hidden wrist
