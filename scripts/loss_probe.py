"""Where does the training loss put a pose? Optimise world poses directly (no network).

    .venv/bin/python scripts/loss_probe.py gt|template [--moments 16] [--steps 150] [key=value ...]

Takes evenly spread validation moments of the quick cmu-mv4 build, starts from the ground truth
(``gt``: how far the loss's minimum lies from the truth — its bias) or from the hand-made
template facing camera 0 (``template``: what a label-free start reaches), and runs Adam on the
world joints (root held at the data set's root) against ``MaskPoseNet``'s unsupervised loss
with the given config overrides. Prints the loss at the truth and at the start, then the loss
and MPJPE († and plain, root-relative, mm) after optimising, and the error per joint.
A diagnostic, not a study: nothing is logged to MLflow.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from maskpose_core import metrics as M
from maskpose_core.config import apply_overrides, parse_overrides, profile_config
from maskpose_core.data.registry import load_data
from maskpose_core.geometry import pixels_to_normalized, project_to_pixels_soft, world_to_camera
from maskpose_core.model.net import MaskPoseNet
from maskpose_core.skeleton import JOINT_NAMES
from maskpose_core.skeleton import TEMPLATE_MM

LR_MM = 5.0   # Adam step on the joints, mm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("start", choices=("gt", "template"))
    ap.add_argument("--moments", type=int, default=16)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("overrides", nargs="*", metavar="key=value")
    args = ap.parse_intermixed_args()
    cfg = apply_overrides(profile_config("quick"), parse_overrides(args.overrides))
    val = load_data(cfg.data, progress=False).val
    idx = np.linspace(0, len(val) - 1, args.moments).round().astype(int)
    batch = torch.utils.data.default_collate([val[int(i)] for i in idx])
    net = MaskPoseNet(cfg)
    gt, views = batch["joints_world_mm"], batch["R"].shape[1]

    def loss_of(world):
        cam = world_to_camera(world[:, None].expand(-1, views, -1, -1), batch["R"], batch["t_mm"])
        xy = pixels_to_normalized(project_to_pixels_soft(cam, batch["K"]), cfg.data.image_size)
        return net._mask_terms(batch, cam, xy, cfg.loss.sigma2, False)["loss"]

    if args.start == "gt":
        w0 = gt.clone()
    else:  # template offsets in camera 0's frame, rotated into the world, at the data set's root
        tpl = torch.tensor(TEMPLATE_MM).expand(len(idx), -1, -1)
        w0 = batch["root_world_mm"][:, None] + torch.einsum("nji,nkj->nki", batch["R"][:, 0], tpl)
    with torch.no_grad():
        print(f"loss at the truth {loss_of(gt).item():.4f}, at the start {loss_of(w0).item():.4f}; "
              f"start MPJPE † {M.mpjpe_flip(w0, gt).mean():.1f} mm")
    print("start per joint: " + per_joint_text(w0, gt))
    w = w0.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=LR_MM)
    t0 = time.time()
    for _ in range(args.steps):
        loss = loss_of(w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            w[:, 0] = batch["root_world_mm"]
    w = w.detach()
    print(f"after {args.steps} steps ({time.time() - t0:.0f} s): loss {loss.item():.4f}, MPJPE † "
          f"{M.mpjpe_flip(w, gt).mean():.1f} mm, MPJPE {M.mpjpe(w, gt).mean():.1f} mm")
    print("end per joint:   " + per_joint_text(w, gt))


def per_joint_text(world_mm: torch.Tensor, gt_mm: torch.Tensor) -> str:
    """Root-relative error per joint (mm), averaged over the moments."""
    per_joint = ((world_mm - world_mm[:, :1]) - (gt_mm - gt_mm[:, :1])).norm(dim=-1).mean(0)
    return " ".join(f"{n}:{v:.0f}" for n, v in zip(JOINT_NAMES, per_joint.tolist()))


if __name__ == "__main__":
    main()
