"""SPP: supervised post-processing (docs/method.md §1, poster "SPP-based Method").

The unsupervised detector predicts L ≥ 2J landmarks; a small mapping network
θ: R^{L×3} → R^{J×3} is then fitted on a labelled subset and maps landmarks to the J
joints. Results with SPP are reported in their own group.

θ = a linear path plus a residual MLP (pre-LayerNorm blocks), on root-relative inputs,
with root-relative outputs:

    x  = (landmarks − landmarks[:, root_landmark]) / input_scale_mm      (B, 3L)
    y  = linear(x) + head(blocks(in_proj(x)))                             (B, 3J)
    X  = y · output_scale_mm, then joint 0 (pelvis) subtracted           (B, J, 3) mm

The linear path makes a linear landmark→joint relation (the classical SPP regressor)
easy to fit; the MLP adds the non-linear part. The scales are the RMS of the
root-relative training landmarks and targets, stored as buffers so the state dict is
self-contained. L ≥ 2J is a config-level rule checked by the caller; here L ≥ 1.
"""
from __future__ import annotations

import torch
from torch import nn

from maskpose_core.skeleton import ROOT

Tensor = torch.Tensor


class _ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, width)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.fc(torch.relu(self.norm(h)))


class SPPMapping(nn.Module):
    """θ: landmarks (B, L, 3) mm → joints (B, J, 3) mm, both root-relative (any common frame).

    ``loss_curve`` holds the per-epoch mean training loss of :func:`fit_spp_mapping`
    (empty for an unfitted mapping).
    """

    def __init__(self, *, num_landmarks: int, num_joints: int, hidden: int = 256,
                 num_blocks: int = 2, root_landmark: int = 0):
        super().__init__()
        if num_landmarks < 1 or num_joints < 1 or hidden < 1 or num_blocks < 0:
            raise ValueError(f"SPPMapping: need num_landmarks, num_joints, hidden >= 1 and num_blocks "
                             f">= 0, got {num_landmarks}, {num_joints}, {hidden}, {num_blocks}")
        if not 0 <= root_landmark < num_landmarks:
            raise ValueError(f"SPPMapping.root_landmark must be in [0, {num_landmarks}), got {root_landmark}")
        self.num_landmarks, self.num_joints, self.root_landmark = num_landmarks, num_joints, root_landmark
        d_in, d_out = 3 * num_landmarks, 3 * num_joints
        self.linear = nn.Linear(d_in, d_out)
        self.in_proj = nn.Linear(d_in, hidden)
        self.blocks = nn.Sequential(*[_ResidualBlock(hidden) for _ in range(num_blocks)])
        self.head = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, d_out))
        # The MLP starts as zero: θ begins as the linear regressor, the MLP adds the rest.
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        self.register_buffer("input_scale_mm", torch.ones(()))
        self.register_buffer("output_scale_mm", torch.ones(()))
        self.loss_curve: list[float] = []

    def forward(self, landmarks: Tensor) -> Tensor:
        """landmarks (B, L, 3) mm -> joints (B, J, 3) mm with joint 0 (pelvis) at the origin."""
        if landmarks.ndim != 3 or landmarks.shape[1:] != (self.num_landmarks, 3):
            raise ValueError(f"landmarks: expected shape (B, {self.num_landmarks}, 3), "
                             f"got {tuple(landmarks.shape)}")
        x = landmarks - landmarks[:, self.root_landmark:self.root_landmark + 1]
        x = (x / self.input_scale_mm).flatten(1).to(self.linear.weight.dtype)
        y = self.linear(x) + self.head(self.blocks(self.in_proj(x)))
        joints = y.view(-1, self.num_joints, 3) * self.output_scale_mm
        return joints - joints[:, ROOT:ROOT + 1]


def _check_inputs(landmarks, targets) -> tuple[Tensor, Tensor]:
    lm, tg = torch.as_tensor(landmarks), torch.as_tensor(targets)
    if lm.ndim != 3 or lm.shape[-1] != 3 or lm.shape[0] < 1 or lm.shape[1] < 1:
        raise ValueError(f"landmarks: expected shape (N, L, 3) with N, L >= 1, got {tuple(lm.shape)}")
    if tg.ndim != 3 or tg.shape[-1] != 3 or tg.shape[1] < 1 or tg.shape[0] != lm.shape[0]:
        raise ValueError(f"targets: expected shape ({lm.shape[0]}, J, 3) with J >= 1 like landmarks "
                         f"{tuple(lm.shape)}, got {tuple(tg.shape)}")
    for name, x in (("landmarks", lm), ("targets", tg)):
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise ValueError(f"{name}: {bad} non-finite value(s) in shape {tuple(x.shape)}")
    return lm.to(torch.float32), tg.to(torch.float32)


def _rms(x: Tensor, name: str) -> Tensor:
    r = x.pow(2).mean().sqrt()
    if not float(r) > 0:
        raise ValueError(f"{name}: all root-relative values are zero; nothing to fit")
    return r


def fit_spp_mapping(landmarks, targets, *, epochs: int, lr: float, seed: int, batch_size: int,
                    hidden: int = 256, num_blocks: int = 2, weight_decay: float = 0.0,
                    root_landmark: int = 0) -> SPPMapping:
    """Fit θ on labelled pairs; returns the mapping in eval mode with its ``loss_curve``.

    landmarks (N, L, 3) mm: unsupervised landmark predictions (camera frame).
    targets   (N, J, 3) mm: GT joints in the same frame; made root-relative (joint 0) here.
    Loss: MSE of the root-relative joints in units of ``output_scale_mm`` (the targets' RMS),
    Adam, a shuffled pass over the N pairs per epoch. Deterministic for a given ``seed``:
    initialisation and shuffling use their own RNG (the global torch RNG is left alone).
    ``loss_curve[e]`` is the sample-weighted mean loss of epoch e.
    """
    lm, tg = _check_inputs(landmarks, targets)
    if epochs < 1 or batch_size < 1 or not lr > 0 or weight_decay < 0:
        raise ValueError(f"fit_spp_mapping: need epochs >= 1, batch_size >= 1, lr > 0, weight_decay >= 0;"
                         f" got epochs={epochs}, batch_size={batch_size}, lr={lr}, weight_decay={weight_decay}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SPPMapping(num_landmarks=lm.shape[1], num_joints=tg.shape[1], hidden=hidden,
                           num_blocks=num_blocks, root_landmark=root_landmark)
    lm_rel = lm - lm[:, root_landmark:root_landmark + 1]
    tg_rel = tg - tg[:, ROOT:ROOT + 1]
    model.input_scale_mm.fill_(_rms(lm_rel, "landmarks"))
    model.output_scale_mm.fill_(_rms(tg_rel, "targets"))
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = lm.shape[0]
    model.train()
    for _ in range(epochs):
        total = 0.0
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            pred = model(lm[idx])
            loss = ((pred - tg_rel[idx]) / model.output_scale_mm).pow(2).mean()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"fit_spp_mapping: non-finite loss {float(loss)} "
                                         f"at epoch {len(model.loss_curve)}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        model.loss_curve.append(total / n)
    return model.eval()
