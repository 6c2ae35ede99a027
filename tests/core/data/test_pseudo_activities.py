"""data.pseudo_activities: the pseudo source restricted to some activity classes (the lever that
narrows the labelled pose distribution). Only those classes are rendered, an unknown class is
refused naming the ones there are, and the default keeps every built folder's hash."""
import numpy as np
import pytest

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.data.cmu_mv4.config import generator_config
from maskpose_core.data.cmu_mv4.frames import load_poses, select_frames
from maskpose_core.data.registry import pseudo_data_config


def _gen(**over):
    return generator_config(pseudo_data_config(apply_overrides(profile_config("quick"), over).data))


def test_only_the_named_activity_classes_are_sampled():
    gen = _gen(**{"data.pseudo_activities": "walk, dance"})
    src = load_poses(gen)
    splits = select_frames(gen, src)
    for idx in splits.values():
        assert set(src.activity_class[idx]) <= {"walk", "dance"}
    everything = select_frames(_gen(), src)
    assert {"martial_arts", "acrobatics", "get_up"} <= set(src.activity_class[everything["train"]])
    assert np.intersect1d(everything["train"], splits["train"]).size > 0     # the same subjects, fewer classes


def test_an_unknown_class_is_refused_naming_the_ones_there_are():
    gen = _gen(**{"data.pseudo_activities": "walk,swim"})
    with pytest.raises(ValueError, match=r"data.pseudo_activities: \['swim'\] not among the activity classes of "
                                         r"pseudo's subjects .*\['acrobatics', 'dance', 'get_up'"):
        select_frames(gen, load_poses(gen))


def test_the_default_keeps_the_built_folders_and_run_hashes():
    assert _gen().folder_name == "pseudo-64px-8000x1000-7f97614e5f2a"      # built before the field existed
    assert _gen(**{"data.pseudo_activities": "walk"}).hash != _gen().hash
    base = apply_overrides(profile_config("quick"), {"recipe.stages": "two_stage", "model.init_prior": "none",
                                                     "loss.template_weight": 0.0})
    assert apply_overrides(base, {"data.pseudo_activities": ""}).hash == base.hash
    assert apply_overrides(base, {"data.pseudo_activities": "walk"}).hash != base.hash
    assert apply_overrides(profile_config("quick"), {"data.pseudo_activities": "walk"}).hash \
        == profile_config("quick").hash                                     # a mask-only run never reads it
