"""studies/recipe.py's headline section: the gap, the masks' paired gain, its share and the
two bars, computed by hand here."""
from __future__ import annotations

import pandas as pd


def _rows(name: str, values: list[float], p_values: list[float]) -> list[dict]:
    return [{"row": name, "seed": s, "status": "FINISHED", "MPJPE † (mm)": v, "P-MPJPE (mm)": p,
             "2D † (% crop)": 8.0} for s, (v, p) in enumerate(zip(values, p_values))]


def test_headline_by_hand(load_study):
    mod = load_study("recipe")
    rows = (_rows(mod["PSEUDO"], [250.0, 252.0, 254.0], [180.0, 180.0, 180.0])
            + _rows(mod["TARGET_REF"], [220.0, 222.0, 224.0], [160.0, 160.0, 160.0])
            # gain per seed on MPJPE †: 12, 10, 14 (mean 12 ± 2); gap 30 → 40 %; seed std 1 → bar 3 × 1 met
            + _rows(mod["OFF"], [245.0, 246.0, 247.0], [185.0, 186.0, 187.0])
            + _rows(mod["FULL"], [233.0, 236.0, 233.0], [184.0, 184.0, 186.0])
            + [{"row": mod["FULL"], "seed": 3, "status": "FAILED", "MPJPE † (mm)": 0.0}])   # not counted
    text = "\n".join(mod["headline"](pd.DataFrame(rows)))
    mp = next(line for line in text.splitlines() if line.startswith("| MPJPE †"))
    assert "| 30.0 |" in mp and "+12.0, +10.0, +14.0" in mp and "+12.0 ± 2.0" in mp and "| 40% |" in mp
    assert "| yes (≥ 3 × 1.7 needed) |" in mp           # larger seed std: Full's (233, 236, 233) = 1.73
    # P-MPJPE: gain 1, 2, 1 (mean 1.33) of a 20 mm gap = 7 %: not met
    pm = next(line for line in text.splitlines() if line.startswith("| P-MPJPE"))
    assert "| 20.0 |" in pm and "| 7% |" in pm and "| no " in pm


def test_headline_says_what_is_not_measured(load_study):
    mod = load_study("recipe")
    text = "\n".join(mod["headline"](pd.DataFrame(_rows(mod["PSEUDO"], [250.0], [180.0]))))
    assert text.count("not measured yet") == 3
