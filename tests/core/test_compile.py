"""train.compile: the detector's backbone compiled in place keeps the eager module's numbers
(one forward, train and eval mode), its parameter names (checkpoints load either way), and a
compiled fit trains; the config key is hash-neutral at its default (off)."""
from __future__ import annotations

import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.train.fit import build_model, fit
from maskpose_core.train.hooks import TrainHooks


def _cfg(**over):
    base = {"train.epochs": 1, "train.steps_per_epoch": 2, "optim.batch_size": 8, "train.val_samples": 8,
            "train.figure_samples": 0}
    return apply_overrides(profile_config("smoke"), {**base, **over})


def test_compiled_backbone_matches_eager_and_keeps_parameter_names(tiny_data):
    torch._dynamo.reset()
    cfg = _cfg()
    eager = build_model(cfg, tiny_data)
    compiled = build_model(cfg, tiny_data).compile_backbone()
    assert list(compiled.state_dict()) == list(eager.state_dict())          # no "_orig_mod." prefix
    compiled.load_state_dict(eager.state_dict())
    channels = next(m for m in eager.detector.backbone.modules() if isinstance(m, torch.nn.Conv2d)).in_channels
    size = cfg.data.image_size
    images = torch.randn(16, channels, size, size, generator=torch.Generator().manual_seed(0))
    for mode in ("train", "eval"):
        getattr(eager, mode)(), getattr(compiled, mode)()
        with torch.no_grad():
            a, b = eager.detector.backbone(images), compiled.detector.backbone(images)
        assert a.shape == b.shape
        # inductor fuses and reorders fp32 sums: equal up to rounding, not bit for bit
        assert (a - b).abs().max() <= 1e-4 * (1 + a.abs().max()), mode


def test_a_compiled_fit_trains_and_is_hash_neutral_when_off(tiny_data):
    torch._dynamo.reset()
    base = profile_config("quick")
    assert apply_overrides(base, {"train.compile": False}).hash == base.hash
    assert apply_overrides(base, {"train.compile": True}).hash != base.hash
    reports = []
    metrics = fit(_cfg(**{"train.compile": True}), tiny_data, hooks=TrainHooks(report=reports.append))
    assert torch.isfinite(torch.tensor(metrics["train/loss"])) and metrics["val/mpjpe_mm"] > 0
    # the checkpoint of a compiled run loads into an eager network
    build_model(_cfg(), tiny_data).load_state_dict(reports[-1].state["model"])
