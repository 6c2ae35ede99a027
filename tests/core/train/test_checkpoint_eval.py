"""evaluate_checkpoint: the one way a saved network is evaluated. It reproduces the metrics fit
logged at the end of the run (val on the whole split), adds the SPP group when the checkpoint
holds θ, evaluates a checkpoint as another config's network (stage 1 as the row that starts
from it), and refuses data of another crop size naming both sizes."""
import dataclasses
import math

import pytest

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.train.checkpoint_eval import evaluate_checkpoint
from maskpose_core.train.fit import fit
from maskpose_core.train.hooks import TrainHooks

RUN = {"train.epochs": 1, "train.steps_per_epoch": 2, "optim.batch_size": 4, "train.val_samples": 8,
       "train.figure_samples": 0}


@pytest.fixture(scope="module")
def spp_run(tiny_data):
    cfg = apply_overrides(profile_config("smoke"), {**RUN, "train.spp_labelled": 16, "train.spp_epochs": 5,
                                                     "model.num_landmarks": 49})
    reports = []
    metrics = fit(cfg, tiny_data, hooks=TrainHooks(report=reports.append))
    return cfg, metrics, reports[-1].state


def test_it_reproduces_the_runs_own_final_metrics_with_the_spp_group(tiny_data, spp_run):
    cfg, logged, state = spp_run
    got = evaluate_checkpoint(state, tiny_data)
    for key in ("val/mpjpe_mm", "val/p_mpjpe_mm", "val/mask_iou", "val_spp/mpjpe_mm"):
        assert math.isclose(got[key], logged[key], rel_tol=1e-5), (key, got[key], logged[key])
    one = evaluate_checkpoint(state, tiny_data.val, name="eval", max_samples=4)
    assert set(k.split("/")[0] for k in one) == {"eval", "eval_spp"} and one["eval/mpjpe_mm"] > 0


def test_another_configs_network_from_the_same_weights(tiny_data, spp_run):
    cfg, _, state = spp_run
    no_psi = apply_overrides(cfg, {"model.physique": False})
    got = evaluate_checkpoint(state, tiny_data, cfg=no_psi)          # ψ's weights dropped, the detector's kept
    assert math.isclose(got["val/mpjpe_mm"], evaluate_checkpoint(state, tiny_data)["val/mpjpe_mm"], rel_tol=1e-6)


def test_data_of_another_crop_size_is_refused_naming_both(tiny_data, spp_run):
    _, _, state = spp_run
    wide = {**state, "config": dict(state["config"], data={**state["config"]["data"], "image_size": 64})}
    with pytest.raises(ValueError, match=r"trained on 64-px crops \(data.image_size\), but the data set .* has "
                                         r"32-px crops"):
        evaluate_checkpoint(wide, dataclasses.replace(tiny_data))
