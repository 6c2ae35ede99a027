"""train.compile: a compiled fit trains; its checkpoint loads into an eager network (the
parameter names are the eager module's); the compiled backbone keeps the eager numbers up to
rounding in train and eval mode; the config key is hash-neutral at its default (off).
One test, so inductor compiles the backbone once (its graphs are reused across instances)."""
from __future__ import annotations

import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.train.fit import build_model, fit
from maskpose_core.train.hooks import TrainHooks


def _cfg(**over):
    base = {"train.epochs": 1, "train.steps_per_epoch": 2, "optim.batch_size": 8, "train.val_samples": 8,
            "train.figure_samples": 0}
    return apply_overrides(profile_config("smoke"), {**base, **over})


def test_a_compiled_fit_trains_and_keeps_the_eager_numbers_and_names(tiny_data):
    base = profile_config("quick")
    assert apply_overrides(base, {"train.compile": False}).hash == base.hash
    assert apply_overrides(base, {"train.compile": True}).hash != base.hash

    torch._dynamo.reset()
    reports = []
    metrics = fit(_cfg(**{"train.compile": True}), tiny_data, hooks=TrainHooks(report=reports.append))
    assert torch.isfinite(torch.tensor(metrics["train/loss"])) and metrics["val/mpjpe_mm"] > 0
    state = reports[-1].state["model"]

    eager = build_model(_cfg(), tiny_data)
    eager.load_state_dict(state)                                      # no "_orig_mod." prefix
    compiled = build_model(_cfg(), tiny_data).compile_backbone()
    assert list(compiled.state_dict()) == list(eager.state_dict())
    compiled.load_state_dict(state)
    channels = next(m for m in eager.detector.backbone.modules() if isinstance(m, torch.nn.Conv2d)).in_channels
    size = _cfg().data.image_size
    images = torch.randn(32, channels, size, size, generator=torch.Generator().manual_seed(0))
    for mode in ("train", "eval"):
        getattr(eager, mode)(), getattr(compiled, mode)()
        with torch.no_grad():
            a, b = eager.detector.backbone(images), compiled.detector.backbone(images)
        assert a.shape == b.shape
        # inductor fuses and reorders fp32 sums: equal up to rounding, not bit for bit
        assert (a - b).abs().max() <= 1e-4 * (1 + a.abs().max()), mode
