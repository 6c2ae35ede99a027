"""The auxiliary streams (train/streams.py): a second, mask-only single-view data set
(DataConfig.extra, data/single_view.py)."""
import dataclasses

import pytest
import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.data.configs import DataConfig
from maskpose_core.data.single_view import PER_VIEW_KEYS, SingleViews
from maskpose_core.train.fit import build_model, fit
from maskpose_core.train.hooks import TrainHooks

EXTRA = {"data.extra": "cmu-3dhp-rig"}   # the name only: the test hands fit the bundle itself


def _cfg(**over):
    base = {"train.epochs": 1, "train.steps_per_epoch": 3, "optim.batch_size": 4, "train.val_samples": 8,
            "train.figure_samples": 2}
    return apply_overrides(profile_config("smoke"), {**base, **over})


def _with_extra(data):
    return dataclasses.replace(data, extra=SingleViews(data.train))


def test_single_views_are_the_split_views_one_at_a_time(tiny_data):
    views = SingleViews(tiny_data.train)
    c = tiny_data.train.num_views
    assert len(views) == len(tiny_data.train) * c
    item, moment = views[c + 2], tiny_data.train[1]        # moment 1, view 2
    assert int(item["index"]) == 1 and int(item["view"]) == 2
    for k in PER_VIEW_KEYS:
        assert item[k].shape == (1, *moment[k].shape[1:]), k
        assert torch.equal(item[k][0], moment[k][2]), k
    assert torch.equal(item["root_world_mm"], moment["root_world_mm"])
    with pytest.raises(IndexError, match="out of range"):
        views[len(views)]


def test_single_view_batch_has_no_multi_view_terms(tiny_data):
    cfg = _cfg()
    net = build_model(cfg, tiny_data)
    batch = next(iter(torch.utils.data.DataLoader(SingleViews(tiny_data.train), batch_size=8)))
    out = net(batch, sigma2=cfg.loss.sigma2, physique_on=True)
    assert torch.isfinite(out["loss"]) and out["joints_cam_mm"].shape[:2] == (8, 1)
    assert "loss_triangulation" not in out and "loss_consistency" not in out and out["loss_skeleton"] > 0


def test_fit_with_extra_data_trains_on_it(tiny_data):
    """The extra single views add a finite loss term and change what is learnt; extra weight 0
    gives exactly the run without the term's gradient."""
    runs = {}
    for name, over in (("extra", EXTRA), ("zero_weight", {**EXTRA, "loss.extra_weight": 0.0})):
        reports = []
        metrics = fit(_cfg(**over), _with_extra(tiny_data), hooks=TrainHooks(report=reports.append))
        assert metrics["train/loss_extra"] > 0 and metrics["train/loss_extra"] == metrics["train/loss_extra"]
        runs[name] = reports[-1].state["model"]
    differs = any(not torch.equal(v, runs["zero_weight"][k]) for k, v in runs["extra"].items())
    assert differs, "the extra data set's loss did not reach the weights"


def test_extra_config_and_bundle_must_agree(tiny_data):
    with pytest.raises(ValueError, match="DataConfig.extra"):
        fit(_cfg(**EXTRA), tiny_data)                   # config names one, the bundle has none
    with pytest.raises(ValueError, match="DataConfig.extra"):
        fit(_cfg(), _with_extra(tiny_data))             # the bundle has one, the config none
    with pytest.raises(ValueError, match="must differ"):
        DataConfig(dataset="cmu-mv4", extra="cmu-mv4")
    with pytest.raises(ValueError, match="DataConfig.extra must be"):
        DataConfig(extra="imagenet")
    with pytest.raises(ValueError, match="extra_root"):
        DataConfig(extra_root="/data/wild")
    with pytest.raises(ValueError, match="extra_weight"):
        _cfg(**{"loss.extra_weight": -1.0})
