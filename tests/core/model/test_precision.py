"""train.precision: bf16 autocast of the conv trunks only, fp32 where the numbers are delicate,
a short bf16 fit that learns, the config's hash at the fp32 default, and the slow-CPU warning."""
from __future__ import annotations

import pytest
import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.model.precision import autocast, check_precision, cpu_has_native_bf16
from maskpose_core.train.fit import build_model, fit
from maskpose_core.train.hooks import TrainHooks


def _cfg(**over):
    base = {"train.epochs": 6, "train.steps_per_epoch": 0, "optim.batch_size": 8, "train.val_samples": 8,
            "train.figure_samples": 0, "optim.lr": 1e-3, "loss.physique_warmup": 1.0}
    return apply_overrides(profile_config("smoke"), {**base, **over})


def _batch(data, n=8):
    return next(iter(torch.utils.data.DataLoader(data.train, batch_size=n)))


def test_bf16_runs_the_trunks_in_bf16_and_hands_fp32_to_the_softmax(tiny_data):
    net = build_model(_cfg(), tiny_data).eval()
    seen = {}
    net.detector.head.out.register_forward_hook(lambda m, i, o: seen.__setitem__("head", o.dtype))
    net.physique.out.register_forward_hook(lambda m, i, o: seen.__setitem__("psi", o.dtype))
    batch = _batch(tiny_data)
    with torch.no_grad():
        ref = net(batch, sigma2=0.02, physique_on=True)
        assert seen == {"head": torch.float32, "psi": torch.float32}
        net.set_precision("bf16")
        low = net(batch, sigma2=0.02, physique_on=True)
    assert seen == {"head": torch.bfloat16, "psi": torch.bfloat16}       # the convolutions ran in bf16
    for key in ("loss", "loss_skeleton", "loss_physique"):
        assert low[key].dtype == ref[key].dtype != torch.bfloat16 and torch.isfinite(low[key]), key
        # same weights: bf16 (8-bit mantissa) moves a loss by well under 5 %
        assert float(low[key]) == pytest.approx(float(ref[key]), rel=0.05), key
    img, k, mask, root = batch["image"][:, 0], batch["K"][:, 0], batch["mask"][:, 0], torch.zeros(8, 3)
    root[:, 2] = 5000.0
    with torch.no_grad():
        a = net.predict(img, k, root, mask)
        net.set_precision("fp32")
        b = net.predict(img, k, root, mask)
    assert a["xy_norm"].dtype == torch.float32
    assert (a["xy_norm"] - b["xy_norm"]).abs().max() < 0.02                  # < 1 % of the crop


def test_a_short_bf16_fit_lowers_the_mask_loss(tiny_data):
    cfg = _cfg(**{"train.precision": "bf16"})
    net = build_model(cfg, tiny_data)
    batch = _batch(tiny_data, 16)
    with torch.no_grad():
        before = float(net(batch, sigma2=cfg.loss.sigma2, physique_on=False)["loss_skeleton"])
    reports = []
    fit(cfg, tiny_data, hooks=TrainHooks(report=reports.append))
    net.load_state_dict(reports[-1].state["model"])
    assert all(p.dtype == torch.float32 for p in net.parameters())          # fp32 master weights
    with torch.no_grad():
        after = float(net(batch, sigma2=cfg.loss.sigma2, physique_on=False)["loss_skeleton"])
    assert after < 0.9 * before, (before, after)


def test_precision_is_hash_neutral_at_fp32_and_checked():
    base = profile_config("quick")
    assert apply_overrides(base, {"train.precision": "fp32"}).hash == base.hash
    assert apply_overrides(base, {"train.precision": "bf16"}).hash != base.hash
    with pytest.raises(ValueError, match=r"TrainConfig.precision must be one of \('fp32', 'bf16'\), got 'fp16'"):
        apply_overrides(base, {"train.precision": "fp16"})
    with pytest.raises(ValueError, match="precision must be one of"):
        autocast("cpu", "half")


def test_a_cpu_without_native_bf16_gets_a_warning(caplog):
    plain = "processor : 0\nflags : fpu sse2 avx2 avx512f\n"
    native = "processor : 0\nflags : fpu sse2 avx2 avx512f avx512_bf16\n"
    assert cpu_has_native_bf16(plain) is False and cpu_has_native_bf16(native) is True
    assert cpu_has_native_bf16("no flags line") is None
    assert check_precision("bf16", "cpu", cpuinfo=native) is None
    assert check_precision("fp32", "cpu", cpuinfo=plain) is None
    msg = check_precision("bf16", "cpu", cpuinfo=plain)
    assert "no native bf16" in msg and "slower" in msg and msg in caplog.text
