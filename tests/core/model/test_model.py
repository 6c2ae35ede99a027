"""Detector, physique and the full net: shapes, input modes, priors, gradients into the joints."""
import pytest
import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.model.net import MaskPoseNet
from maskpose_core.train.fit import build_model
from maskpose_core.skeleton import TEMPLATE_MM
from maskpose_core.train.init_prior import reference_pose_norm


def _batch(data, n=4):
    return next(iter(torch.utils.data.DataLoader(data.train, batch_size=n)))


@pytest.mark.parametrize("inp", ["image", "image+mask", "mask", "image*mask"])
def test_detector_input_modes(tiny_data, inp):
    cfg = apply_overrides(profile_config("smoke"), {"model.input": inp})
    net = MaskPoseNet(cfg.model, cfg.loss, image_size=cfg.data.image_size)
    b = _batch(tiny_data)
    out = net.detector(b["image"].flatten(0, 1), b["mask"].flatten(0, 1))
    assert out["xy_norm"].shape == (16, 17, 2) and out["z_norm"].shape == (16, 17)
    assert out["xy_norm"].abs().max() <= 1 and out["z_norm"].abs().max() <= 1
    if inp != "image":
        with pytest.raises(ValueError, match="needs mask"):
            net.detector(b["image"].flatten(0, 1))
    if inp == "image*mask":   # the background is invisible: changing it changes nothing
        img, msk = b["image"].flatten(0, 1), b["mask"].flatten(0, 1)
        noisy = torch.where(msk.unsqueeze(1) > 0, img, torch.rand_like(img))
        net.eval()
        assert torch.allclose(net.detector(img, msk)["xy_norm"], net.detector(noisy, msk)["xy_norm"])


def test_physique_gradient_reaches_the_joints(tiny_data):
    only_physique = {"loss.lambda_s": 0.0, "loss.symmetry_weight": 0.0, "loss.limb_ratio_weight": 0.0,
                     "loss.coverage_weight": 0.0, "loss.consistency_weight": 0.0, "loss.triangulation_weight": 0.0,
                     "loss.extremity_weight": 0.0, "loss.template_weight": 0.0}
    cfg = apply_overrides(profile_config("smoke"), only_physique)
    net = MaskPoseNet(cfg.model, cfg.loss, image_size=cfg.data.image_size)
    b = _batch(tiny_data)
    grads = {}
    for on in (False, True):
        net.zero_grad()
        net(b, sigma2=cfg.loss.sigma2, physique_on=on)["loss"].backward()
        grads[on] = net.detector.head.out.weight.grad.abs().sum().item()
    assert grads[False] == 0.0            # warm-up: ψ learns on a detached skeleton
    assert grads[True] > 0.0              # stage 2: the physique term moves the joints


def test_template_prior_puts_the_initial_pose_near_the_template(tiny_data):
    cfg = apply_overrides(profile_config("smoke"), {"model.init_prior": "template", "model.prior_tau_mm": 60.0})
    net = build_model(cfg, tiny_data).eval()
    ref = reference_pose_norm(cfg, tiny_data)
    b = _batch(tiny_data)
    with torch.no_grad():
        out = net.detector(b["image"].flatten(0, 1), b["mask"].flatten(0, 1))
    # head top above the feet in the image (y grows down), as in the template
    assert (out["xy_norm"][:, 10, 1] < out["xy_norm"][:, 3, 1]).all()
    assert torch.allclose(out["xy_norm"].mean(0), ref[:, :2], atol=0.1)
    assert TEMPLATE_MM[10, 1] < TEMPLATE_MM[3, 1]


def test_without_prior_the_initial_pose_is_collapsed(tiny_data):
    net = build_model(apply_overrides(profile_config("smoke"), {"model.init_prior": "none"}), tiny_data).eval()
    b = _batch(tiny_data)
    with torch.no_grad():
        out = net.detector(b["image"].flatten(0, 1), b["mask"].flatten(0, 1))
    spread = (out["xy_norm"] - out["xy_norm"][:, :1]).norm(dim=-1).mean()
    assert spread < 0.1                   # docs/findings-early.md: joints start at the volume centre

