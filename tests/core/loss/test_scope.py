"""loss.mask_scope=similarity: the mask terms' gradient moves a pose's similarity, never its bend.
Hand-built poses and gradient directions; the projection is checked against its definition."""
import math

import pytest
import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.loss.objective import MaskObjective
from maskpose_core.loss.scope import project_on_similarity, similarity_basis, similarity_only
from maskpose_core.skeleton import JOINT_NAMES, TEMPLATE_MM

TEMPLATE = torch.tensor(TEMPLATE_MM, dtype=torch.float64)


def _bend_of(pose: torch.Tensor) -> torch.Tensor:
    """A direction that moves one wrist and its elbow, made orthogonal to the 7 similarity motions."""
    a = similarity_basis(pose[None])[0]                                          # (3L, 7)
    d = torch.zeros_like(pose)
    d[JOINT_NAMES.index("l_wrist")] = torch.tensor([0.0, 0.0, 1.0], dtype=pose.dtype)
    d[JOINT_NAMES.index("l_elbow")] = torch.tensor([0.0, 1.0, 0.0], dtype=pose.dtype)
    v = d.reshape(-1)
    v = v - a @ torch.linalg.lstsq(a, v[:, None]).solution[:, 0]               # remove its similarity part
    return v.reshape(pose.shape)


def test_the_basis_spans_translation_rotation_and_scale():
    a = similarity_basis(TEMPLATE[None])[0]
    assert a.shape == (3 * len(TEMPLATE_MM), 7) and torch.linalg.matrix_rank(a) == 7
    # column 0 moves every joint by +1 mm in x; column 6 is the pose about its centroid (scaling)
    assert torch.equal(a[:, 0].reshape(-1, 3), torch.tensor([[1.0, 0, 0]], dtype=a.dtype).expand(len(TEMPLATE_MM), 3))
    assert torch.allclose(a[:, 6].reshape(-1, 3), TEMPLATE - TEMPLATE.mean(0))
    # column 3 (rotation about x): ω × X with ω = e_x gives (0, −z, y)
    x = TEMPLATE - TEMPLATE.mean(0)
    assert torch.allclose(a[:, 3].reshape(-1, 3), torch.stack([torch.zeros_like(x[:, 0]), -x[:, 2], x[:, 1]], -1))


def test_a_bend_gets_no_gradient_and_a_similarity_keeps_all_of_it():
    bend = _bend_of(TEMPLATE)
    assert bend.norm() > 0.5                                                    # a real bend is left
    assert project_on_similarity(bend[None], TEMPLATE[None]).abs().max() < 1e-9
    # a rigid rotation about the vertical axis (its infinitesimal motion) and a scaling pass unchanged
    x = TEMPLATE - TEMPLATE.mean(0)
    turn = torch.stack([x[:, 2], torch.zeros_like(x[:, 0]), -x[:, 0]], -1)     # ω = e_y: ω × X = (z, 0, −x)
    for g in (turn, x, torch.ones_like(x)):
        assert torch.allclose(project_on_similarity(g[None], TEMPLATE[None])[0], g, atol=1e-6)


def test_autograd_through_similarity_only_projects_a_loss_gradient():
    # loss = <c, P>: its gradient is c. Through similarity_only the value is unchanged and the
    # gradient is c's projection: zero for a bend, everything for a translation
    pose = TEMPLATE.clone().requires_grad_(True)
    bend = _bend_of(TEMPLATE)
    out = similarity_only(pose[None, None])                                     # (1, 1, L, 3)
    assert torch.equal(out[0, 0], pose)
    (out[0, 0] * bend).sum().backward()
    assert pose.grad.abs().max() < 1e-6
    pose.grad = None
    shift = torch.tensor([3.0, -1.0, 2.0], dtype=TEMPLATE.dtype).expand_as(TEMPLATE)
    (similarity_only(pose[None, None])[0, 0] * (shift + bend)).sum().backward()
    assert torch.allclose(pose.grad, shift, atol=1e-6)


def test_the_mask_terms_in_similarity_scope_leave_the_structure_terms_whole():
    # the skeleton term's gradient is projected; the symmetry term (a structure prior) still bends
    cfg = apply_overrides(profile_config("smoke"), {"loss.mask_scope": "similarity", "loss.lambda_s": 1.0,
                                                    "loss.lambda_p": 0.0, "loss.coverage_weight": 0.0,
                                                    "loss.extremity_weight": 0.0, "loss.limb_ratio_weight": 0.0,
                                                    "loss.template_weight": 0.0, "loss.triangulation_weight": 0.0,
                                                    "loss.consistency_weight": 0.0})
    from tests.core.loss.test_structure import _views_of
    world = TEMPLATE.float() * torch.tensor([1.0, -1.0, 1.0]) + torch.tensor([0.0, 900.0, 0.0])
    cam, xy, K, R, t = _views_of(world)
    size = 64
    mask = torch.zeros(1, 4, size, size)
    mask[..., 20:44, 26:38] = 1.0                                               # a blob: the term pulls somewhere
    batch = {"K": K, "R": R, "t_mm": t, "mask": mask, "geodesic": torch.ones_like(mask)}
    obj = MaskObjective(cfg.loss, image_size=size, num_landmarks=len(TEMPLATE_MM))

    def grad_of(weights: dict) -> torch.Tensor:
        c = cam.clone().requires_grad_(True)
        out = MaskObjective(apply_overrides(cfg, weights).loss, image_size=size, num_landmarks=len(TEMPLATE_MM)) \
            .mask_terms(batch, c, xy, sigma2=cfg.loss.sigma2)
        out["loss"].backward()
        return c.grad
    skeleton = grad_of({"loss.symmetry_weight": 0.0})[0]                       # (C, L, 3)
    assert skeleton.abs().max() > 0
    for view in range(4):                                                       # inside each view's similarity span
        g = skeleton[view].double()
        assert torch.allclose(project_on_similarity(g[None], cam[0, view].double()[None])[0], g, atol=1e-6 * g.abs().max())
    plain = grad_of({"loss.symmetry_weight": 0.0, "loss.mask_scope": "all"})[0]
    residual = plain.double() - torch.stack([project_on_similarity(plain[v].double()[None], cam[0, v].double()[None])[0]
                                              for v in range(4)])
    assert residual.norm() > 1e-3 * plain.norm()                                # the plain term does bend
    assert obj.cfg.mask_scope == "similarity"


def test_an_unknown_scope_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="LossConfig.mask_scope must be one of"):
        apply_overrides(profile_config("smoke"), {"loss.mask_scope": "joints"})
    assert math.isfinite(float(project_on_similarity(torch.ones(1, 3, 3), torch.zeros(1, 3, 3)).sum()))   # degenerate: finite
