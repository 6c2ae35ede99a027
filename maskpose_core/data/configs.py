"""Data configuration: which data set, where, at which size, with which mask noise."""
from __future__ import annotations

from dataclasses import dataclass

DATASETS = ("cmu-mv4", "cmu-3dhp-rig", "pseudo", "h36m", "3dhp", "wild")
SINGLE_VIEW_DATASETS = ("wild",)       # one view per moment: no multi-view term can run on them
# Real data sets skip a moment whose mask box is shorter than this on its longer side (full-image
# px): half the default crop S = 64, so a smaller person would be magnified more than 2x to fill
# the crop (1.67x after the 1.2 margin) -- a far or half-detected person (issue: 2x2 masks).
MIN_MASK_PX = 32


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    dataset: str = "cmu-mv4"     # one of DATASETS
    root: str = ""               # built/real data root; "" = <project>/data (or $MASKPOSE_DATA)
    image_size: int = 64         # crop side S in pixels
    train_frames: int = 8000     # moments (each seen by every camera) in the train split; 0 = all
    val_frames: int = 1000       # moments in the val split; 0 = all
    test_frames: int = 1000      # moments in the test split (reported numbers); 0 = all
    mask_noise: float = 0.0      # segmentation-noise strength in [0, 1]; 0 = exact masks
    gen_seed: int = 0            # renderer seed (body shapes, cameras, colours, backgrounds)
    poses: str = ""              # alternative poses file in the mocap format; "" = embedded CMU
    split_all: bool = False      # with ``poses``: every frame in one evaluation split
    extra: str = ""              # a second data set trained on as mask-only single views ("" = none)
    extra_root: str = ""         # its DataConfig.root (needed for h36m / 3dhp / wild)
    pseudo_frames: int = 8000    # two-stage recipe: labelled pseudo-image moments (our renderer); 0 = all
    pseudo_poses: str = ""       # their poses file; "" = the embedded file's pseudo-source subjects
    pseudo_rig: str = "overhead" # their camera rig (cmu_mv4/rig.py); "overhead" = 2.8 m high, unlike the target's
    pseudo_activities: str = ""  # their activity classes, comma-separated ("walk,dance"); "" = every one of the pseudo subjects
    pseudo_shape: str = "narrow"  # their body proportions (cmu_mv4/config.PSEUDO_SHAPES): narrow | fixed
    min_mask_px: int = MIN_MASK_PX  # real data sets: skip moments whose mask box is shorter (longer side, px); 0 = none

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"DataConfig.dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.image_size < 16 or self.image_size % 8:
            raise ValueError(f"DataConfig.image_size must be a multiple of 8 and >= 16, got {self.image_size}")
        from maskpose_core.data.cmu_mv4.rig import RIGS
        if self.pseudo_rig not in RIGS:
            raise ValueError(f"DataConfig.pseudo_rig must be one of {sorted(RIGS)}, got {self.pseudo_rig!r}")
        from maskpose_core.data.cmu_mv4.config import PSEUDO_SHAPES
        if self.pseudo_shape not in PSEUDO_SHAPES:
            raise ValueError(f"DataConfig.pseudo_shape must be one of {sorted(PSEUDO_SHAPES)}, got {self.pseudo_shape!r}")
        for n in ("train_frames", "val_frames", "test_frames", "gen_seed", "pseudo_frames", "min_mask_px"):
            if getattr(self, n) < 0:
                raise ValueError(f"DataConfig.{n} must be >= 0, got {getattr(self, n)}")
        if not 0.0 <= self.mask_noise <= 1.0:
            raise ValueError(f"DataConfig.mask_noise must be in [0, 1], got {self.mask_noise}")
        if self.extra and self.extra not in DATASETS:
            raise ValueError(f"DataConfig.extra must be '' or one of {DATASETS}, got {self.extra!r}")
        if self.extra and self.extra == self.dataset:
            raise ValueError(f"DataConfig.extra ({self.extra!r}) must differ from DataConfig.dataset")
        if self.extra_root and not self.extra:
            raise ValueError("DataConfig.extra_root is set but DataConfig.extra names no data set")
        if self.split_all and not self.poses:
            raise ValueError("DataConfig.split_all needs DataConfig.poses (a poses file to evaluate on)")
