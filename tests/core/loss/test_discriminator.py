"""recipe.discriminator_weight: rotations are rotations, a pose's input is root-relative and
orientation-free, each half of the game moves only its own side, a short game separates
real from fake, stage 2 starts it fresh beside stage 1's weights, and the config's checks."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.loss.discriminator import PoseDiscriminator, adversarial_terms, prepare, random_rotations
from maskpose_core.skeleton import NUM_JOINTS, TEMPLATE_MM
from maskpose_core.train.fit import build_model, fit
from maskpose_core.train.hooks import TrainHooks
from maskpose_core.train.recipe import stage1_config


def test_random_rotations_are_proper_rotations():
    torch.manual_seed(0)
    rot = random_rotations(256)
    eye = torch.eye(3).expand(256, 3, 3)
    assert torch.allclose(rot @ rot.transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(256), atol=1e-5)
    # uniform over SO(3): the mean rotation matrix is ~0 (each entry's std is 1/sqrt(3))
    assert float(rot.mean(0).abs().max()) < 0.2


def test_prepare_is_root_relative_metres_and_keeps_the_shape():
    pose = torch.tensor(TEMPLATE_MM, dtype=torch.float32)[None] + torch.tensor([100.0, -50.0, 4000.0])
    out = prepare(pose)
    assert out.shape == (1, NUM_JOINTS, 3) and float(out[0, 0].abs().max()) < 1e-6
    # a rotation keeps every joint's distance to the root
    rel = (pose[0] - pose[0, :1]) / 1000.0
    assert torch.allclose(out[0].norm(dim=-1), rel.norm(dim=-1), atol=1e-5)
    with pytest.raises(ValueError, match=r"poses must be \(N, >= 17, 3\) mm, got \(1, 5, 3\)"):
        prepare(torch.zeros(1, 5, 3))


def test_each_half_of_the_game_moves_only_its_own_side():
    torch.manual_seed(0)
    disc = PoseDiscriminator()
    fake = (torch.randn(8, NUM_JOINTS, 3) * 300).requires_grad_()
    real = torch.randn(4, NUM_JOINTS, 3) * 300
    gen, d = adversarial_terms(disc, fake, real)
    gen.backward(retain_graph=True)
    assert fake.grad is not None and float(fake.grad.abs().sum()) > 0
    assert all(p.grad is None for p in disc.parameters())            # the generator term spares D
    fake.grad = None
    d.backward()
    assert fake.grad is None                                          # D's term spares the detector
    assert all(p.grad is not None for p in disc.parameters())


def test_a_short_game_tells_real_poses_from_collapsed_ones():
    """D alone, 200 steps: real = the template with noise, fake = poses squashed to 30 %."""
    torch.manual_seed(0)
    disc = PoseDiscriminator()
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3)
    base = torch.tensor(TEMPLATE_MM, dtype=torch.float32)
    for _ in range(200):
        real = base + 20 * torch.randn(32, NUM_JOINTS, 3)
        fake = 0.3 * base + 20 * torch.randn(32, NUM_JOINTS, 3)
        _, d = adversarial_terms(disc, fake, real)
        opt.zero_grad()
        d.backward()
        opt.step()
    with torch.no_grad():
        real_score = disc(prepare(base + 20 * torch.randn(64, NUM_JOINTS, 3))).mean()
        fake_score = disc(prepare(0.3 * base + 20 * torch.randn(64, NUM_JOINTS, 3))).mean()
    assert float(real_score) > 0.8 and float(fake_score) < 0.2, (float(real_score), float(fake_score))


RECIPE = {"recipe.stages": "two_stage", "model.init_prior": "none", "loss.template_weight": 0.0,
          "optim.batch_size": 8, "train.val_samples": 8, "train.figure_samples": 0,
          "recipe.stage1_epochs": 1, "recipe.stage1_steps_per_epoch": 2}


def test_stage2_with_a_discriminator_starts_it_fresh_and_trains(tiny_data):
    cfg = apply_overrides(profile_config("smoke"), {**RECIPE, "recipe.discriminator_weight": 0.5,
                                                     "train.epochs": 1, "train.steps_per_epoch": 3})
    s1 = stage1_config(cfg)
    assert s1.recipe.discriminator_weight == 0.0                    # stage 1 has none, and is shared
    assert s1.hash == stage1_config(apply_overrides(cfg, {"recipe.discriminator_weight": 0.0})).hash
    store = {}
    fit(s1, tiny_data, hooks=TrainHooks(report=lambda r: store.update(state=r.state)))
    net = build_model(cfg, tiny_data, init=store["state"])        # stage 1 weights + a fresh D
    assert net.discriminator is not None
    reports = []
    metrics = fit(cfg, dataclasses.replace(tiny_data, pseudo=tiny_data.train), init=store["state"],
                  hooks=TrainHooks(report=reports.append))
    assert metrics["train/loss_gen"] > 0 and metrics["train/loss_disc"] > 0
    moved = [k for k, v in reports[-1].state["model"].items()
             if k.startswith("discriminator.") and not torch.equal(v, net.state_dict()[k])]
    assert moved                                                  # D was trained in the same steps


def test_the_discriminator_needs_stage_2_and_is_hash_neutral_when_off():
    base = profile_config("quick")
    assert apply_overrides(base, {"recipe.discriminator_weight": 0.0}).hash == base.hash
    with pytest.raises(ValueError, match="recipe.discriminator_weight > 0 needs recipe.stages='two_stage'"):
        apply_overrides(base, {"recipe.discriminator_weight": 0.5})
    with pytest.raises(ValueError, match=r"RecipeConfig.discriminator_weight must be >= 0, got -1"):
        apply_overrides(base, {"recipe.discriminator_weight": -1.0})
