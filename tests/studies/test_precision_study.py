"""studies/precision.py: its compiled REFERENCE rows are Table 3's runs, every row differs from
its fp32 baseline only in the variant's keys, and the paired verdict is computed by hand here."""
from __future__ import annotations

import pandas as pd

from studies.definitions import TABLE3_STUDY
from studies.runner.plan import plan_study


def test_rows_differ_from_fp32_only_in_their_variant_and_the_compiled_reference_is_table3s(load_study):
    import dataclasses
    study = load_study("precision")["STUDY"]
    plan = {(p.row.name, p.seed): p for p in plan_study(study, profile="quick")}
    t3 = {(p.row.name, p.seed): p.hash for p in plan_study(TABLE3_STUDY, profile="quick", seeds=3)}
    for seed in range(3):
        # the studies compile: Table 3's supervised reference (3 × 80 steps) is the compiled row
        assert plan[("REFERENCE, fp32 + compile", seed)].hash == t3[("supervised reference", seed)]
        for label in ("REFERENCE", "Full"):
            fp32 = plan[(f"{label}, fp32", seed)].cfg
            assert not fp32.train.compile and fp32.train.precision == "fp32"
            assert fp32.train.epochs * fp32.train.steps_per_epoch == 240         # parity at 3 × 80 steps
            bf16 = plan[(f"{label}, bf16", seed)].cfg
            assert bf16 == dataclasses.replace(fp32, train=dataclasses.replace(fp32.train, precision="bf16"))
            compiled = plan[(f"{label}, fp32 + compile", seed)].cfg
            assert compiled == dataclasses.replace(fp32, train=dataclasses.replace(fp32.train, compile=True))


def test_paired_differences_by_hand(load_study):
    paired = load_study("precision")["paired_differences"]
    rows = []
    # Full: bf16 − fp32 = +1, −1, +0.5 (mean 0.17, std 1.04): parity; REFERENCE: +3, +3.5, +2.5 (mean 3.0 ± 0.5): not
    for seed, (f32, b16) in enumerate([(200.0, 201.0), (210.0, 209.0), (205.0, 205.5)]):
        rows += [{"row": "Full, fp32", "seed": seed, "MPJPE † (mm)": f32, "P-MPJPE (mm)": f32 - 20},
                 {"row": "Full, bf16", "seed": seed, "MPJPE † (mm)": b16, "P-MPJPE (mm)": b16 - 20}]
    for seed, d in enumerate([3.0, 3.5, 2.5]):
        rows += [{"row": "REFERENCE, fp32", "seed": seed, "MPJPE † (mm)": 150.0, "P-MPJPE (mm)": 140.0},
                 {"row": "REFERENCE, bf16", "seed": seed, "MPJPE † (mm)": 150.0 + d, "P-MPJPE (mm)": 140.0 + d}]
    text = "\n".join(paired(pd.DataFrame(rows)))
    # the compile rows are absent: not measured, so no parity is claimed for them
    assert "| fp32 + compile | Full | MPJPE † (mm) | 0 pair(s) | — | not measured |" in text
    assert "**fp32 + compile: parity does not hold**" in text
    # compile − fp32 = +0.5, −0.5, +0.1 on both rows and metrics (mean 0.03 ± 0.50): parity
    for seed, d in enumerate([0.5, -0.5, 0.1]):
        for label, base in (("Full", 200.0), ("REFERENCE", 150.0)):
            fp32 = next(r for r in rows if r["row"] == f"{label}, fp32" and r["seed"] == seed)
            rows.append({"row": f"{label}, fp32 + compile", "seed": seed, "MPJPE † (mm)": fp32["MPJPE † (mm)"] + d,
                         "P-MPJPE (mm)": fp32["P-MPJPE (mm)"] + d})
    text = "\n".join(paired(pd.DataFrame(rows)))
    assert "| fp32 + compile | REFERENCE | P-MPJPE (mm) | +0.5, -0.5, +0.1 | +0.0 ± 0.5 | yes |" in text
    assert "**fp32 + compile: parity holds** for every row and metric" in text
    assert "| bf16 | Full | MPJPE † (mm) | +1.0, -1.0, +0.5 | +0.2 ± 1.0 | yes |" in text
    assert "| bf16 | REFERENCE | MPJPE † (mm) | +3.0, +3.5, +2.5 | +3.0 ± 0.5 | NO |" in text
    assert "**bf16: parity does not hold** for: REFERENCE / MPJPE † (mm); REFERENCE / P-MPJPE (mm)." in text
