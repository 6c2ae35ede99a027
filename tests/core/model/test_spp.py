"""SPP mapping θ: fits a known linear landmark -> joint map, deterministically."""
from __future__ import annotations

import pytest
import torch

from maskpose_core.metrics import mpjpe
from maskpose_core.model.spp import SPPMapping, fit_spp_mapping

N, L, J = 1024, 34, 17  # L = 2J landmarks, as the SPP setting requires


def linear_problem(seed: int = 0, n: int = N):
    """Landmarks (n, L, 3) mm around a 4 m deep root, and targets (n, J, 3) that are a fixed
    linear mix W (J, L) of the root-relative landmarks (the same mix for x, y and z; W is
    drawn from seed 0 whatever ``seed``), so a root-relative map represents them exactly."""
    W = torch.randn(J, L, generator=torch.Generator().manual_seed(0)) / L ** 0.5
    g = torch.Generator().manual_seed(seed + 1)
    landmarks = torch.randn(n, L, 3, generator=g) * 300.0 + torch.tensor([0.0, 0.0, 4000.0])
    targets = torch.einsum("jl,nlc->njc", W, landmarks - landmarks[:, :1]) + 50.0  # + any root offset
    return landmarks, targets


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matmuls on a shared 2-core machine: one intra-op thread is ~50x faster under load."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


FIT = dict(epochs=40, lr=3e-3, seed=0, batch_size=64, hidden=64)  # small: seconds on a shared CPU


def test_fits_a_known_linear_map():
    landmarks, targets = linear_problem()
    model = fit_spp_mapping(landmarks, targets, **FIT)
    assert len(model.loss_curve) == FIT["epochs"]
    assert model.loss_curve[-1] < 0.01 * model.loss_curve[0]
    with torch.no_grad():
        pred = model(landmarks)
    assert pred.shape == (N, J, 3)
    assert torch.equal(pred[:, 0], torch.zeros(N, 3))  # outputs are root-relative
    rel = targets - targets[:, :1]
    typical_mm = float(rel[:, 1:].norm(dim=-1).mean())  # typical joint distance from the root
    err_mm = float(mpjpe(pred, rel).mean())
    assert err_mm < 0.05 * typical_mm, (err_mm, typical_mm)
    # Unseen landmarks through the same map: the fit generalises.
    test_lm, test_tg = linear_problem(seed=1, n=64)
    with torch.no_grad():
        test_err_mm = float(mpjpe(model(test_lm), test_tg - test_tg[:, :1]).mean())
    assert test_err_mm < 0.1 * typical_mm, (test_err_mm, typical_mm)


def test_deterministic_with_seed_and_leaves_global_rng_alone():
    landmarks, targets = linear_problem()
    quick = dict(FIT, epochs=5)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = fit_spp_mapping(landmarks, targets, **quick)
    after = torch.rand(3)
    assert torch.equal(before, after)  # the fit did not consume the global RNG
    b = fit_spp_mapping(landmarks, targets, **quick)
    assert a.loss_curve == b.loss_curve
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    c = fit_spp_mapping(landmarks, targets, **dict(quick, seed=1))
    assert c.loss_curve != a.loss_curve


def test_shape_and_argument_checks():
    landmarks, targets = linear_problem()
    with pytest.raises(ValueError, match=r"landmarks: expected shape \(N, L, 3\)"):
        fit_spp_mapping(landmarks[:, :0], targets, **FIT)
    with pytest.raises(ValueError, match=r"targets: expected shape \(1024, J, 3\)"):
        fit_spp_mapping(landmarks, targets[:10], **FIT)
    bad = landmarks.clone()
    bad[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="landmarks: 1 non-finite"):
        fit_spp_mapping(bad, targets, **FIT)
    with pytest.raises(ValueError, match="epochs"):
        fit_spp_mapping(landmarks, targets, **dict(FIT, epochs=0))
    model = SPPMapping(num_landmarks=L, num_joints=J)
    with pytest.raises(ValueError, match=r"landmarks: expected shape \(B, 34, 3\), got \(2, 17, 3\)"):
        model(torch.zeros(2, 17, 3))
    with pytest.raises(ValueError, match="num_landmarks"):
        SPPMapping(num_landmarks=0, num_joints=J)
