"""A run's identity across code changes: fields added later, removed and renamed keep every
recorded config hash (maskpose_core/config.py ADDED_FIELDS, REMOVED_FIELDS, RENAMED_FIELDS), and
every line of every committed runs csv replans to the hash it recorded."""
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from maskpose_core.config import (ADDED_FIELDS, RECIPE_DATA_KEYS, REMOVED_FIELDS, RENAMED_FIELDS, apply_overrides,
                                  flatten, from_dict, profile_config, to_dict)

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def _digest(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:12]


def test_fields_added_later_keep_old_hashes_at_their_old_behaviour_value():
    # every later-added field at the value that reproduces the behaviour before it existed
    cfg = apply_overrides(profile_config("quick"), ADDED_FIELDS)
    old = {k: v for k, v in flatten(cfg).items()                  # a mask-only run: no recipe keys
           if k not in ADDED_FIELDS and not k.startswith("recipe.") and k not in RECIPE_DATA_KEYS}
    old["loss.skeleton_clip"] = 0.0                               # removed, but hashed at its neutral value
    assert cfg.hash == _digest(old)
    # fields whose default is not that value (the extremity and template terms) enter the hash
    assert profile_config("quick").hash != cfg.hash
    assert apply_overrides(cfg, {"loss.extra_weight": 2.0}).hash != cfg.hash


def test_a_renamed_key_hashes_under_its_old_name_and_reads_from_old_records():
    two = apply_overrides(profile_config("quick"), {"recipe.stages": "two_stage", "model.init_prior": "none",
                                                    "loss.template_weight": 0.0, "recipe.pseudo_weight": 3.0})
    fields = {{new: old for old, new in RENAMED_FIELDS.items()}.get(k, k): v for k, v in flatten(two).items()}
    fields = {k: v for k, v in fields.items() if ADDED_FIELDS.get(k, "unset") != v}   # (by its hash name)
    fields["loss.skeleton_clip"] = 0.0
    assert two.hash == _digest(fields) and fields["loss.pseudo_weight"] == 3.0
    # an old record (checkpoint config, MLflow config.json) and an old command line still read
    record = to_dict(two)
    record["loss"]["pseudo_weight"] = record["recipe"].pop("pseudo_weight")
    assert from_dict(record) == two
    assert apply_overrides(two, {"loss.pseudo_weight": 1.0}).recipe.pseudo_weight == 1.0


@pytest.mark.parametrize("key", ["loss.skeleton_clip", "loss.triangulation_cap_mm", "loss.coverage_radius",
                                 "loss.hidden_arm_gate", "loss.hidden_arm_margin"])
def test_a_removed_switch_is_read_at_its_neutral_value_and_refused_otherwise(key):
    record = to_dict(profile_config("quick"))
    group, name = key.split(".")
    record[group][name] = REMOVED_FIELDS[key].neutral
    assert from_dict(record) == profile_config("quick")
    record[group][name] = 0.3 if not isinstance(REMOVED_FIELDS[key].neutral, bool) else True
    with pytest.raises(ValueError, match=f"config field {key}=.* was removed .*docs/method-notes.md"):
        from_dict(record)
    with pytest.raises(ValueError, match=f"config key '{key}' was removed from maskpose: .*docs/method-notes.md §7"):
        apply_overrides(profile_config("quick"), {key: "0"})


def _recorded_lines():
    for path in sorted(REPORTS.glob("*_runs.csv")):
        runs = pd.read_csv(path, keep_default_na=False, dtype=str)
        for _, line in runs.iterrows():
            if line.get("recipe"):
                yield path.name, line["row"], line["seed"], json.loads(line["recipe"]), line["config_hash"]


def test_every_committed_run_replans_to_the_hash_it_recorded():
    """Replanned with the profile, layers, row and seed it recorded (not today's study: that is
    the staleness check's job), every run of every committed report keeps its config hash."""
    from studies.runner.staleness import replan

    lines = list(_recorded_lines())
    assert len(lines) > 100
    changed = [(f, row, seed, h, replan(recipe)[0]) for f, row, seed, recipe, h in lines if replan(recipe)[0] != h]
    assert not changed, changed[:5]
