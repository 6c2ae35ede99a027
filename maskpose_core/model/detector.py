"""Detector φ: integral regression (Sun et al. 2018) -> landmarks in the crop and in 3D.

image (B, 3, S, S) -> backbone -> deconvolution head -> per-landmark volume (L, D, H, W)
-> softmax over the whole volume -> soft-argmax: (x, y) in normalised crop coordinates
and z in [-1, 1] (root-relative depth / ``depth_range_mm``). ``lift`` turns these into
camera millimetres with the crop intrinsics and a root depth.

Optional init prior (``model.init_prior``): a Gaussian log-prior around a reference pose
added to the volume logits, with a learnable width. ``mean_pose`` takes the reference
from training poses (Table 1's "UP"), ``template`` from a hand-made pose ("T").
docs/findings-early.md: without any prior a zero-initialised head collapses to a vertical stick.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from maskpose_core.geometry import normalized_to_pixels, unproject_pixels
from maskpose_core.model.backbones import COORD_CHANNELS, INPUT_CHANNELS, build_backbone, load_backbone_weights
from maskpose_core.model.config import ModelConfig
from maskpose_core.model.hypotheses import depth_hypotheses
from maskpose_core.model.precision import autocast

Tensor = torch.Tensor


def coord_channels(b: int, s: int, like: Tensor) -> Tensor:
    """(B, 2, S, S) normalised x and y of every pixel centre."""
    g = (2.0 * torch.arange(s, dtype=like.dtype, device=like.device) + 1.0) / s - 1.0
    gy, gx = torch.meshgrid(g, g, indexing="ij")
    return torch.stack([gx, gy]).expand(b, 2, s, s)


class IntegralHead(nn.Module):
    """(B, Cin, h, w) features -> deconvolutions up to (H, W) -> logits (B, L, D, H, W)."""

    def __init__(self, cin: int, feat_size: int, cfg: ModelConfig):
        super().__init__()
        ups = int(round(math.log2(cfg.heatmap_size / feat_size)))
        if ups < 0 or feat_size * 2 ** ups != cfg.heatmap_size:
            raise ValueError(f"model.heatmap_size {cfg.heatmap_size} must be the backbone output size "
                             f"{feat_size} times a power of 2")
        mid = min(256, max(2 * cfg.width, 32)) if cfg.backbone != "resnet50" else 256
        layers: list[nn.Module] = []
        for _ in range(ups):
            layers += [nn.ConvTranspose2d(cin, mid, 4, 2, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True)]
            cin = mid
        layers += [nn.Conv2d(cin, mid, 3, 1, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(mid, cfg.num_landmarks * cfg.heatmap_depth, 1)
        self.L, self.D = cfg.num_landmarks, cfg.heatmap_depth

    def forward(self, feats: Tensor) -> Tensor:
        y = self.out(self.body(feats))
        b, _, h, w = y.shape
        return y.view(b, self.L, self.D, h, w)


class Detector(nn.Module):
    """φ. forward(image (B, 3, S, S)) -> dict(xy_norm (B, L, 2), z_norm (B, L)), plus with
    ``model.depth_hypotheses`` K > 1 z_hyp_norm (B, L, K), whose hypothesis 0 is z_norm."""

    def __init__(self, cfg: ModelConfig, image_size: int):
        super().__init__()
        self.cfg = cfg
        self.backbone = build_backbone(cfg.backbone, cfg.width, INPUT_CHANNELS[cfg.input] + COORD_CHANNELS)
        if cfg.weights:
            load_backbone_weights(self.backbone, cfg.weights)
        feat = image_size // self.backbone.stride
        if feat < 1:
            raise ValueError(f"data.image_size {image_size} is too small for backbone {cfg.backbone}")
        self.head = IntegralHead(self.backbone.out_channels, feat, cfg)
        self.precision = "fp32"       # set by MaskPoseNet.set_precision (train.precision)
        h, d = cfg.heatmap_size, cfg.heatmap_depth
        g_hw = (2.0 * torch.arange(h) + 1.0) / h - 1.0
        g_d = (2.0 * torch.arange(d) + 1.0) / d - 1.0
        self.register_buffer("grid_hw", g_hw, persistent=False)
        self.register_buffer("grid_d", g_d, persistent=False)
        # Init prior: reference landmark positions (L, 3) in (x_norm, y_norm, z_norm).
        self.register_buffer("prior_mean", torch.zeros(cfg.num_landmarks, 3))
        self.log_prior_tau = nn.Parameter(torch.tensor(0.0), requires_grad=cfg.init_prior != "none")

    def set_prior(self, mean_norm: Tensor, tau_norm: float) -> None:
        """Reference pose (L, 3) in normalised units and the prior width (normalised units)."""
        if mean_norm.shape != self.prior_mean.shape:
            raise ValueError(f"prior mean must be {tuple(self.prior_mean.shape)}, got {tuple(mean_norm.shape)}")
        with torch.no_grad():
            self.prior_mean.copy_(mean_norm)
            self.log_prior_tau.fill_(math.log(tau_norm))

    def _log_prior(self) -> Tensor:
        """(L, D, H, W) Gaussian log-prior around ``prior_mean``."""
        inv = torch.exp(-2.0 * self.log_prior_tau) / 2.0
        mx, my, mz = self.prior_mean.unbind(-1)
        dx = (self.grid_hw.view(1, 1, 1, -1) - mx.view(-1, 1, 1, 1)) ** 2
        dy = (self.grid_hw.view(1, 1, -1, 1) - my.view(-1, 1, 1, 1)) ** 2
        dz = (self.grid_d.view(1, -1, 1, 1) - mz.view(-1, 1, 1, 1)) ** 2
        return -(dx + dy + dz) * inv

    def forward(self, image: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        """image (B, 3, S, S) in [0, 1]; mask (B, S, S) 0/1, needed when ``model.input`` uses it."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be (B, 3, S, S), got {tuple(image.shape)}")
        b, _, s, _ = image.shape
        planes = [] if self.cfg.input in ("mask", "image*mask") else [image]
        if self.cfg.input != "image":
            if mask is None or mask.shape != (b, s, s):
                raise ValueError(f"model.input={self.cfg.input!r} needs mask (B, S, S) = {(b, s, s)}, "
                                 f"got {None if mask is None else tuple(mask.shape)}")
            planes.append(image * mask.unsqueeze(1) if self.cfg.input == "image*mask" else mask.unsqueeze(1))
        x = torch.cat([*planes, coord_channels(b, s, image)], dim=1)
        with autocast(x.device, self.precision):                 # bf16 trunk: model/precision.py
            logits = self.head(self.backbone(x)).float()          # (B, L, D, H, W), fp32 from here
        if self.cfg.init_prior != "none":
            logits = logits + self._log_prior()
        b, l, d, h, w = logits.shape
        prob = torch.softmax(logits.reshape(b, l, -1), dim=-1).view(b, l, d, h, w)
        px = prob.sum(dim=(2, 3))                                   # (B, L, W)
        py = prob.sum(dim=(2, 4))                                   # (B, L, H)
        pz = prob.sum(dim=(3, 4))                                   # (B, L, D)
        xy = torch.stack([(px * self.grid_hw).sum(-1), (py * self.grid_hw).sum(-1)], dim=-1)
        if self.cfg.depth_hypotheses == 1:
            return {"xy_norm": xy, "z_norm": (pz * self.grid_d).sum(-1)}
        z_hyp = depth_hypotheses(pz, self.grid_d, self.cfg.depth_hypotheses)    # (B, L, K)
        return {"xy_norm": xy, "z_norm": z_hyp[..., 0], "z_hyp_norm": z_hyp}

    def lift(self, xy_norm: Tensor, z_norm: Tensor, K: Tensor, root_depth_mm: Tensor,
             image_size: int) -> Tensor:
        """(B, L, 2), (B, L), K (B, 3, 3), root depth (B,) -> camera mm (B, L, 3)."""
        depth = root_depth_mm.unsqueeze(-1) + z_norm * self.cfg.depth_range_mm
        return unproject_pixels(normalized_to_pixels(xy_norm, image_size), depth, K)
