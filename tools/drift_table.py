"""The drift gate of issue 31 for every term set: how far each label-free term set moves the
ground-truth pose, and how much it lowers MPJPE † from the template (tools/loss_probe.py, twice).

    .venv/bin/python tools/drift_table.py [--profile quick] [--moments 16] [--steps 150]
                                          [--psi zoo:stage1-seed0] [--sets NAME ...] [--out FILE.md]

Each named term set (:data:`TERM_SETS`: overrides of the shipped stage 2, the studies' TWO_STAGE,
whose structure priors stay on) is probed from the truth (``gt``: the drift, mm MPJPE †, and
its P-MPJPE, the articulation part of it, and the three joints that move most) and from the template (``template``: the share of the start's
MPJPE † the terms remove). The gate: drift ≤ 20 mm and, from the template, ≥ 30 % lower — a
flat term drifts nowhere and teaches nothing. Val moments, no network: a diagnostic, nothing is
logged to MLflow. Prints a markdown table (and writes it to ``--out``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loss_probe import PoseLoss, frozen_physique, optimise, probe_batch, start_pose  # noqa: E402

from maskpose_core import metrics as M  # noqa: E402
from maskpose_core.config import PROFILES, apply_overrides, profile_config  # noqa: E402
from maskpose_core.data.registry import load_data  # noqa: E402
from maskpose_core.skeleton import JOINT_NAMES  # noqa: E402

DRIFT_GATE_MM, TEMPLATE_GAIN_GATE = 20.0, 0.30
# The shipped stage 2's loss (studies/definitions.TWO_STAGE without its budget and recipe keys):
# no template, no multi-view term; skeleton, physique, coverage, extremity, symmetry, limb ratios.
SHIPPED = {"model.init_prior": "none", "loss.template_weight": 0.0, "loss.triangulation_weight": 0.0,
           "loss.consistency_weight": 0.0}
OFF = {"loss.lambda_s": 0.0, "loss.lambda_p": 0.0, "loss.coverage_weight": 0.0, "loss.extremity_weight": 0.0}
TERM_SETS: dict[str, dict] = {
    "shipped (skeleton, physique, coverage, extremity)": {},
    "skeleton only": {**OFF, "loss.lambda_s": 1.0},
    "physique only": {**OFF, "loss.lambda_p": 1.0},
    "coverage only": {**OFF, "loss.coverage_weight": 1.0},
    "authors' (skeleton, physique 0.02; G off)": {**OFF, "loss.lambda_s": 0.02, "loss.lambda_p": 0.02,
                                                  "loss.geodesic": False},
    "bone outside share only": {**OFF, "loss.bone_outside_weight": 1.0},
    "bone outside share + physique": {**OFF, "loss.bone_outside_weight": 1.0, "loss.lambda_p": 1.0},
    "shipped, thinner arms (×0.25)": {"loss.arm_sigma_factor": 0.25},
    "shipped, masks in similarity scope": {"loss.mask_scope": "similarity"},
    "structure priors only": dict(OFF),
}


def worst(world: torch.Tensor, gt: torch.Tensor, k: int = 3) -> str:
    per = ((world - world[:, :1]) - (gt - gt[:, :1])).norm(dim=-1).mean(0)
    top = per.topk(k)
    return ", ".join(f"{JOINT_NAMES[i]} {v:.0f}" for v, i in zip(top.values.tolist(), top.indices.tolist()))


def probe(cfg, batch, physique, steps: int) -> dict:
    loss_of, gt = PoseLoss(cfg, batch, physique), batch["joints_world_mm"]
    drifted, _ = optimise(loss_of, start_pose("gt", batch), batch["root_world_mm"], steps)
    t0 = start_pose("template", batch)
    fitted, _ = optimise(loss_of, t0, batch["root_world_mm"], steps)
    start = float(M.mpjpe_flip(t0, gt).mean())
    end = float(M.mpjpe_flip(fitted, gt).mean())
    return {"drift": float(M.mpjpe_flip(drifted, gt).mean()), "drift_p": float(M.p_mpjpe(drifted, gt).mean()),
            "worst": worst(drifted, gt),
            "start": start, "end": end, "gain": (start - end) / start}


def main(argv=None) -> list[str]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=PROFILES, default="quick")
    ap.add_argument("--moments", type=int, default=16)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--data-root", default="")
    ap.add_argument("--psi", default="zoo:stage1-seed0", help="ψ for the physique term, frozen ('' = no ψ)")
    ap.add_argument("--sets", nargs="+", default=None, metavar="NAME", help=f"of {list(TERM_SETS)}")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    unknown = [n for n in args.sets or () if n not in TERM_SETS]
    if unknown or args.moments < 1 or args.steps < 1:
        ap.error(f"--sets must name term sets of {list(TERM_SETS)} (got {unknown}); --moments, --steps >= 1")
    try:
        physique = frozen_physique(args.psi) if args.psi else None
    except (ValueError, FileNotFoundError) as err:
        ap.error(str(err))
    base = apply_overrides(profile_config(args.profile), SHIPPED)
    batch = probe_batch(load_data(base.data, root=args.data_root or None, progress=False).val, args.moments)
    lines = [f"Drift probe ({args.profile}, {args.moments} val moments, {args.steps} Adam steps of {5} mm; ψ: "
             f"{args.psi or 'none'}). Gate: drift ≤ {DRIFT_GATE_MM:g} mm and ≥ {TEMPLATE_GAIN_GATE:.0%} lower "
             "MPJPE † from the template.", "",
             "| term set | drift from the truth: MPJPE † (mm) | … P-MPJPE (mm) | joints that move most (mm) | "
             "from the template: start → end (MPJPE †, mm) | lower by | gate |", "|---|---|---|---|---|---|---|"]
    for name in args.sets or TERM_SETS:
        cfg = apply_overrides(base, TERM_SETS[name])
        r = probe(cfg, batch, physique if cfg.loss.lambda_p > 0 else None, args.steps)
        ok = r["drift"] <= DRIFT_GATE_MM and r["gain"] >= TEMPLATE_GAIN_GATE
        lines.append(f"| {name} | {r['drift']:.1f} | {r['drift_p']:.1f} | {r['worst']} | {r['start']:.1f} → {r['end']:.1f} | "
                     f"{r['gain']:.0%} | {'pass' if ok else 'fail'} |")
        print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
