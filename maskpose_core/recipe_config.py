"""Recipe configuration: mask-only (the paper as stated) or the authors' two-stage recipe.

``stages``:

* ``mask_only`` — one stage, label-free on the target: the poster's method (Table 1 "Ours").
* ``two_stage`` — the authors' released recipe (docs/method.md §6): **stage 1** trains the
  detector supervised on labelled pseudo images from our renderer (the data set
  ``data.pseudo_*`` describes), with its own budget and learning rate below; **stage 2** starts
  from that checkpoint and trains on the target's images and masks (mask terms of ``loss``),
  keeping the pseudo-image supervision at ``recipe.pseudo_weight`` (and, optionally, a pose
  discriminator at ``recipe.discriminator_weight``). The target's joint labels are never read.
* ``pseudo_only`` — stage 1 alone, evaluated on the target (the recipe's lower bound).

Which stages a config runs, what each starts from and which checkpoint they share is
``maskpose_core/train/recipe.py``. Code asks the named properties below, never the string.

This group holds the recipe's training knobs. The pseudo set's *data* keys
(``data.pseudo_frames``, ``data.pseudo_poses``, ``data.pseudo_rig``) stay in ``data``: they
define a data set (stage 1's ``dataset='pseudo'`` config carries them and its folder's hash is
made of them), as ``data.extra`` defines the extra stream's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

STAGES = ("mask_only", "two_stage", "pseudo_only")
PSI_STARTS = ("stage1", "scratch", "frozen")


@dataclass(frozen=True, kw_only=True)
class RecipeConfig:
    stages: str = "mask_only"         # mask_only | two_stage | pseudo_only
    stage1_epochs: int = 3            # stage 1 budget (supervised on pseudo images)
    stage1_steps_per_epoch: int = 80  # 0 = a full pass over the pseudo set
    stage1_lr: float = 1e-3           # stage 1 peak learning rate (cosine decay as optim)
    stage1_physique: bool = True      # stage 1 also trains ψ: the exact skeleton mask -> exact body mask
    pseudo_weight: float = 1.0        # stage 2: pseudo-image supervision (authors: 3.0 beside 0.02 masks); was loss.pseudo_weight
    discriminator_weight: float = 0.0  # stage 2: pose discriminator's generator term (UP; loss/discriminator.py); was loss.discriminator_weight
    stage2_physique: str = "stage1"   # stage 2's ψ starts from stage 1's (calibrated on the pseudo masks: ours),
                                      # "scratch" (seeded, untrained: the authors' stage 2) or "frozen"
                                      # (stage 1's, never trained in stage 2: weights and BatchNorm fixed)

    def __post_init__(self):
        if self.stages not in STAGES:
            raise ValueError(f"RecipeConfig.stages must be one of {STAGES}, got {self.stages!r}")
        if self.stage1_epochs < 1:
            raise ValueError(f"RecipeConfig.stage1_epochs must be >= 1, got {self.stage1_epochs}")
        if self.stage1_steps_per_epoch < 0:
            raise ValueError(f"RecipeConfig.stage1_steps_per_epoch must be >= 0, got {self.stage1_steps_per_epoch}")
        if not (math.isfinite(self.stage1_lr) and self.stage1_lr > 0):
            raise ValueError(f"RecipeConfig.stage1_lr must be finite and > 0, got {self.stage1_lr}")
        for n in ("pseudo_weight", "discriminator_weight"):
            if getattr(self, n) < 0:
                raise ValueError(f"RecipeConfig.{n} must be >= 0, got {getattr(self, n)}")
        if self.stage2_physique not in PSI_STARTS:
            raise ValueError(f"RecipeConfig.stage2_physique must be one of {PSI_STARTS}, got {self.stage2_physique!r}")
        if self.stage2_physique != "stage1" and not self.trains_beside_pseudo:
            raise ValueError(f"recipe.stage2_physique={self.stage2_physique!r} needs recipe.stages='two_stage' (it is "
                             f"stage 2's ψ), got recipe.stages={self.stages!r}")
        if self.discriminator_weight > 0 and not self.trains_beside_pseudo:
            raise ValueError(f"recipe.discriminator_weight > 0 needs recipe.stages='two_stage' (its real poses are "
                             f"stage 2's pseudo batches), got recipe.stages={self.stages!r}")

    @property
    def has_stage1(self) -> bool:
        """Does this recipe start from a stage 1 trained on the pseudo images?"""
        return self.stages != "mask_only"

    @property
    def trains_beside_pseudo(self) -> bool:
        """Does the final stage train on the target with the pseudo-image stream beside it (stage 2)?"""
        return self.stages == "two_stage"

    @property
    def fresh_physique(self) -> bool:
        """Does stage 2 start ψ untrained (seeded), leaving stage 1's ψ weights out?"""
        return self.trains_beside_pseudo and self.stage2_physique == "scratch"

    @property
    def frozen_physique(self) -> bool:
        """Does stage 2 keep stage 1's ψ fixed (no update, BatchNorm statistics included)?"""
        return self.trains_beside_pseudo and self.stage2_physique == "frozen"

    @property
    def evaluates_only(self) -> bool:
        """Is the final stage an evaluation of stage 1 on the target, without a training step?"""
        return self.stages == "pseudo_only"
