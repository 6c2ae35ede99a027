"""Paired effects: the t interval on hand-built per-seed gains, and the verdicts it gives."""
import math

import pytest

from studies.runner.paired import non_inferiority, paired_effect, superiority

T_975 = {2: 4.302653, 4: 2.776445}        # Student's t quantile (0.975) for 2 and 4 degrees of freedom


def test_the_interval_of_three_gains_derived_by_hand():
    # d = 1, 2, 3: mean 2, s = √(((−1)² + 0² + 1²) / 2) = 1, half-width = t(0.975, 2) · 1 / √3
    e = paired_effect([1.0, 2.0, 3.0])
    half = T_975[2] / math.sqrt(3)                     # 2.48414
    assert e.n == 3 and e.mean == 2.0 and e.sd == pytest.approx(1.0)
    assert (e.lo, e.hi) == (pytest.approx(2 - half, abs=1e-5), pytest.approx(2 + half, abs=1e-5))
    assert e.ci_cell() == "[-0.5, +4.5]"
    assert superiority(e) == "no"                      # the mean is positive, the CI crosses 0


def test_five_seeds_whose_interval_is_above_zero():
    # d = 10, 12, 14, 16, 18: mean 14, s = √(40 / 4) = √10, half = 2.776445 · √10 / √5 = 3.92647
    e = paired_effect([10, 12, 14, 16, 18])
    assert e.half_width == pytest.approx(T_975[4] * math.sqrt(2), abs=1e-5)
    assert e.lo == pytest.approx(14 - 3.92647, abs=1e-4)
    assert superiority(e, bar=13.0) == "yes" and superiority(e, bar=15.0) == "no"   # the bar on the mean
    assert non_inferiority(e) == "yes"


def test_non_inferiority_is_undecided_when_the_interval_is_wider_than_4_mm():
    # d = 0, 10, −4: mean 2, s = √52, half = 4.302653 · √52 / √3 = 17.91 > 4
    e = paired_effect([0.0, 10.0, -4.0])
    assert e.half_width == pytest.approx(T_975[2] * math.sqrt(52) / math.sqrt(3), abs=1e-4)
    assert non_inferiority(e) == "undecided"
    # narrow and above −5 mm: no harm; narrow and below: harm
    assert non_inferiority(paired_effect([-1.0, -2.0, -1.5])) == "yes"
    assert non_inferiority(paired_effect([-7.0, -8.0, -7.5])) == "no"


def test_one_seed_has_no_interval_and_decides_nothing():
    e = paired_effect([3.0, float("nan")])
    assert e.n == 1 and e.mean == 3.0 and math.isnan(e.lo) and e.ci_cell() == "—"
    assert superiority(e) == "undecided" and non_inferiority(e) == "undecided"
    assert paired_effect([]).n == 0
