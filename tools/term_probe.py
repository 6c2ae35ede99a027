"""Which way does each loss term pull a trained detector? Per term and per joint, on val.

    python tools/term_probe.py --checkpoint PATH [--profile quick] [--samples 128] [key=value ...]

For the network in PATH (e.g. a stage-1 checkpoint) on ``--samples`` val moments of the
target (its labels are read here, for diagnosis only: val is where choices are made):

* **loss at the truth vs at the prediction**, per term and per sample: a term whose value
  is lower at the prediction than at the ground truth prefers the wrong answer there;
* **pull**, per term and per joint: the cosine between the term's descent direction on a
  joint (−∂term/∂joint, camera x and y: the image-plane directions) and the direction from
  the prediction to the truth; > 0 pulls the joint towards the truth, < 0 away.

Prints one markdown table per measure. Terms are the objective's (loss/objective.py); the
render settings are those of the checkpoint's loss config unless overridden.
"""
from __future__ import annotations

import argparse
import sys

import torch

from maskpose_core.config import apply_overrides, parse_overrides, profile_config
from maskpose_core.data.registry import load_data
from maskpose_core.loss.objective import MaskObjective
from maskpose_core.skeleton import JOINT_NAMES, NUM_JOINTS
from maskpose_core.train.checkpoint import load_checkpoint, model_from_checkpoint


def _terms_at(obj: MaskObjective, net, batch, joints_cam, xy, sigma2):
    """{term: per-sample value (B,)} at the given predictions (every active term)."""
    out = {}
    for b in range(joints_cam.shape[0]):
        one = {k: v[b:b + 1] for k, v in batch.items()}
        r = obj.render(one, joints_cam[b:b + 1], xy[b:b + 1], sigma2=sigma2, physique=net.physique, physique_on=True)
        for term in obj.active_terms(has_physique=net.physique is not None, multi_view=True):
            out.setdefault(term.name, []).append(float(term.fn(r, obj.cfg, obj).detach()))
    return {k: torch.tensor(v) for k, v in out.items()}


def _pull(obj: MaskObjective, net, batch, joints_cam, xy, gt_cam, sigma2):
    """{term: (J,) mean cosine of −∂term/∂joint with (truth − prediction)}, in the camera's x, y
    (the image-plane directions at the joint's depth), every view's prediction of every moment."""
    out = {}
    for term in obj.active_terms(has_physique=net.physique is not None, multi_view=True):
        cam = joints_cam.detach().clone().requires_grad_(True)
        r = obj.render(batch, cam, xy.detach(), sigma2=sigma2, physique=net.physique, physique_on=True)
        grad, = torch.autograd.grad(term.fn(r, obj.cfg, obj), cam, allow_unused=True)
        if grad is None:           # a term with no gradient into the joints
            continue
        g = -grad[..., :NUM_JOINTS, :2]
        want = (gt_cam - joints_cam.detach())[..., :NUM_JOINTS, :2]
        cos = (g * want).sum(-1) / (g.norm(dim=-1) * want.norm(dim=-1)).clamp_min(1e-12)
        moving = g.norm(dim=-1) > 1e-12
        out[term.name] = (cos * moving).flatten(0, 1).sum(0) / moving.flatten(0, 1).sum(0).clamp_min(1)
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--profile", default="quick", choices=("smoke", "quick", "paper"))
    p.add_argument("--samples", type=int, default=128)
    p.add_argument("--data-root", default="", help="built-data root (default: the project's data/)")
    p.add_argument("overrides", nargs="*", help="loss.* overrides of the terms' settings")
    args = p.parse_args(argv)
    if args.samples < 1:
        p.error("--samples must be >= 1")
    state = load_checkpoint(args.checkpoint)
    net, ckpt_cfg = model_from_checkpoint(state)
    over = parse_overrides(args.overrides)
    cfg = profile_config(args.profile)                                   # the target's val split
    loss_cfg = apply_overrides(ckpt_cfg, over).loss                      # the terms as configured
    obj = MaskObjective(loss_cfg, image_size=cfg.data.image_size, num_landmarks=ckpt_cfg.model.num_landmarks)
    data = load_data(cfg.data, root=args.data_root or None, progress=False)
    loader = torch.utils.data.DataLoader(data.val, batch_size=args.samples)
    batch = next(iter(loader))
    with torch.no_grad():
        hyps, xy = net.predict_views(batch)
        joints_cam = hyps[0]
    gt_cam, gt_xy = batch["joints_cam_mm"], batch["joints_2d_norm"]
    sigma2 = loss_cfg.sigma2
    at_pred = _terms_at(obj, net, batch, joints_cam, xy, sigma2)
    at_gt = _terms_at(obj, net, batch, gt_cam, gt_xy, sigma2)
    _print(args, gt_cam, at_pred, at_gt, _pull(obj, net, batch, joints_cam, xy, gt_cam, sigma2))
    return {"at_truth": {k: float(v.mean()) for k, v in at_gt.items()},
            "at_prediction": {k: float(v.mean()) for k, v in at_pred.items()}}


def _print(args, gt_cam, at_pred, at_gt, pull) -> None:
    print(f"# term probe: {args.checkpoint}, {len(gt_cam)} val moments × {gt_cam.shape[1]} views\n")
    print("| term | loss at truth | loss at prediction | samples preferring the truth |")
    print("|---|---|---|---|")
    for name in at_pred:
        prefers = float((at_gt[name] < at_pred[name]).float().mean()) * 100
        print(f"| {name} | {at_gt[name].mean():.4f} | {at_pred[name].mean():.4f} | {prefers:.0f} % |")
    print("\n| term | " + " | ".join(JOINT_NAMES) + " | mean |")
    print("|---|" + "---|" * (NUM_JOINTS + 1))
    for name, cos in pull.items():
        print(f"| {name} | " + " | ".join(f"{c:+.2f}" for c in cos.tolist()) + f" | {cos.mean():+.2f} |")


if __name__ == "__main__":
    main()
    sys.exit(0)
