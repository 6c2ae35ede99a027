"""K depth hypotheses per landmark (``model.depth_hypotheses``; the authors' ``num_hypo``).

A landmark's depth marginal p(z) (the integral volume summed over H and W) can have more
than one mode: a limb in front of or behind the body projects to the same pixels, so a
mask- or image-supervised detector may put mass at both depths. The soft-argmax (K = 1, the
default) returns the *mean* of p(z), which lands between two modes, on neither. With
K > 1 each landmark gets K depths, one per local peak of p(z):

* **peaks** — bin d is a local peak when p[d] >= both neighbours (the volume's first and last
  bins compare with their one neighbour). The K highest peaks are taken, highest first;
  a marginal with fewer than K peaks fills the remaining slots with its highest other bins
  (the authors' ``find_peak`` fills them with arbitrary zero-height bins instead).
* **depth per peak** — the expectation of z over a window of ``window_bins(D)`` bins
  centred on the peak, renormalised within the window: differentiable in p, like the
  soft-argmax, but local to one mode. The window is the authors' 15 of 64 bins, scaled to D
  and made odd (3 bins at D = 16).
* **hypothesis 0** (the highest peak) is the prediction: strict and † metrics, figures and
  every inference use it (the authors' ``confident`` mode). Only the oracle-assisted
  protocol looks at the others (per joint, against the ground truth).

How a loss takes the minimum over hypotheses: **per batch**, as the authors' code does
(``torch.min(torch.stack(losses))`` in ``modules/model.py``): hypothesis k of every landmark
forms the k-th pose, each pose's whole loss is computed, and the smallest counts. A
per-sample or per-joint minimum is not possible for a rendered loss whose terms are batch
means coupling every joint (the skeleton mask draws all bones at once); see
``MaskPoseNet.forward``. Only depth differs between hypotheses: the own-view skeleton mask
(x, y only) is the same for every k, the cross-view renders, the 3D structure priors and
the supervised 3D term are not.

Shapes: B images, L landmarks, D depth bins, K hypotheses.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

AUTHORS_WINDOW = (15, 64)      # neighbor_size 15 over depth_dim 64 (config/HM36_Multi_SurS2.yaml)


def window_bins(depth_bins: int) -> int:
    """The odd window (in bins) around a peak over which its depth is averaged."""
    return max(3, (depth_bins * AUTHORS_WINDOW[0] // AUTHORS_WINDOW[1]) | 1)


def peak_indices(pz: Tensor, k: int) -> Tensor:
    """pz (B, L, D) >= 0 -> (B, L, K) bin indices of the K highest local peaks, highest first
    (bins that are not peaks rank below every peak, by height)."""
    if k < 1 or k > pz.shape[-1]:
        raise ValueError(f"K depth hypotheses must be in 1..D = {pz.shape[-1]}, got {k}")
    pad = F.pad(pz, (1, 1), value=float("-inf"))
    is_peak = (pz >= pad[..., :-2]) & (pz >= pad[..., 2:])
    score = torch.where(is_peak, pz, pz - 2.0)             # p <= 1: every peak outranks every non-peak
    return score.topk(k, dim=-1).indices


def depth_hypotheses(pz: Tensor, grid_d: Tensor, k: int) -> Tensor:
    """pz (B, L, D) the depth marginal, grid_d (D,) bin centres -> z (B, L, K): per peak the
    window-renormalised expectation of z, hypothesis 0 at the highest peak."""
    d = pz.shape[-1]
    w = window_bins(d)
    idx = peak_indices(pz.detach(), k)                                            # (B, L, K)
    flat = pz.reshape(-1, 1, d)
    mass = F.avg_pool1d(flat, w, stride=1, padding=w // 2, count_include_pad=True).view_as(pz)
    moment = F.avg_pool1d(flat * grid_d, w, stride=1, padding=w // 2, count_include_pad=True).view_as(pz)
    return torch.gather(moment, -1, idx) / torch.gather(mass, -1, idx).clamp_min(1e-12)


def min_over_hypotheses(losses: list[Tensor]) -> tuple[Tensor, int]:
    """The per-batch minimum of K scalar losses (with the graph of the smallest) and its index."""
    stacked = torch.stack(losses)
    best = int(stacked.detach().argmin())
    return losses[best], best
