"""Where does a trained network lose articulation? Per-joint Procrustes error against the untrained net.

    .venv/bin/python scripts/articulation_probe.py [CHECKPOINT ...] [--moments 400] [--seed 0]

Builds the quick profile's network with its init prior (the template, T) and no training, then
loads each checkpoint (``checkpoints/<run>/plain/state.pt`` or a ``final.pt``), and prints for
each on evenly spread validation moments of the quick cmu-mv4 build (every view):

* P-MPJPE and MPJPE † (mm), the mean joint-to-root spread (mm);
* the Procrustes-aligned error per joint (mm): which joints training moved away from the truth;
* each tree bone's share of the summed bone length over the ground truth's share (1 = right
  proportions; the neck, for instance, shrinks to a fraction in a folded pose).

It also scores an oracle that is not a method: the upright template turned about the vertical
to each moment's true yaw (from the ground-truth hips). A network that had learnt only which way
each body faces, and kept the template's articulation, would score about that.

A diagnostic, not a study: nothing is logged to MLflow. The README's "Training loses the
template's articulation" numbers come from it.
"""
from __future__ import annotations

import argparse

import torch

from maskpose_core import metrics as M
from maskpose_core.config import profile_config
from maskpose_core.data.registry import load_data
from maskpose_core.loss.structure import bone_lengths, spread_mm
from maskpose_core.skeleton import JOINT_NAMES, NUM_JOINTS, TREE_BONES
from maskpose_core.train.checkpoint import load_checkpoint, model_from_checkpoint
from maskpose_core.train.evaluate import predict_split
from maskpose_core.train.fit import build_model
from maskpose_core.skeleton import TEMPLATE_MM


def bone_shares(joints_mm: torch.Tensor) -> torch.Tensor:
    """(N, J, 3) -> (16,) mean share of each tree bone in the summed tree-bone length."""
    lengths = bone_lengths(joints_mm, TREE_BONES)
    return (lengths / lengths.sum(-1, keepdim=True)).mean(0)


def oracle_yaw_template(gt_mm: torch.Tensor) -> torch.Tensor:
    """(N, J, 3) root-relative camera-frame truth -> (N, J, 3) the template (facing the camera,
    right hip at −x) turned about the camera's y axis so its hips point like the truth's."""
    hips = gt_mm[:, 4] - gt_mm[:, 1]                                             # right -> left hip
    yaw = torch.atan2(hips[:, 2], hips[:, 0])
    c, s = torch.cos(yaw), torch.sin(yaw)
    R = torch.zeros(len(gt_mm), 3, 3, dtype=gt_mm.dtype)
    R[:, 0, 0], R[:, 0, 2], R[:, 1, 1], R[:, 2, 0], R[:, 2, 2] = c, -s, 1.0, s, c
    return torch.einsum("nij,kj->nki", R, torch.tensor(TEMPLATE_MM, dtype=gt_mm.dtype))


def report(name: str, net, val, moments: int) -> torch.Tensor:
    """Print the network's scores; returns the ground truth it was scored on (N·C, J, 3)."""
    net.eval()
    with torch.no_grad():
        out = predict_split(net, val, max_samples=moments)
    pred = out["joints_cam_mm"][:, :, :NUM_JOINTS].flatten(0, 1).double()       # (N·C, J, 3)
    gt = out["gt_cam_mm"].flatten(0, 1).double()
    per_joint = (M.procrustes_align(pred, gt) - gt).norm(dim=-1).mean(0)        # (J,)
    print(f"{name}: P-MPJPE {per_joint.mean():.1f} mm, MPJPE † {M.mpjpe_flip(pred, gt).mean():.1f} mm, "
          f"spread {spread_mm(pred):.0f} mm ({len(pred)} predictions)")
    print("  per joint (mm): " + " ".join(f"{n}:{v:.0f}" for n, v in zip(JOINT_NAMES, per_joint.tolist())))
    ratio = bone_shares(pred) / bone_shares(gt)
    print("  bone share / truth's: "
          + " ".join(f"{JOINT_NAMES[c]}:{r:.2f}" for (_, c), r in zip(TREE_BONES, ratio.tolist())))
    return gt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="*")
    ap.add_argument("--moments", type=int, default=400, help="validation moments (0 = all)")
    ap.add_argument("--seed", type=int, default=0, help="torch seed of the untrained net")
    args = ap.parse_args()
    cfg = profile_config("quick")
    data = load_data(cfg.data, progress=False)
    torch.manual_seed(args.seed)
    gt = report("untrained (init prior only)", build_model(cfg, data), data.val, args.moments)
    rel = gt - gt[:, :1]
    oracle = oracle_yaw_template(rel)
    print(f"oracle (not a method), the template turned to the true yaw: MPJPE † "
          f"{M.mpjpe_flip(oracle, rel).mean():.1f} mm, P-MPJPE {M.p_mpjpe(oracle, rel).mean():.1f} mm")
    for path in args.checkpoints:
        net = model_from_checkpoint(load_checkpoint(path))[0]
        report(path, net, data.val, args.moments)


if __name__ == "__main__":
    main()
