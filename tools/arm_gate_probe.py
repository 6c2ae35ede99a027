"""How often would the hidden-arm gate hold an arm joint? (val labels; a diagnostic)

    python tools/arm_gate_probe.py [--moments 400] [--margins 0 0.05 0.1 0.15] [key=value ...]

Takes evenly spaced moments of the target's val split at the quick profile and runs
``loss.mask_loss.hidden_arm_gate`` on their ground-truth 2D joints (all views): a joint is
gated where its gradient is zero. Prints, per margin (normalised crop units), the share of
elbows and wrists gated, overall and per view, as one JSON line. It reads val labels: it
describes the data; it trains nothing and chooses nothing.
"""
from __future__ import annotations

import argparse
import json
import sys

import torch

from maskpose_core.config import apply_overrides, parse_overrides, profile_config
from maskpose_core.data.registry import load_data
from maskpose_core.loss.mask_loss import GATED_ARM_JOINTS, hidden_arm_gate


def gated_share(points_norm: torch.Tensor, margin: float) -> torch.Tensor:
    """points_norm (N, C, J, 2) -> (C,) share of the arm joints that the gate detaches, per view."""
    p = points_norm.clone().requires_grad_(True)
    hidden_arm_gate(p, margin).sum().backward()
    held = (p.grad.abs().sum(-1) == 0)[..., list(GATED_ARM_JOINTS)]            # (N, C, A)
    return held.float().mean(dim=(0, 2))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moments", type=int, default=400)
    ap.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.15])
    ap.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = ap.parse_args(argv)
    if args.moments < 1:
        ap.error(f"--moments must be >= 1, got {args.moments}")
    cfg = apply_overrides(profile_config("quick"), parse_overrides(args.overrides))
    val = load_data(cfg.data, progress=False).val
    step = max(1, len(val) // args.moments)
    pts = torch.stack([torch.as_tensor(val[i]["joints_2d_norm"]) for i in range(0, len(val), step)][:args.moments])
    for m in args.margins:
        per_view = gated_share(pts.float(), m)
        print(json.dumps({"margin": m, "moments": len(pts), "gated_share": round(per_view.mean().item(), 3),
                          "per_view": [round(v, 3) for v in per_view.tolist()]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
