"""Where does a trained network lose articulation? Per-joint Procrustes error against the untrained net.

    .venv/bin/python tools/articulation_probe.py [CHECKPOINT ...] [--profile quick] [--moments 400]
                                                 [--seed 0] [--data-root DIR]

Builds the profile's network with its init prior (the template, T) and no training, then loads
each checkpoint (``checkpoints/<run>/plain/state.pt``, or ``.../checkpoint_epoch<NNNN>/state.pt``
with Ray workers), and prints for each on evenly spread validation moments of the profile's
cmu-mv4 build (every view):

* P-MPJPE and MPJPE † (mm), the mean joint-to-root spread (mm);
* the Procrustes-aligned error per joint (mm): which joints training moved away from the truth;
* each tree bone's share of the summed bone length over the ground truth's share (1 = right
  proportions; the neck, for instance, shrinks to a fraction in a folded pose).

It also scores an oracle that is not a method: the upright template turned about the vertical
to each moment's true yaw (from the ground-truth hips). A network that had learnt only which way
each body faces, and kept the template's articulation, would score about that.

A diagnostic, not a study: nothing is logged to MLflow. docs/method-notes.md §4 ("Training loses
the template's articulation") cites its numbers at the quick profile.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from maskpose_core import metrics as M
from maskpose_core.config import PROFILES, profile_config
from maskpose_core.data.registry import load_data
from maskpose_core.loss.structure import bone_lengths, spread_mm
from maskpose_core.skeleton import JOINT_NAMES, NUM_JOINTS, TEMPLATE_MM, TREE_BONES
from maskpose_core.train.checkpoint import load_checkpoint, model_from_checkpoint
from maskpose_core.train.evaluate import predict_split
from maskpose_core.train.fit import build_model

UNTRAINED = "untrained (init prior only)"
ORACLE = "oracle (not a method), the template turned to the true yaw"


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


def score_poses(pred_mm: torch.Tensor, gt_mm: torch.Tensor) -> dict[str, torch.Tensor]:
    """Scores of predictions (N, J, 3) against the truth (N, J, 3), both camera-frame mm:
    p_mpjpe_mm, mpjpe_flip_mm, spread_mm (scalars), per_joint_mm (J,) Procrustes-aligned error,
    bone_share_ratio (16,) each tree bone's share over the truth's."""
    per_joint = (M.procrustes_align(pred_mm, gt_mm) - gt_mm).norm(dim=-1).mean(0)          # (J,)
    return {"p_mpjpe_mm": per_joint.mean(), "mpjpe_flip_mm": M.mpjpe_flip(pred_mm, gt_mm).mean(),
            "spread_mm": torch.as_tensor(spread_mm(pred_mm)), "per_joint_mm": per_joint,
            "bone_share_ratio": bone_shares(pred_mm) / bone_shares(gt_mm), "count": torch.tensor(len(pred_mm))}


def predictions(net, val, moments: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The network's joints and the truth on ``moments`` evenly spread validation moments
    (0 = all), every view: two (N·C, J, 3) camera-frame mm, float64."""
    net.eval()
    with torch.no_grad():
        out = predict_split(net, val, max_samples=moments)
    pred = out["joints_cam_mm"][:, :, :NUM_JOINTS].flatten(0, 1).double()
    return pred, out["gt_cam_mm"].flatten(0, 1).double()


def print_score(name: str, s: dict[str, torch.Tensor]) -> None:
    print(f"{name}: P-MPJPE {s['p_mpjpe_mm']:.1f} mm, MPJPE † {s['mpjpe_flip_mm']:.1f} mm, "
          f"spread {s['spread_mm']:.0f} mm ({int(s['count'])} predictions)")
    print("  per joint (mm): " + " ".join(f"{n}:{v:.0f}" for n, v in zip(JOINT_NAMES, s["per_joint_mm"].tolist())))
    print("  bone share / truth's: " + " ".join(
        f"{JOINT_NAMES[c]}:{r:.2f}" for (_, c), r in zip(TREE_BONES, s["bone_share_ratio"].tolist())))


def main(argv=None) -> dict[str, dict[str, torch.Tensor]]:
    """Print the scores (see the module docstring); returns them by name: the untrained net,
    the oracle, then each checkpoint by its path."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="*")
    ap.add_argument("--profile", choices=PROFILES, default="quick", help="the data build and the untrained net")
    ap.add_argument("--moments", type=int, default=400, help="validation moments (0 = all)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the untrained net (its config's seed)")
    ap.add_argument("--data-root", default="", help="built data (default $MASKPOSE_DATA or <project>/data)")
    args = ap.parse_args(argv)
    if args.moments < 0:
        ap.error(f"--moments must be >= 0 (0 = all), got {args.moments}")
    cfg = replace(profile_config(args.profile), seed=args.seed)
    data = load_data(cfg.data, root=args.data_root or None, progress=False)
    pred, gt = predictions(build_model(cfg, data), data.val, args.moments)
    scores = {UNTRAINED: score_poses(pred, gt)}
    rel = gt - gt[:, :1]
    oracle = oracle_yaw_template(rel)
    scores[ORACLE] = {"mpjpe_flip_mm": M.mpjpe_flip(oracle, rel).mean(), "p_mpjpe_mm": M.p_mpjpe(oracle, rel).mean()}
    print_score(UNTRAINED, scores[UNTRAINED])
    print(f"{ORACLE}: MPJPE † {scores[ORACLE]['mpjpe_flip_mm']:.1f} mm, "
          f"P-MPJPE {scores[ORACLE]['p_mpjpe_mm']:.1f} mm")
    for path in args.checkpoints:
        net = model_from_checkpoint(load_checkpoint(path))[0]
        scores[path] = score_poses(*predictions(net, data.val, args.moments))
        print_score(path, scores[path])
    return scores


if __name__ == "__main__":
    main()
