"""The recipe as stages (train/recipe.py): which stages a config runs and which share a stage 1
(its key), the one store (reuse, refusal, lock), stage 2 lowers its mask loss without reading a
target label, the pseudo supervision and the supervised ψ really act, and a run through
``fit_recipe`` reproduces the stages run by hand."""
import dataclasses
import logging

import numpy as np
import pytest
import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.data.packed import PackedSplit
from maskpose_core.train.checkpoint import save_checkpoint
from maskpose_core.train.fit import build_model, fit
from maskpose_core.train.hooks import TrainHooks
from maskpose_core.train.recipe import (CheckpointStore, Stage, check_start, fit_recipe, run_stages, stage1_config,
                                        stage_key, stages)

RECIPE = {"recipe.stages": "two_stage", "model.init_prior": "none", "loss.template_weight": 0.0,
          "optim.batch_size": 8, "train.val_samples": 8, "train.figure_samples": 2,
          "recipe.stage1_epochs": 4, "recipe.stage1_steps_per_epoch": 0}


def _cfg(**over):
    return apply_overrides(profile_config("smoke"), {**RECIPE, **over})


def _with_pseudo(data):
    """The tiny set plays both roles: its labelled train split is the pseudo source."""
    return dataclasses.replace(data, pseudo=data.train)


def _stage1_state(cfg, data):
    store = {}
    fit(stage1_config(cfg), data, hooks=TrainHooks(report=lambda r: store.update(state=r.state)))
    return store["state"]


@pytest.fixture(scope="module")
def stage1(tiny_data):
    cfg = _cfg()
    return cfg, _stage1_state(cfg, tiny_data)


def _key(cfg) -> str:
    return stages(cfg)[0].key


def test_the_stages_of_each_recipe():
    cfg = _cfg()
    assert [(s.name, s.trains, s.shared) for s in stages(apply_overrides(cfg, {"recipe.stages": "mask_only"}))] \
        == [("train", True, False)]
    s1, s2 = stages(cfg)
    assert (s1.name, s1.shared, s1.trains, s1.start_from, s1.psi_render) == ("stage1", True, True, None, "row")
    assert (s2.name, s2.start_from, s2.cfg, s2.drops) == ("stage2", s1, cfg, ())
    e1, ev = stages(apply_overrides(cfg, {"recipe.stages": "pseudo_only"}))
    assert (ev.name, ev.trains, ev.start_from.key) == ("pseudo_only", False, s1.key) and e1.key == s1.key
    no_psi = stages(apply_overrides(cfg, {"model.physique": False}))
    assert no_psi[0].psi_render == "default" and no_psi[1].drops == ("physique.",)


def test_stage1_is_supervised_on_the_pseudo_set_and_its_key_says_which_rows_share_it():
    cfg = _cfg()
    s1 = stage1_config(cfg)
    assert s1.data.dataset == "pseudo" and s1.loss.mode == "supervised_reference" and s1.loss.physique_supervised
    assert s1.train.epochs == 4 and s1.optim.lr == cfg.recipe.stage1_lr
    # a stage-2-only key does not change the key: the loss weights, the recipe's stage-2 knobs, the budget
    stage2_only = {"loss.lambda_s": 0.02, "loss.lambda_p": 0.02, "loss.coverage_weight": 0, "loss.geodesic": False,
                   "loss.extremity_weight": 0, "recipe.pseudo_weight": 3.0, "recipe.discriminator_weight": 0.5,
                   "train.epochs": 7, "optim.lr": 1e-4, "recipe.stage2_physique": "scratch",
                   "model.root": "triangulated"}       # stage 1's root is the labelled renders' own
    assert _key(apply_overrides(cfg, stage2_only)) == _key(cfg)
    # how fast, not what is learned: a compiled stage 1 serves a plain run
    assert _key(apply_overrides(cfg, {"train.compile": True, "train.val_samples": 3, "train.num_threads": 2})) \
        == _key(cfg)
    # an architecture key, the seed, stage 1's own budget do change it
    for change in ({"model.input": "image"}, {"model.width": 16}, {"seed": 1}, {"recipe.stage1_epochs": 5},
                   {"data.pseudo_rig": "ring"}, {"data.pseudo_activities": "dance,walk"}):
        assert _key(apply_overrides(cfg, change)) != _key(cfg), change
    # Δ shapes the render ψ learns on in stage 1; without ψ it shapes nothing there
    assert _key(apply_overrides(cfg, {"loss.delta": False})) != _key(cfg)
    no_psi = apply_overrides(cfg, {"model.physique": False})
    assert _key(apply_overrides(no_psi, {"loss.delta": False})) == _key(no_psi)
    # a row without ψ starts from Full's stage 1 (ψ trained there, dropped on loading)
    assert _key(no_psi) == _key(cfg) and stage1_config(no_psi).model.physique
    # the key is the config's hash without the speed keys: hand-derived from hashed_fields
    import hashlib
    import json

    from maskpose_core.config import hashed_fields
    speed = ("train.compile", "train.val_samples", "train.figure_samples", "train.num_threads", "train.device",
             "train.fault_kill_epoch")
    fields = {k: v for k, v in hashed_fields(s1).items() if k not in speed}
    assert stage_key(s1) == hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:12]


def test_a_row_without_psi_loads_the_stage1_detector_and_drops_psi(tiny_data, stage1):
    cfg, state = stage1
    no_psi = apply_overrides(cfg, {"model.physique": False})
    check_start(stages(no_psi)[1], state, where="stage 1")   # the same stage 1: accepted
    net = build_model(no_psi, tiny_data, init=state)
    assert net.physique is None
    got = net.state_dict()
    assert all(torch.equal(got[k], v) for k, v in state["model"].items() if not k.startswith("physique."))
    assert not any(k.startswith("physique.") for k in got)


def test_stage1_trains_psi_on_exact_skeletons(tiny_data, stage1):
    cfg, state = stage1
    net = build_model(stage1_config(cfg), tiny_data, init=state)
    fresh = build_model(stage1_config(cfg), tiny_data)
    batch = next(iter(torch.utils.data.DataLoader(tiny_data.val, batch_size=8)))
    with torch.no_grad():
        losses = [float(n.objective.supervised_physique(batch, n.physique.eval(), sigma2=cfg.loss.sigma2))
                  for n in (fresh, net)]
    assert losses[1] < 0.7 * losses[0], losses


def test_the_store_reuses_a_stage_and_refuses_another(tmp_path, stage1, caplog):
    cfg, state = stage1
    store = CheckpointStore(tmp_path)
    first = stages(cfg)[0]
    path = save_checkpoint(store.path(first), state)
    assert path.name == f"stage1-{first.key}.pt" and store.has(first)
    made = []
    with caplog.at_level(logging.INFO, logger="maskpose_core.train.recipe"):
        assert store.ensure(first, lambda: made.append(1)) == path         # found: nothing is trained
    assert not made and f"stage1: reusing {path}" in caplog.text
    wider = apply_overrides(cfg, {"model.width": 16})
    with pytest.raises(ValueError, match=r"model\.width: 8 \(need 16\)"):
        check_start(stages(wider)[1], state, where="stage 1")
    save_checkpoint(store.path(stages(wider)[0]), state)              # a wrong file under its name
    with pytest.raises(ValueError, match=r"holds a checkpoint of another stage"):
        store.ensure(stages(wider)[0], lambda: made.append(1))
    assert not made and not list(tmp_path.glob(".*.tmp"))


def test_run_stages_trains_a_shared_stage_once_and_hands_it_on(tmp_path, stage1):
    """run_stages with a recording run_one: stage 1 is made once (stored), the next row's stage 1
    is found, every final stage starts from the stored file."""
    cfg, state = stage1
    calls = []

    class Outcome:
        def __init__(self, name):
            self.metrics, self.checkpoint, self.state = {"stage": name}, None, state

    def run_one(stage: Stage, init):
        calls.append((stage.name, None if init is None else init.name))
        return Outcome(stage.name)

    store = CheckpointStore(tmp_path)
    name = f"stage1-{stages(cfg)[0].key}.pt"
    assert run_stages(cfg, run_one, store).metrics == {"stage": "stage2"}
    off = apply_overrides(cfg, {"loss.lambda_s": 0.0})
    assert run_stages(off, run_one, store).metrics == {"stage": "stage2"}
    only = apply_overrides(cfg, {"recipe.stages": "pseudo_only"})
    assert run_stages(only, run_one, store).metrics == {"stage": "pseudo_only"}
    assert calls == [("stage1", None), ("stage2", name), ("stage2", name), ("pseudo_only", name)]


@pytest.mark.parametrize("lever", [{}, {"loss.mask_scope": "similarity"},
                                   {"loss.robust_triangulation_weight": 1.0, "loss.triangulation_weight": 0.0}],
                         ids=["shipped", "similarity-scoped masks", "robust triangulation"])
def test_stage2_lowers_its_mask_loss_and_reads_no_target_label(tiny_data, stage1, lever):
    """The target's train joints are NaN (all but the root the root protocol uses): stage 2
    still trains to finite losses, with each label-free lever of issue 31 too, and its mask loss
    on a target batch goes down."""
    cfg, state = stage1
    cfg = apply_overrides(cfg, {"train.epochs": 4, "train.steps_per_epoch": 0, "loss.physique_warmup": 0.0, **lever})
    train = PackedSplit(tiny_data.train.folder, tiny_data.train.split).load_in_memory()
    for key in ("joints_cam_mm", "joints_world_mm", "joints_2d_norm"):
        train.arrays[key] = np.full_like(train.arrays[key], np.nan)
    data = dataclasses.replace(tiny_data, train=train, pseudo=tiny_data.train)
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=16)))
    batch = {k: v for k, v in batch.items() if not k.startswith("joints")}

    def mask_loss(net):
        with torch.no_grad():
            return float(net.eval()(batch, sigma2=cfg.loss.sigma2, physique_on=True)["loss"])

    before = mask_loss(build_model(cfg, data, init=state))
    reports = []
    metrics = fit(cfg, data, init=state, hooks=TrainHooks(report=reports.append))
    after = mask_loss(build_model(cfg, data, init=reports[-1].state))
    assert np.isfinite(metrics["train/loss"]) and metrics["train/loss_pseudo"] > 0
    assert after < before, (before, after)
    assert np.isfinite(metrics["val/mpjpe_mm"])
    if "loss.robust_triangulation_weight" in lever:
        assert np.isfinite(metrics["train/loss_robust_triangulation"]) and metrics["train/loss_robust_triangulation"] > 0


def test_fit_recipe_is_the_stages_run_by_hand(tiny_data, tmp_path, monkeypatch):
    """The core's whole recipe (fit_recipe) gives bit-identical weights to stage 1 and stage 2 fitted
    by hand: the store, the loading and the streams add nothing of their own."""
    from maskpose_core.train import recipe

    cfg = _cfg(**{"recipe.stage1_epochs": 1, "recipe.stage1_steps_per_epoch": 2, "train.epochs": 1,
                  "train.steps_per_epoch": 2})
    data = _with_pseudo(tiny_data)
    monkeypatch.setattr("maskpose_core.data.registry.load_data", lambda *a, **k: data)
    reports = []
    metrics = fit_recipe(cfg, store=tmp_path, hooks=TrainHooks(report=reports.append))
    by_hand = []
    fit(cfg, data, init=_stage1_state(cfg, data), hooks=TrainHooks(report=by_hand.append))
    got, want = reports[-1].state["model"], by_hand[-1].state["model"]
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    assert metrics["train/loss_pseudo"] > 0 and (tmp_path / f"stage1-{recipe.stages(cfg)[0].key}.pt").is_file()


def test_stage2_refuses_to_start_without_the_pseudo_set(tiny_data, stage1):
    cfg, state = stage1
    with pytest.raises(ValueError, match="pseudo=True"):
        fit(cfg, tiny_data, init=state)


def test_masks_off_row_keeps_the_pseudo_stream(tiny_data, stage1):
    """'Stage 2, masks off' sees the same streams: only the pseudo term moves the weights."""
    cfg, state = stage1
    off = apply_overrides(cfg, {"loss.lambda_s": 0, "loss.lambda_p": 0, "loss.coverage_weight": 0,
                                "loss.extremity_weight": 0, "train.epochs": 1, "train.steps_per_epoch": 2})
    metrics = fit(off, _with_pseudo(tiny_data), init=state)
    assert metrics["train/loss_pseudo"] > 0 and metrics["train/loss_skeleton"] > 0
