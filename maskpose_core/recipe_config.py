"""Recipe configuration: mask-only (the paper as stated) or the authors' two-stage recipe.

``stages``:

* ``mask_only`` — one stage, label-free on the target: the poster's method (Table 1 "Ours").
* ``two_stage`` — the authors' released recipe (docs/method.md §6): **stage 1** trains the
  detector supervised on labelled pseudo images from our renderer (``data.pseudo_*``), with
  its own budget and learning rate below; **stage 2** starts from that checkpoint and trains
  on the target's images and masks (mask terms of ``loss``), keeping the pseudo-image
  supervision at ``loss.pseudo_weight``. The target's joint labels are never read.
* ``pseudo_only`` — stage 1 alone, evaluated on the target (the recipe's lower bound).

Stage 1 is identified by the hash of the keys that define it (its data, the model, its
optimisation and budget, the seed: ``train/two_stage.py``), so every stage-2 row that shares
them starts from the same cached checkpoint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

STAGES = ("mask_only", "two_stage", "pseudo_only")


@dataclass(frozen=True, kw_only=True)
class RecipeConfig:
    stages: str = "mask_only"         # mask_only | two_stage | pseudo_only
    stage1_epochs: int = 3            # stage 1 budget (supervised on pseudo images)
    stage1_steps_per_epoch: int = 80  # 0 = a full pass over the pseudo set
    stage1_lr: float = 1e-3           # stage 1 peak learning rate (cosine decay as optim)
    stage1_physique: bool = True      # stage 1 also trains ψ: the exact skeleton mask -> exact body mask

    def __post_init__(self):
        if self.stages not in STAGES:
            raise ValueError(f"RecipeConfig.stages must be one of {STAGES}, got {self.stages!r}")
        if self.stage1_epochs < 1:
            raise ValueError(f"RecipeConfig.stage1_epochs must be >= 1, got {self.stage1_epochs}")
        if self.stage1_steps_per_epoch < 0:
            raise ValueError(f"RecipeConfig.stage1_steps_per_epoch must be >= 0, got {self.stage1_steps_per_epoch}")
        if not (math.isfinite(self.stage1_lr) and self.stage1_lr > 0):
            raise ValueError(f"RecipeConfig.stage1_lr must be finite and > 0, got {self.stage1_lr}")

    @property
    def uses_pseudo(self) -> bool:
        """Does a run of this recipe read the pseudo-image set?"""
        return self.stages != "mask_only"
