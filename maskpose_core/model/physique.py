"""Physique network ψ (docs/method.md §1): M_phys = ψ(M_skel), a U-Net ending in a sigmoid.

Authors' code: encoder w-2w-4w with two stride-2 stages and a mirrored decoder, LeakyReLU,
BatchNorm. It learns the body's volume around the skeleton (a thin skeleton cannot fill a
full silhouette: docs/findings-early.md §6) and passes the silhouette's gradient back into the joints.
"""
from __future__ import annotations

import torch
from torch import nn

from maskpose_core.model.precision import autocast

LEAK = 0.1  # LeakyReLU slope


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(LEAK, inplace=True))


class PhysiqueUNet(nn.Module):
    """ψ. forward(m_skel (N, R, R)) -> m_phys (N, R, R) in (0, 1); R divisible by 4."""

    def __init__(self, width: int):
        super().__init__()
        w = width
        self.enc1 = _block(1, w)
        self.enc2 = _block(w, 2 * w, stride=2)
        self.enc3 = nn.Sequential(_block(2 * w, 4 * w, stride=2), _block(4 * w, 4 * w))
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1)
        self.dec2 = _block(4 * w, 2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 4, 2, 1)
        self.dec1 = _block(2 * w, w)
        self.out = nn.Conv2d(w, 1, 1)
        self.precision = "fp32"       # set by MaskPoseNet.set_precision (train.precision)

    def forward(self, m_skel: torch.Tensor) -> torch.Tensor:
        if m_skel.ndim != 3 or m_skel.shape[-1] % 4 or m_skel.shape[-2] % 4:
            raise ValueError(f"m_skel must be (N, R, R) with R divisible by 4, got {tuple(m_skel.shape)}")
        x = m_skel.unsqueeze(1)
        with autocast(x.device, self.precision):                 # bf16 convolutions: model/precision.py
            e1 = self.enc1(x)
            e2 = self.enc2(e1)
            e3 = self.enc3(e2)
            d2 = self.dec2(torch.cat([self.up2(e3), e2], dim=1))
            d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
            logits = self.out(d1).float()
        return torch.sigmoid(logits).squeeze(1)
