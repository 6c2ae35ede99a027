"""Config tree: flatten/unflatten round trip, overrides, validation errors, stable hash."""
import dataclasses
import json
import re

import pytest

from maskpose_core.config import (ExperimentConfig, apply_overrides, config_hash, flatten, from_dict, hashed_fields,
                                  parse_overrides, profile_config, to_dict, unflatten)


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_flatten_unflatten_round_trip_through_strings(profile):
    cfg = profile_config(profile)
    flat = {k: str(v) for k, v in flatten(cfg).items()}          # as MLflow / the CLI give them back
    assert unflatten(flat, base=ExperimentConfig(profile=profile)) == cfg
    assert from_dict(to_dict(cfg)) == cfg


def test_overrides_apply_and_coerce():
    cfg = apply_overrides(profile_config("smoke"), parse_overrides(["loss.lambda_p=0", "loss.delta=false",
                                                                    "optim.batch_size=4"]))
    assert cfg.loss.lambda_p == 0.0 and cfg.loss.delta is False and cfg.optim.batch_size == 4


def test_hash_is_stable_and_sensitive():
    a, b = profile_config("quick"), profile_config("quick")
    assert config_hash(a) == config_hash(b) == a.hash
    assert config_hash(dataclasses.replace(a, seed=1)) != a.hash
    assert len(a.hash) == 12


@pytest.mark.parametrize("override, field", [
    ({"loss.sigma2": "0"}, "LossConfig.sigma2"),
    ({"loss.sigma2": "-1e-3", "loss.sigma2_start": "1e-2"}, "LossConfig.sigma2"),
    ({"loss.lambda_s": "-1"}, "LossConfig.lambda_s"),
    ({"train.spp_labelled": "100"}, "num_landmarks"),
    ({"loss.nonsense": "1"}, "loss.nonsense"),
    ({"model.backbone": "vgg"}, "ModelConfig.backbone"),
    ({"optim.batch_size": "2.5"}, "optim.batch_size"),
    ({"data.dataset": "coco"}, "DataConfig.dataset"),
    ({"loss.extremity_weight": "1", "loss.geodesic": "false"}, "LossConfig.extremity_weight"),
    ({"loss.extremity_threshold": "1"}, "LossConfig.extremity_threshold"),
])
def test_bad_values_name_the_field(override, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        apply_overrides(profile_config("smoke"), override)


def test_unknown_profile_and_malformed_override():
    with pytest.raises(ValueError, match="unknown profile"):
        profile_config("huge")
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["loss.lambda_p"])


def test_spp_needs_2j_landmarks_and_accepts_49():
    cfg = apply_overrides(profile_config("smoke"), {"train.spp_labelled": "64", "model.num_landmarks": "49"})
    assert cfg.model.num_landmarks == 49
    with pytest.raises(ValueError, match="17 \\+ 16"):
        apply_overrides(profile_config("smoke"), {"model.num_landmarks": "40"})


def test_a_saved_config_with_a_removed_field_loads_only_at_its_neutral_value():
    old = to_dict(profile_config("quick"))
    old["loss"] |= {"inside_weight": 0.0, "inside_samples": 7}      # a checkpoint from before c44d864
    assert from_dict(old) == profile_config("quick")
    old["loss"]["inside_weight"] = 0.5
    with pytest.raises(ValueError, match="loss.inside_weight=0.5 was removed"):
        from_dict(old)


FLOAT_KEYS = [k for k, v in flatten(profile_config("smoke")).items() if isinstance(v, float)]


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN", "Infinity"])
def test_non_finite_override_is_refused_by_its_key(text):
    # NaN passes every ``v < 0`` check: it trained into a FloatingPointError, σ² = inf for 11 s
    with pytest.raises(ValueError, match=rf"^loss\.lambda_s must be finite, got -?(nan|inf)$"):
        apply_overrides(profile_config("smoke"), {"loss.lambda_s": text})
    with pytest.raises(ValueError, match=r"^loss\.sigma2 must be finite, got inf$"):
        apply_overrides(profile_config("smoke"), {"loss.sigma2": "inf", "loss.sigma2_start": "inf"})


@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_every_float_field_refuses_nan_from_strings_scalars_and_direct_construction(key):
    assert len(FLOAT_KEYS) > 20
    cfg = profile_config("smoke")
    for value in ("nan", float("nan"), float("inf")):       # command line / MLflow / a Python caller
        with pytest.raises(ValueError, match=rf"^{re.escape(key)} must be finite"):
            apply_overrides(cfg, {key: value})
    head, _, field = key.rpartition(".")
    section = getattr(cfg, head)
    # a section built directly (its own checks are ``v < 0``): the experiment config names the key
    try:
        bad = dataclasses.replace(section, **{field: float("-inf")})
    except ValueError:
        return                                   # the section's own check already refuses it
    with pytest.raises(ValueError, match=rf"^{re.escape(key)} must be finite, got -inf$"):
        dataclasses.replace(cfg, **{head: bad})


def test_a_saved_config_holding_nan_is_refused_by_key():
    saved = to_dict(profile_config("smoke"))
    saved["loss"]["lambda_p"] = float("nan")
    with pytest.raises(ValueError, match="loss.lambda_p must be finite"):
        from_dict(saved)


@pytest.mark.parametrize("override, message, fixed", [
    ({"loss.render_size": "24"}, r"loss.render_size \(24\) must divide data.image_size \(32\)",
     {"data.image_size": "48"}),
    ({"data.image_size": "40", "loss.render_size": "10"}, r"loss.render_size \(10\) must be a multiple of 4",
     {"model.physique": "false"}),
])
def test_render_size_the_forward_pass_cannot_use_is_refused_in_the_config(override, message, fixed):
    # both failed at the first training step, after the MLflow run had started
    with pytest.raises(ValueError, match=message):
        apply_overrides(profile_config("smoke"), override)
    apply_overrides(profile_config("smoke"), {**override, **fixed})


def test_pseudo_rig_is_a_recipe_key_checked_against_the_rig_table():
    from maskpose_core.data.cmu_mv4.config import generator_config
    from maskpose_core.data.registry import pseudo_data_config
    base = profile_config("quick")
    ring = apply_overrides(base, {"data.pseudo_rig": "ring"})
    assert ring.hash == base.hash                                   # a mask-only run never reads it
    two = apply_overrides(base, {"recipe.stages": "two_stage"})
    assert apply_overrides(two, {"data.pseudo_rig": "ring"}).hash != two.hash
    from maskpose_core.train.recipe import stage1_config          # stage 1 follows the rig
    assert stage1_config(apply_overrides(two, {"data.pseudo_rig": "ring"})).hash != stage1_config(two).hash
    assert generator_config(pseudo_data_config(base.data)).rig == "overhead"
    assert generator_config(pseudo_data_config(ring.data)).rig == "ring"
    assert generator_config(base.data).rig == "h36m"               # the target keeps its own rig
    with pytest.raises(ValueError, match=r"DataConfig.pseudo_rig must be one of .*got 'roof'"):
        apply_overrides(base, {"data.pseudo_rig": "roof"})


def test_pseudo_shape_keeps_old_hashes_at_narrow_and_renders_the_template_when_fixed():
    from maskpose_core.data.cmu_mv4.config import PSEUDO_BONE_SCALE, PSEUDO_GIRTH, generator_config
    from maskpose_core.data.registry import pseudo_data_config
    from maskpose_core.train.recipe import stage1_config
    two = apply_overrides(profile_config("quick"), {"recipe.stages": "two_stage"})
    assert two.data.pseudo_shape == "narrow"
    assert "pseudo_shape" not in json.dumps(hashed_fields(stage1_config(two)))   # runs before it keep their hash
    fixed = apply_overrides(two, {"data.pseudo_shape": "fixed"})
    assert stage1_config(fixed).hash != stage1_config(two).hash and fixed.hash != two.hash
    narrow, flat = (generator_config(pseudo_data_config(c.data)) for c in (two, fixed))
    assert (narrow.bone_scale_min, narrow.bone_scale_max) == PSEUDO_BONE_SCALE
    assert (narrow.girth_min, narrow.girth_max) == PSEUDO_GIRTH
    assert (flat.bone_scale_min, flat.bone_scale_max, flat.girth_min, flat.girth_max) == (1.0, 1.0, 1.0, 1.0)
    assert flat.hash != narrow.hash                                  # a build of its own
    assert generator_config(fixed.data).bone_scale_min == 0.85       # the target keeps its range
