"""Where does the training loss put a pose? Optimise world poses directly (no network).

    .venv/bin/python tools/loss_probe.py gt|template [--profile quick] [--moments 16] [--steps 150]
                                         [--data-root DIR] [--psi zoo:stage1-seed0] [key=value ...]

Takes evenly spread validation moments of the profile's cmu-mv4 build, starts from the ground
truth (``gt``: how far the loss's minimum lies from the truth — its bias) or from the hand-made
template facing camera 0 (``template``: what a label-free start reaches), and runs Adam on the
world joints (root held at the data set's root) against the label-free objective
(:meth:`maskpose_core.loss.objective.MaskObjective.mask_terms`) of the config with the given
overrides. ψ is left out unless ``--psi`` names a trained one (a checkpoint or a zoo entry: the
stage-2 start, calibrated on the pseudo images), which is then frozen: an untrained ψ would
only add noise to the comparison of poses. Prints the loss at the truth and
at the start, then the loss and MPJPE († and plain, root-relative, mm) after optimising, and the
error per joint.

A diagnostic, not a study: nothing is logged to MLflow. docs/method-notes.md §3 ("The loss
probe") and §7 cite its numbers at the quick profile.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from maskpose_core import metrics as M
from maskpose_core.config import PROFILES, ExperimentConfig, apply_overrides, parse_overrides, profile_config
from maskpose_core.data.registry import load_data
from maskpose_core.geometry import pixels_to_normalized, project_to_pixels_soft, world_to_camera
from maskpose_core.loss.objective import MaskObjective
from maskpose_core.skeleton import JOINT_NAMES, NUM_JOINTS, TEMPLATE_MM

LR_MM = 5.0   # Adam step on the joints, mm
STARTS = ("gt", "template")


def probe_batch(val, moments: int) -> dict[str, torch.Tensor]:
    """``moments`` evenly spread moments of a split, collated: joints_world_mm (N, J, 3), R (N, C, 3, 3), …"""
    idx = np.linspace(0, len(val) - 1, moments).round().astype(int)
    return torch.utils.data.default_collate([val[int(i)] for i in idx])


class PoseLoss:
    """The label-free loss of world poses: ``PoseLoss(cfg, batch)(world_mm)`` with world_mm
    (N, J, 3) → () the weighted sum of the objective's mask terms for every view; with ``physique``
    (a trained ψ, frozen) the physique term too, else no ψ."""

    def __init__(self, cfg: ExperimentConfig, batch: dict[str, torch.Tensor], physique: torch.nn.Module | None = None):
        self.batch, self.cfg, self.physique = batch, cfg, physique
        self.objective = MaskObjective(cfg.loss, image_size=cfg.data.image_size, num_landmarks=NUM_JOINTS)

    def terms(self, world_mm: torch.Tensor) -> dict[str, torch.Tensor]:
        b = self.batch
        views = b["R"].shape[1]
        cam = world_to_camera(world_mm[:, None].expand(-1, views, -1, -1), b["R"], b["t_mm"])   # (N, C, J, 3)
        xy = pixels_to_normalized(project_to_pixels_soft(cam, b["K"]), self.cfg.data.image_size)
        return self.objective.mask_terms(b, cam, xy, sigma2=self.cfg.loss.sigma2, physique=self.physique,
                                         physique_on=self.physique is not None)

    def __call__(self, world_mm: torch.Tensor) -> torch.Tensor:
        return self.terms(world_mm)["loss"]


def frozen_physique(where: str) -> torch.nn.Module:
    """ψ of a maskpose checkpoint (a file, or ``zoo:<entry>``), in eval mode and frozen: the body
    model the probe's physique term renders with (ValueError when the checkpoint has none)."""
    from maskpose_core.train.checkpoint import load_checkpoint, model_from_checkpoint
    from maskpose_core.train.zoo import resolve_init
    net, _ = model_from_checkpoint(load_checkpoint(resolve_init(where)))
    if net.physique is None:
        raise ValueError(f"--psi {where}: the checkpoint has no ψ (model.physique was off)")
    for p in net.physique.parameters():
        p.requires_grad_(False)
    return net.physique.eval()


def start_pose(kind: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N, J, 3) world mm: the truth, or the template's offsets in camera 0's frame rotated
    into the world, at the data set's root."""
    if kind == "gt":
        return batch["joints_world_mm"].clone()
    tpl = torch.tensor(TEMPLATE_MM).expand(len(batch["R"]), -1, -1)
    return batch["root_world_mm"][:, None] + torch.einsum("nji,nkj->nki", batch["R"][:, 0], tpl)


def optimise(loss_of: PoseLoss, w0: torch.Tensor, root_mm: torch.Tensor, steps: int) -> tuple[torch.Tensor, float]:
    """Adam on the joints from ``w0`` (N, J, 3), the root held at ``root_mm`` (N, 3): the end
    pose and the loss of the last step (nan for 0 steps)."""
    w = w0.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=LR_MM)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        loss = loss_of(w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            w[:, 0] = root_mm
    return w.detach(), float(loss.detach())


def per_joint_text(world_mm: torch.Tensor, gt_mm: torch.Tensor) -> str:
    """Root-relative error per joint (mm), averaged over the moments."""
    per_joint = ((world_mm - world_mm[:, :1]) - (gt_mm - gt_mm[:, :1])).norm(dim=-1).mean(0)
    return " ".join(f"{n}:{v:.0f}" for n, v in zip(JOINT_NAMES, per_joint.tolist()))


def main(argv=None) -> dict[str, float]:
    """Print the probe (see the module docstring); returns its numbers: loss_gt, loss_start,
    loss_end, start_mpjpe_flip_mm, end_mpjpe_flip_mm, end_mpjpe_mm."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("start", choices=STARTS)
    ap.add_argument("--profile", choices=PROFILES, default="quick", help="the data build and the base config")
    ap.add_argument("--moments", type=int, default=16)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--data-root", default="", help="built data (default $MASKPOSE_DATA or <project>/data)")
    ap.add_argument("--psi", default="", help="ψ of this checkpoint or zoo:<entry>, frozen (default: no ψ)")
    ap.add_argument("overrides", nargs="*", metavar="key=value")
    args = ap.parse_intermixed_args(argv)
    if args.moments < 1 or args.steps < 0:
        ap.error(f"--moments must be >= 1 and --steps >= 0, got {args.moments}, {args.steps}")
    try:
        cfg = apply_overrides(profile_config(args.profile), parse_overrides(args.overrides))
    except ValueError as err:
        ap.error(str(err))
    try:
        physique = frozen_physique(args.psi) if args.psi else None
    except (ValueError, FileNotFoundError) as err:
        ap.error(str(err))
    batch = probe_batch(load_data(cfg.data, root=args.data_root or None, progress=False).val, args.moments)
    loss_of, gt = PoseLoss(cfg, batch, physique), batch["joints_world_mm"]
    w0 = start_pose(args.start, batch)
    with torch.no_grad():
        out = {"loss_gt": float(loss_of(gt)), "loss_start": float(loss_of(w0)),
               "start_mpjpe_flip_mm": float(M.mpjpe_flip(w0, gt).mean())}
    print(f"loss at the truth {out['loss_gt']:.4f}, at the start {out['loss_start']:.4f}; "
          f"start MPJPE † {out['start_mpjpe_flip_mm']:.1f} mm")
    print("start per joint: " + per_joint_text(w0, gt))
    t0 = time.time()
    w, out["loss_end"] = optimise(loss_of, w0, batch["root_world_mm"], args.steps)
    out.update(end_mpjpe_flip_mm=float(M.mpjpe_flip(w, gt).mean()), end_mpjpe_mm=float(M.mpjpe(w, gt).mean()))
    print(f"after {args.steps} steps ({time.time() - t0:.0f} s): loss {out['loss_end']:.4f}, MPJPE † "
          f"{out['end_mpjpe_flip_mm']:.1f} mm, MPJPE {out['end_mpjpe_mm']:.1f} mm")
    print("end per joint:   " + per_joint_text(w, gt))
    return out


if __name__ == "__main__":
    main()
