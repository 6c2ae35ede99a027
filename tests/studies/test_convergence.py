"""The plateau rule of studies/convergence.py on hand-built curves: the smallest B whose 2B run
gains < 2 % (paired mean over 2 seeds); one seed only is provisional and decides nothing."""
import pandas as pd

from studies.convergence import STUDY, plateau, row_name


def _runs(curve: str, values: dict[int, tuple]) -> pd.DataFrame:
    return pd.DataFrame([{"row": row_name(curve, b), "seed": s, "status": "FINISHED", "MPJPE † (mm)": v}
                         for b, seeds in values.items() for s, v in enumerate(seeds) if v is not None])


def test_the_smallest_budget_whose_doubling_gains_under_2_percent():
    # 240 → 480: (200 − 180) / 200 = 10 %, (210 − 189) / 210 = 10 %; 480 → 960: 1 % and 2.6 %, mean 1.8 %
    runs = _runs("target REFERENCE", {240: (200, 210), 480: (180, 189), 960: (178.2, 184.086), 1920: (178, 184)})
    found, lines = plateau(runs, "target REFERENCE")
    assert found == 480
    assert "| target REFERENCE | 480 → 960 | +1.0% (seed 0), +2.6% (seed 1) | +1.8% | plateau |" in lines
    assert lines[0].endswith("| +10.0% | still learning |")


def test_one_seed_is_provisional_and_decides_nothing():
    runs = _runs("pseudo only", {240: (200, None), 480: (199, None)})
    found, lines = plateau(runs, "pseudo only")
    assert found is None and "provisional (1 of 2 seeds)" in lines[0]


def test_every_budget_is_a_full_run_of_its_own_steps():
    steps = {r.name: r.overrides.get("train.epochs", r.overrides.get("recipe.stage1_epochs")) * 80 for r in STUDY.rows}
    assert steps[row_name("target REFERENCE", 1920)] == 1920 and steps[row_name("pseudo only", 240)] == 240
    assert row_name("pseudo only (dance)", 960) in steps
    # a curve stops one doubling past its plateau: the REFERENCE's and the dance stage 1's (3840) at 7680
    assert steps[row_name("pseudo only (dance)", 7680)] == steps[row_name("target REFERENCE", 7680)] == 7680
    assert not {row_name(c, 15360) for c in ("pseudo only (dance)", "target REFERENCE")} & set(steps)
    # stage 2's curves exist once stage 1's plateau is set, each run started from a stage 1 of that many steps
    stage2 = [r for r in STUDY.rows if r.group in ("stage 2, Full", "stage 2, masks off")]
    assert len(stage2) == 5 and {r.overrides["recipe.stage1_epochs"] * 80 for r in stage2} == {3840}   # masks off: 240, 480
    assert len(STUDY.rows) == 14 + 5


def test_the_curves_plot_is_written_from_the_runs_csv(tmp_path):
    from studies.convergence import write_curves
    assert write_curves(tmp_path) is None                          # no runs csv yet: nothing written
    runs = _runs("target REFERENCE", {240: (200, 210), 480: (180, 189)})
    runs["P-MPJPE (mm)"] = runs["MPJPE † (mm)"] * 0.7
    runs["test MPJPE † (mm)"] = runs["MPJPE † (mm)"] + 10
    runs["test P-MPJPE (mm)"] = runs["P-MPJPE (mm)"] + 5
    runs.to_csv(tmp_path / "convergence_runs.csv", index=False)
    out = write_curves(tmp_path)
    assert out.name == "convergence_curves.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_gap_is_paired_by_seed_with_its_interval():
    from studies.convergence import gap_lines
    cols = ("MPJPE † (mm)", "P-MPJPE (mm)", "test MPJPE † (mm)", "test P-MPJPE (mm)")
    rows = []
    for curve, vals in (("target REFERENCE", (150.0, 160.0)), ("pseudo only", (180.0, 194.0))):
        for seed, v in enumerate(vals):
            rows.append({"row": row_name(curve, 1920), "seed": seed, "status": "FINISHED", **{c: v for c in cols}})
    ok = pd.DataFrame(rows)
    # gaps 30 and 34: mean 32, s = √8, half = t(0.975, 1) · √8 / √2 = 12.706205 · 2 = 25.4124
    lines = gap_lines(ok, {"target REFERENCE": 1920, "pseudo only": 1920})
    assert "| 1920 (n = 2) | +32.0 | [+6.6, +57.4] |" in lines[5]
    assert "MPJPE † (mm) +32.0 [+6.6, +57.4] (bar ≥ 30: met)" in lines[-1]
    assert "P-MPJPE (mm) +32.0" in lines[-1]
    assert gap_lines(ok, {"target REFERENCE": None, "pseudo only": 1920})[-1].startswith("| 1920")


def test_stage2_curves_start_from_the_converged_stage1_once_its_plateau_is_set():
    from studies.convergence import FULL, MASKS_OFF_CURVE, _rows
    from studies.definitions import MASKS_OFF
    assert not [r for r in _rows(None) if r.name.startswith("stage 2")]        # no plateau: no stage-2 rows
    rows = {r.name: r for r in _rows(1920)}
    full, off = rows[row_name(FULL, 480)], rows[row_name(MASKS_OFF_CURVE, 480)]
    assert full.overrides["recipe.stage1_epochs"] == 24 and full.overrides["train.epochs"] == 6
    assert full.overrides["recipe.stages"] == "two_stage" and full.overrides["data.pseudo_activities"] == "dance"
    assert {k: v for k, v in off.overrides.items() if full.overrides.get(k) != v} == MASKS_OFF
    assert row_name(FULL, 1920) not in rows                                    # stage 2's curve starts short


def test_the_masks_effect_is_masks_off_minus_full_paired_by_seed():
    from studies.convergence import EFFECT_COLUMNS, FULL, MASKS_OFF_CURVE, mask_effect_lines
    rows = []
    for curve, vals in ((FULL, (170.0, 180.0)), (MASKS_OFF_CURVE, (180.0, 194.0))):
        for seed, v in enumerate(vals):
            rows.append({"row": row_name(curve, 240), "seed": seed, "status": "FINISHED",
                         **{c: v for c in EFFECT_COLUMNS}})
    assert mask_effect_lines(pd.DataFrame(rows[:2])) == []                   # Full alone: nothing paired
    lines = mask_effect_lines(pd.DataFrame(rows))
    # effects 10 and 14: mean 12, half = t(0.975, 1) · √8 / √2 = 25.4124 → [−13.4, +37.4]
    assert lines[-1].startswith("| 240 (n = 2) | +12.0 | [-13.4, +37.4] | +12.0 | [-13.4, +37.4] | +12.00 | "
                                "[-13.41, +37.41] |")


def test_a_stage2_curve_row_starts_from_the_zoo_entry_of_its_seed():
    # the same stage key as zoo_catalog's stage1-seed<s> at that budget: the stage store hands it the entry
    import dataclasses

    from maskpose_core.train.recipe import stages
    from maskpose_core.train.zoo_catalog import entry_plan
    from studies.convergence import FULL, MASKS_OFF_CURVE, STUDY, _rows
    from studies.runner.plan import plan_study
    study = dataclasses.replace(STUDY, rows=tuple(r for r in _rows(1920) if r.name in
                                                   (row_name(FULL, 240), row_name(MASKS_OFF_CURVE, 240))))
    keys = {(p.row.name, p.seed): stages(p.cfg)[0].key for p in plan_study(study)}
    for seed in (0, 1):
        entry = entry_plan("stage1", seed, steps=1920)
        assert keys[(row_name(FULL, 240), seed)] == keys[(row_name(MASKS_OFF_CURVE, 240), seed)] == \
            stages(entry.target)[0].key


def test_the_report_names_each_training_set_once_and_the_dance_pseudo_set():
    from studies.runner.cli import _dataset_text
    from studies.runner.plan import plan_study
    text = _dataset_text(STUDY, plan_study(STUDY, seeds=1))
    assert text.count("cmu-mv4 (") == 2 and "pseudo images of dance only" in text


def test_the_curves_runs_at_a_budget_are_the_zoo_entries_of_that_budget():
    # `maskpose zoo adopt` takes a curve's runs at the plateau only if their stage keys are the entries'
    from maskpose_core.train.recipe import stage_key, stages
    from maskpose_core.train.zoo_catalog import entry_plan
    from studies.runner.plan import plan_study
    plan = {(p.row.name, p.seed): p.cfg for p in plan_study(STUDY)}
    for seed in (0, 1):
        ref, st1 = entry_plan("reference", seed, steps=3840), entry_plan("stage1", seed, steps=3840)
        assert stage_key(plan[(row_name("target REFERENCE", 3840), seed)]) == stage_key(ref.train)
        assert stages(plan[(row_name("pseudo only (dance)", 3840), seed)])[0].key == stage_key(st1.train)


def test_the_zoo_builds_the_plateaus_the_committed_curves_measured():
    # zoo_catalog.PLATEAU_STEPS must be what reports/convergence_runs.csv decides (None: not decided yet)
    from pathlib import Path

    from maskpose_core.train.zoo_catalog import PLATEAU_STEPS
    from studies.convergence import ZOO_CURVES
    runs = pd.read_csv(Path(__file__).resolve().parents[2] / "reports" / "convergence_runs.csv")
    for kind, curve in ZOO_CURVES.items():
        assert plateau(runs, curve)[0] == PLATEAU_STEPS[kind], kind
