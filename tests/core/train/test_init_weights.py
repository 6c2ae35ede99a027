"""model.init (a maskpose checkpoint to start from) and model.weights (a backbone file): what
each loads, how a run's identity follows the file's content, and what each refuses."""
import dataclasses
import logging
import shutil

import pytest
import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.model.backbones import load_backbone_weights
from maskpose_core.train.checkpoint import save_checkpoint
from maskpose_core.train.fit import build_model, fit
from maskpose_core.train.hooks import TrainHooks

RUN = {"train.epochs": 1, "train.steps_per_epoch": 2, "optim.batch_size": 4, "train.val_samples": 8,
       "train.figure_samples": 0, "model.init_prior": "none", "loss.template_weight": 0.0}


def _cfg(**over):
    return apply_overrides(profile_config("smoke"), {**RUN, **over})


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    """A checkpoint of a short supervised run (its weights differ from a fresh network's)."""
    reports = []
    fit(_cfg(**{"loss.mode": "supervised_reference", "loss.physique_supervised": True}), tiny_data,
        hooks=TrainHooks(report=reports.append))
    return save_checkpoint(tmp_path_factory.mktemp("init") / "state.pt", reports[-1].state), reports[-1].state


def test_model_init_loads_the_whole_detector_and_psi_and_says_how_many(tiny_data, trained, caplog):
    path, state = trained
    with caplog.at_level(logging.INFO, logger="maskpose_core.train.fit"):
        net = build_model(_cfg(**{"model.init": str(path)}), tiny_data)
    got = net.state_dict()
    assert all(torch.equal(got[k], v) for k, v in state["model"].items())
    assert any(k.startswith("physique.") for k in state["model"]) and any(k.startswith("detector.head") for k in got)
    assert f"model.init {path}: loaded {len(state['model'])} tensors (detector and ψ)" in caplog.text
    fresh = build_model(_cfg(), tiny_data).state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in got.items())       # not a no-op
    # a run started from it trains from those weights: other metrics than from scratch
    a = fit(_cfg(**{"model.init": str(path)}), tiny_data)
    b = fit(_cfg(), tiny_data)
    assert a["val/mpjpe_mm"] != b["val/mpjpe_mm"]


def test_the_run_identity_follows_the_files_content_not_its_path(trained, tmp_path):
    path, state = trained
    moved = shutil.copy(path, tmp_path / "elsewhere.pt")
    assert _cfg(**{"model.init": str(path)}).hash == _cfg(**{"model.init": str(moved)}).hash
    assert _cfg(**{"model.init": str(path)}).hash != _cfg().hash
    other = {**state, "model": {k: v + 1 if v.is_floating_point() else v for k, v in state["model"].items()}}
    assert _cfg(**{"model.init": str(save_checkpoint(tmp_path / "other.pt", other))}).hash \
        != _cfg(**{"model.init": str(path)}).hash


def test_a_checkpoint_of_another_architecture_is_refused_naming_the_file_and_keys(tiny_data, trained):
    path, _ = trained
    with pytest.raises(ValueError, match=rf"model.init {path} does not fit this network \(another architecture\?\): "
                                         r"shape \['detector\.backbone\.body\.0\.0\.weight \(8, 6, 3, 3\) vs \(16, 6, 3, 3\)'"):
        build_model(_cfg(**{"model.init": str(path), "model.width": 16}), tiny_data)


def test_model_init_refuses_what_is_not_a_maskpose_checkpoint(tiny_data, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model.init: checkpoint .*nope.pt does not exist"):
        build_model(_cfg(**{"model.init": str(tmp_path / "nope.pt")}), tiny_data)
    (tmp_path / "t.pt").write_text("hello")
    with pytest.raises(ValueError, match=r"model.init: checkpoint .*t.pt is not a PyTorch checkpoint"):
        build_model(_cfg(**{"model.init": str(tmp_path / "t.pt")}), tiny_data)


def test_model_weights_refuses_a_maskpose_checkpoint_and_a_file_that_fits_nothing(trained, tmp_path, caplog):
    path, state = trained
    net = build_model(_cfg(), None)               # init prior "none": no data needed
    with pytest.raises(ValueError, match=rf"model.weights {path} is a maskpose checkpoint.*use model.init={path}"):
        load_backbone_weights(net.detector.backbone, str(path))
    bare = {k.removeprefix("detector.backbone."): v for k, v in state["model"].items()}   # only "detector.*" prefixed
    torch.save({f"encoder.{k}": v for k, v in bare.items()}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match=r"none of its \d+ keys fits the .* backbone"):
        load_backbone_weights(net.detector.backbone, str(tmp_path / "foreign.pt"))
    own = {k.removeprefix("detector.backbone."): v for k, v in state["model"].items() if k.startswith("detector.backbone.")}
    torch.save(own, tmp_path / "backbone.pt")                                  # a backbone file in its own layout
    with caplog.at_level(logging.INFO, logger="maskpose_core.model.backbones"):
        assert load_backbone_weights(net.detector.backbone, str(tmp_path / "backbone.pt")) == []
    assert f"loaded {len(own)} of the backbone's {len(own)} tensors" in caplog.text


def test_the_authors_stage_2_starts_psi_untrained_and_keeps_the_detector(tiny_data, trained, caplog):
    # recipe.stage2_physique=scratch: stage 1's detector is loaded, its ψ is left out, and ψ keeps
    # the seeded values a fresh network of the same config has
    _, state = trained
    over = {"recipe.stages": "two_stage", "model.init_prior": "none"}
    with caplog.at_level(logging.INFO, logger="maskpose_core.train.fit"):
        net = build_model(_cfg(**over, **{"recipe.stage2_physique": "scratch"}), tiny_data, init=state).state_dict()
    seeded = build_model(_cfg(**over, **{"recipe.stage2_physique": "scratch"}), tiny_data).state_dict()
    psi = [k for k in net if k.startswith("physique.")]
    det = [k for k in state["model"] if not k.startswith("physique.")]
    assert psi and all(torch.equal(net[k], seeded[k]) for k in psi)
    assert any(not torch.equal(net[k], state["model"][k]) for k in psi)      # not stage 1's ψ
    assert all(torch.equal(net[k], state["model"][k]) for k in det)
    assert f"loaded {len(det)} tensors (detector; ψ untrained (recipe.stage2_physique=scratch))" in caplog.text
    calibrated = build_model(_cfg(**over), tiny_data, init=state).state_dict()
    assert all(torch.equal(calibrated[k], state["model"][k]) for k in psi)   # the default: stage 1's ψ


def test_a_psi_start_outside_stage_2_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="recipe.stage2_physique='scratch' needs recipe.stages='two_stage'"):
        _cfg(**{"recipe.stage2_physique": "scratch"})
    with pytest.raises(ValueError, match="stage2_physique must be one of"):
        _cfg(**{"recipe.stages": "two_stage", "recipe.stage2_physique": "random"})


def test_a_frozen_psi_leaves_stage_2_with_stage_1s_psi_bit_for_bit(tiny_data, trained):
    # recipe.stage2_physique=frozen: stage 2 trains the detector, and ψ (weights and BatchNorm
    # statistics) ends exactly as stage 1 left it; the default trains ψ on
    _, state = trained
    over = {"recipe.stages": "two_stage", "model.init_prior": "none", "loss.physique_warmup": 0.0}
    data = dataclasses.replace(tiny_data, pseudo=tiny_data.train)

    def after(**extra):
        reports = []
        fit(_cfg(**over, **extra), data, init=state, hooks=TrainHooks(report=reports.append))
        return reports[-1].state["model"]
    frozen, trained_on = after(**{"recipe.stage2_physique": "frozen"}), after()
    psi = [k for k in state["model"] if k.startswith("physique.")]
    det = [k for k in state["model"] if k.startswith("detector.") and state["model"][k].is_floating_point()]
    assert psi and all(torch.equal(frozen[k], state["model"][k]) for k in psi)
    assert any(not torch.equal(trained_on[k], state["model"][k]) for k in psi)
    assert any(not torch.equal(frozen[k], state["model"][k]) for k in det)        # the detector did train
