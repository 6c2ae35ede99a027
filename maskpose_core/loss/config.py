"""Loss configuration: skeleton and physique terms, G, Δ, structure prior, coarse-to-fine."""
from __future__ import annotations

from dataclasses import dataclass

MODES = ("unsupervised", "supervised_reference")
COMBINES = ("sum", "max")
PRIMITIVES = ("bones", "joints")


@dataclass(frozen=True, kw_only=True)
class LossConfig:
    mode: str = "unsupervised"       # supervised_reference = 3D labels: a REFERENCE row, never the method
    lambda_s: float = 1.0            # skeleton-mask term weight λs
    lambda_p: float = 1.0            # physique-mask term weight λp
    sigma2: float = 2e-2             # final bone width σ² in normalised crop units²
    sigma2_start: float = 2e-2       # σ² at the start of coarse-to-fine (>= sigma2)
    anneal_fraction: float = 0.5     # share of training over which σ² narrows to sigma2
    physique_warmup: float = 0.2     # share of training before the physique term switches on
    combine: str = "max"             # sum (poster) | max (authors' code)
    primitive: str = "bones"         # bones (B_b maps) | joints (Gaussian maps at joint points; ablation)
    arm_sigma_factor: float = 0.5    # σ² multiplier for arm bones (authors' code: 1/2)
    delta: bool = True               # Δ torso links in the skeleton mask
    geodesic: bool = True            # G weighting (off = 1 everywhere)
    symmetry_weight: float = 0.1     # left/right bone-length symmetry
    limb_ratio_weight: float = 0.1   # limb-ratio prior (anthropometric ratios)
    consistency_weight: float = 1.0  # multi-view agreement of world-space predictions (label-free; not in the paper)
    triangulation_weight: float = 1.0  # pull each view's 3D towards the DLT triangulation of all views' 2D (not in the paper)
    coverage_weight: float = 1.0     # silhouette coverage: mean G·M·distance to the nearest bone (not in the paper)
    bone_outside_weight: float = 0.0  # per-bone share of each bone's map outside the silhouette (not in the paper;
                                      # not the removed loss.inside_weight, an unnormalised outside distance)
    coverage_eps: float = 0.02       # Charbonnier ε of the coverage distance, normalised crop units
    extremity_weight: float = 1.0    # silhouette tips (high G) reached by wrists, ankles, head top (not in the paper)
    extremity_threshold: float = 0.6  # share of the inside G range above which a pixel is a tip
    template_weight: float = 0.2     # articulation prior: residual to the fitted template (T; not in the paper)
    extra_weight: float = 1.0        # weight of the mask-only single-view loss on DataConfig.extra
    physique_supervised: bool = False  # supervised modes: also train ψ on the exact skeleton -> mask pairs (stage 1)
    render_size: int = 32            # side of the masks compared in the loss (px)
    cross_view: bool = True          # render every view's prediction in every view (C×C)
    robust_triangulation_weight: float = 0.0  # pull towards the views' robust triangulation (left/right resolved,
                                              # outlier views dropped: loss/robust_triangulation.py; not in the paper)
    robust_triangulation_align: bool = True   # … Procrustes-aligned to each prediction first (articulation only)
    mask_scope: str = "all"          # all | similarity: the mask terms' gradient moves only the pose's
                                     # translation, rotation and scale, never its articulation (loss/scope.py)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"LossConfig.mode must be one of {MODES}, got {self.mode!r}")
        if self.primitive not in PRIMITIVES:
            raise ValueError(f"LossConfig.primitive must be one of {PRIMITIVES}, got {self.primitive!r}")
        if self.combine not in COMBINES:
            raise ValueError(f"LossConfig.combine must be one of {COMBINES}, got {self.combine!r}")
        for n in ("lambda_s", "lambda_p", "symmetry_weight", "limb_ratio_weight", "consistency_weight",
                  "coverage_weight", "extremity_weight", "template_weight",
                  "triangulation_weight", "extra_weight", "robust_triangulation_weight", "bone_outside_weight"):
            if getattr(self, n) < 0:
                raise ValueError(f"LossConfig.{n} must be >= 0, got {getattr(self, n)}")
        for n in ("sigma2", "sigma2_start", "arm_sigma_factor", "coverage_eps"):
            if not getattr(self, n) > 0:
                raise ValueError(f"LossConfig.{n} must be > 0, got {getattr(self, n)}")
        if self.sigma2_start < self.sigma2:
            raise ValueError(f"LossConfig.sigma2_start ({self.sigma2_start}) must be >= sigma2 ({self.sigma2})")
        for n in ("anneal_fraction", "physique_warmup"):
            if not 0.0 <= getattr(self, n) <= 1.0:
                raise ValueError(f"LossConfig.{n} must be in [0, 1], got {getattr(self, n)}")
        if self.extremity_weight > 0 and not self.geodesic:
            raise ValueError("LossConfig.extremity_weight > 0 needs LossConfig.geodesic=True (the tips are where "
                             "G is high); set loss.extremity_weight=0 to turn G off")
        if not 0.0 <= self.extremity_threshold < 1.0:
            raise ValueError(f"LossConfig.extremity_threshold must be in [0, 1), got {self.extremity_threshold}")
        from maskpose_core.loss.scope import SCOPES
        if self.mask_scope not in SCOPES:
            raise ValueError(f"LossConfig.mask_scope must be one of {SCOPES}, got {self.mask_scope!r}")
        if self.render_size < 8:
            raise ValueError(f"LossConfig.render_size must be >= 8, got {self.render_size}")

    @property
    def uses_template(self) -> bool:
        """The template articulation prior: part of Table 1's 'T' column."""
        return self.mode == "unsupervised" and self.template_weight > 0

    @property
    def coarse_to_fine(self) -> bool:
        return self.sigma2_start > self.sigma2 or self.physique_warmup > 0
