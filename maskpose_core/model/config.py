"""Model configuration: detector φ (backbone, integral-regression volume), landmarks, ψ."""
from __future__ import annotations

from dataclasses import dataclass

BACKBONES = ("tiny", "resnet_small", "resnet50")
ROOT_SOURCES = ("dataset", "triangulated")
INIT_PRIORS = ("none", "mean_pose", "template")
INPUTS = ("image", "image+mask", "mask", "image*mask")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    backbone: str = "resnet_small"   # tiny (smoke) | resnet_small (quick) | resnet50 (paper)
    input: str = "image+mask"        # what φ sees: image (the paper) | image+mask | mask (segmenter output)
    #                                  | image*mask (the authors' code: the background blacked out by the mask)
    width: int = 32                  # base channel count of tiny / resnet_small
    heatmap_size: int = 16           # H = W of the per-joint volume
    heatmap_depth: int = 16          # D of the per-joint volume
    depth_hypotheses: int = 1        # K depths per landmark at the top-K peaks of p(z) (model/hypotheses.py)
    depth_range_mm: float = 1000.0   # root-relative z in [-1, 1] spans ± this many mm
    num_landmarks: int = 17          # L; = J without SPP, >= 2J with SPP
    physique: bool = True            # ψ: the physique U-Net (off = "wo ψ")
    physique_width: int = 32         # ψ encoder widths w, 2w, 4w (authors' code: 32-64-128)
    root: str = "dataset"            # dataset | triangulated (label-free)
    init_prior: str = "template"     # none (the paper; collapses at the quick budget) | mean_pose (UP) | template (T)
    prior_tau_mm: float = 150.0      # width of the init prior's Gaussian on the volume
    weights: str = ""                # optional backbone weight file (torchvision layout for resnet50)
    init: str = ""                   # a maskpose checkpoint to start from: the whole detector (+ ψ); hashed by sha256 (train/init_weights.py)

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"ModelConfig.backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.input not in INPUTS:
            raise ValueError(f"ModelConfig.input must be one of {INPUTS}, got {self.input!r}")
        if self.root not in ROOT_SOURCES:
            raise ValueError(f"ModelConfig.root must be one of {ROOT_SOURCES}, got {self.root!r}")
        if self.init_prior not in INIT_PRIORS:
            raise ValueError(f"ModelConfig.init_prior must be one of {INIT_PRIORS}, got {self.init_prior!r}")
        for n in ("width", "heatmap_size", "heatmap_depth", "physique_width"):
            if getattr(self, n) < 2:
                raise ValueError(f"ModelConfig.{n} must be >= 2, got {getattr(self, n)}")
        if not 1 <= self.depth_hypotheses <= self.heatmap_depth:
            raise ValueError(f"ModelConfig.depth_hypotheses (K) must be in 1..heatmap_depth "
                             f"({self.heatmap_depth}), got {self.depth_hypotheses}")
        if self.num_landmarks < 17 or (self.num_landmarks - 17) % 16:
            raise ValueError(f"ModelConfig.num_landmarks must be 17 + 16·m (J joints plus m free "
                             f"landmarks per tree bone), got {self.num_landmarks}")
        if not self.depth_range_mm > 0 or not self.prior_tau_mm > 0:
            raise ValueError("ModelConfig.depth_range_mm and prior_tau_mm must be > 0, got "
                             f"{self.depth_range_mm}, {self.prior_tau_mm}")

    @property
    def uses_unpaired_prior(self) -> bool:
        """Paper Table 1's 'UP' column."""
        return self.init_prior == "mean_pose"

    @property
    def uses_template(self) -> bool:
        """Paper Table 1's 'T' column."""
        return self.init_prior == "template"
