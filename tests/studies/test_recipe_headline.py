"""studies/recipe.py's headline section: the gap, the masks' paired gain with its 95 % CI, and each
bar's verdict, computed by hand here (t(0.975, 4) = 2.776445 for 5 seeds)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

T_975_4 = 2.776445


def _rows(name: str, values: list[float], p_values: list[float]) -> list[dict]:
    return [{"row": name, "seed": s, "status": "FINISHED", "MPJPE † (mm)": v, "P-MPJPE (mm)": p,
             "2D † (% crop)": 8.0} for s, (v, p) in enumerate(zip(values, p_values))]


def _line(text: str, metric: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {metric}"))
    return [c.strip() for c in line.strip("|").split("|")]


def _runs(mod, full_p: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        _rows(mod["PSEUDO"], [210.0, 212.0, 214.0, 216.0, 218.0], [150.0] * 5)          # mean 214 / 150
        + _rows(mod["TARGET_REF"], [180.0, 180.0, 180.0], [130.0] * 3)                  # 3 seeds: 180 / 130
        + _rows(mod["OFF"], [200.0, 202.0, 204.0, 206.0, 208.0], [140.0] * 5)
        + _rows(mod["FULL"], [190.0] * 5, full_p)
        + [{"row": mod["FULL"], "seed": 5, "status": "FAILED", "MPJPE † (mm)": 0.0}])   # not counted


def test_the_headline_by_hand(load_study):
    mod = load_study("recipe")
    text = "\n".join(mod["headline"](_runs(mod, [141.0, 142.0, 142.0, 143.0, 142.0])))
    assert "| 95 % CI |" in text
    # MPJPE †: gap 214 − 180 = 34; gains 10, 12, 14, 16, 18 (mean 14, s = √10);
    # half-width = t · √10 / √5 = t · √2 = 3.926 → [10.07, 17.93]; share 14 / 34 = 41 %;
    # the bar: mean ≥ 0.3 × 34 = 10.2 and the lower bound > 0 → yes
    assert T_975_4 * math.sqrt(2) == pytest.approx(3.92647, abs=1e-4)
    mp = _line(text, "MPJPE †")
    assert mp[3] == "34.0" and mp[6] == "+10.0, +12.0, +14.0, +16.0, +18.0" and mp[7] == "+14.0"
    assert mp[8] == "[+10.1, +17.9]" and mp[9] == "41%" and "(10.2)" in mp[10] and mp[11] == "**yes**"
    # P-MPJPE: gap 20; gains −1, −2, −2, −3, −2 (mean −2, s = √0.5); half-width = t · √0.5 / √5 = 0.878
    # ≤ 4 mm, so it is judged: the lower bound −2.88 > −5 → no harm
    pm = _line(text, "P-MPJPE")
    assert pm[3] == "20.0" and pm[7] == "-2.0" and pm[8] == "[-2.9, -1.1]" and pm[11] == "**yes**"
    # 2D †: shown, not judged
    assert _line(text, "2D †")[11] == "**—**"


def test_p_mpjpe_is_undecided_when_the_interval_is_wider_than_4_mm(load_study):
    mod = load_study("recipe")
    # gains −10, +10, 0, +5, −5 (Full 150, 130, 140, 135, 145 against masks off 140): mean 0,
    # s = √(250 / 4) = 7.906, half-width = t · 7.906 / √5 = 9.82 > 4 → undecided, add seeds
    text = "\n".join(mod["headline"](_runs(mod, [150.0, 130.0, 140.0, 135.0, 145.0])))
    pm = _line(text, "P-MPJPE")
    assert pm[8] == "[-9.8, +9.8]" and pm[11] == "**undecided**" and "± 9.8: add seeds" in pm[10]
    assert "below 0" not in pm[10]
    # gains −14, −6, −10, −2, −18: mean −10, s = √40, half-width = t · √40 / √5 = 7.85 → [−17.9, −2.1]:
    # still undecided by the rule, and the report says the whole interval is a harm
    text = "\n".join(mod["headline"](_runs(mod, [154.0, 146.0, 150.0, 142.0, 158.0])))
    pm = _line(text, "P-MPJPE")
    assert pm[8] == "[-17.9, -2.1]" and pm[11] == "**undecided**" and "the whole CI is below 0" in pm[10]
    # a harm judged: every gain −8 ± 1 (narrow, below −5) → no
    text = "\n".join(mod["headline"](_runs(mod, [147.0, 148.0, 149.0, 148.0, 148.0])))
    assert _line(text, "P-MPJPE")[11] == "**no**"


def test_the_headline_says_what_is_not_measured(load_study):
    mod = load_study("recipe")
    text = "\n".join(mod["headline"](pd.DataFrame(_rows(mod["PSEUDO"], [250.0], [180.0]))))
    assert text.count("not measured yet") >= 3


def test_each_row_against_its_base_paired(load_study):
    mod = load_study("recipe")
    runs = _runs(mod, [141.0, 142.0, 142.0, 143.0, 142.0])
    text = "\n".join(mod["headline"](runs))
    # Full − pseudo only on MPJPE †: 190 − (210 … 218) = −20, −22, −24, −26, −28: mean −24, the same s
    row = next(line for line in text.splitlines() if line.startswith(f"| {mod['FULL']} | {mod['PSEUDO']} |"))
    assert "| 5 | -24.0 [-27.9, -20.1] |" in row
