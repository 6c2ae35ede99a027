"""The study data model and planning, without a run: metric keys per view and split, row slugs
and selection, overrides that copy another key, and bad definitions refused naming the field.

Hand-checked keys: ``mpjpe_mm`` read through the flip view is ``val/mpjpe_flip_mm`` (on the test
split ``test/mpjpe_flip_mm``); the Ambiguity Ratio has no † version, so it stays
``val/ambiguity_ratio_pct``; the SPP view reads ``val_spp/…``.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from maskpose_core.data.registry import SYNTHETIC
from studies.definitions import REFERENCE, TABLE3_STUDY
from studies.runner.plan import (PSEUDO, STUDY_DATASETS, SYNTHETIC_RIGS, Metric, Row, Study, base_config,
                                 plan_study, row_config)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_rows_and_metric_views():
    assert Metric("mpjpe_mm", "x").logged_key("flip") == "val/mpjpe_flip_mm"
    assert Metric("ambiguity_ratio_pct", "x").logged_key("flip") == "val/ambiguity_ratio_pct"
    assert Metric("p_mpjpe_mm", "x").logged_key("spp") == "val_spp/p_mpjpe_mm"
    assert Row(name="wo ψ,G,Δ").slug == "wo-psi-G-Delta"
    assert [r.name for r in TABLE3_STUDY.select(["wo-psi-G", "Full"]).rows] == ["wo ψ,G", "Full"]


def test_reference_values_copy_another_key():
    base = base_config(TABLE3_STUDY, profile="smoke")
    cfg = row_config(base, Row(name="s", overrides={"loss.sigma2": 5e-2, "loss.sigma2_start": "@loss.sigma2"}), 0)
    assert cfg.loss.sigma2 == cfg.loss.sigma2_start == 5e-2      # valid only when applied together
    with pytest.raises(ValueError, match="row 's'.*@loss.nope"):
        row_config(base, Row(name="s", overrides={"loss.sigma2": "@loss.nope"}), 0)


def test_bad_definitions_name_the_field():
    base = base_config(TABLE3_STUDY, profile="smoke")
    with pytest.raises(ValueError, match="row 'x'.*loss.lambda_x"):
        row_config(base, Row(name="x", overrides={"loss.lambda_x": 1}), 0)
    with pytest.raises(ValueError, match="REFERENCE"):
        row_config(base, Row(name="x", overrides={"loss.mode": "supervised_reference"}), 0)
    assert row_config(base, REFERENCE, 0).loss.mode == "supervised_reference"
    with pytest.raises(ValueError, match="must say why"):
        Row(name="x", kind="unavailable")
    with pytest.raises(ValueError, match="duplicate row names"):
        Study(name="s", title="t", rows=(Row(name="a"), Row(name="a")), metrics=(Metric("mpjpe_mm", "m"),))
    with pytest.raises(ValueError, match="not a logged metric"):
        Metric("mpjpe", "m")
    with pytest.raises(ValueError, match="unknown row"):
        TABLE3_STUDY.select(["Fulll"])


def test_the_split_is_one_prefix_for_every_view():
    assert Metric("mpjpe_mm", "x").logged_key("plain", "test") == "test/mpjpe_mm"
    assert Metric("mpjpe_mm", "x").logged_key("flip", "test") == "test/mpjpe_flip_mm"
    assert Metric("p_mpjpe_mm", "x").logged_key("spp", "test") == "test_spp/p_mpjpe_mm"
    with pytest.raises(ValueError, match="split"):
        Metric("mpjpe_mm", "x").logged_key("plain", "train")
    with pytest.raises(ValueError, match="Study.split"):
        replace(TABLE3_STUDY, split="train")


def test_the_pseudo_set_is_built_in_but_no_study_data_set():
    assert PSEUDO in SYNTHETIC and PSEUDO not in SYNTHETIC_RIGS and PSEUDO not in STUDY_DATASETS
    assert set(SYNTHETIC_RIGS) == set(SYNTHETIC) - {PSEUDO}
    with pytest.raises(ValueError, match="Study.dataset"):
        replace(TABLE3_STUDY, dataset=PSEUDO)


def test_a_synthetic_set_needs_no_raw_folder_and_a_real_one_does():
    assert base_config(TABLE3_STUDY, profile="smoke").data.root == ""        # built in, not hashed
    with pytest.raises(ValueError, match="--raw-root"):
        base_config(replace(TABLE3_STUDY, dataset="h36m"), profile="smoke")


def test_a_plan_is_rows_times_seeds_and_the_baseline_once():
    plan = plan_study(TABLE3_STUDY, profile="smoke", seeds=2)
    trained = [r for r in TABLE3_STUDY.rows if r.kind in ("train", "reference")]
    assert len(plan) == 2 * len(trained) + 1
    assert len({p.hash for p in plan}) == len(plan)                           # every run its own identity
