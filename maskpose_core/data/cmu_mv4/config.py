"""GeneratorConfig: everything that determines the bytes of a cmu-mv4 / cmu-3dhp-rig build.

It is derived from :class:`~maskpose_core.data.configs.DataConfig` (sizes, noise, seed,
poses file) plus the renderer's own knobs (rig, crop size, body and appearance ranges,
geodesic parameters). Its stable hash names the built folder
``<root>/<dataset>-<size tag>-<hash12>``; a change of any field (or of the poses file's
content, or of ``GENERATOR_VERSION``) gives a new folder.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from maskpose_core.data.configs import DataConfig
from maskpose_core.data.geodesic import GeodesicParams
from maskpose_core.file_hash import file_sha256

# Bump when the renderer's output changes for the same config (invalidates cached builds).
GENERATOR_VERSION = 1

EMBEDDED_POSES = Path(__file__).resolve().parents[2] / "assets" / "cmu_h36m17_dev.npz"

# Which rig, background family and body look each synthetic data set uses (docs/method.md §2).
# ``pseudo`` is the two-stage recipe's labelled render set: plainly synthetic (flat-coloured
# body, plain noisy background), a camera ring unlike the target's, narrower body proportions.
DATASET_RIGS = {"cmu-mv4": ("h36m", "clutter"), "cmu-3dhp-rig": ("3dhp", "studio"), "pseudo": ("overhead", "plain")}
DATASET_LOOKS = {"cmu-mv4": "photo", "cmu-3dhp-rig": "photo", "pseudo": "flat"}

# The 21 subjects of the embedded CMU file, split four ways by frames (non-duplicate frames:
# pseudo source 14,534 = 38 %, target train 16,220 = 43 %, val 3,632 = 10 %, test 3,506 = 9 %;
# docs/method.md §2). No subject's motion is in two of them.
VAL_SUBJECTS = ("cmu85", "cmu14", "cmu07")          # walk, jump, acrobatics, dance: choices are made here
TEST_SUBJECTS = ("cmu49", "cmu140", "cmu16", "cmu12", "cmu43", "cmu09", "cmu88")  # jump, acrobatics,
#   get-up, run, walk, playground, martial arts: reported numbers only, never a choice
TARGET_TRAIN_SUBJECTS = ("cmu61", "cmu135", "cmu10", "cmu06")   # salsa, martial arts, walk, sport
PSEUDO_SUBJECTS = ("cmu60", "cmu90", "cmu139", "cmu05", "cmu02", "cmu11", "cmu03")  # the pseudo source
PSEUDO_VAL_SUBJECTS = ("cmu03",)                    # the pseudo set's own val (stage 1's monitor; walk)
# The pseudo source is 89 % salsa (cmu60); its sampled train split may hold up to this share of
# salsa, so it keeps 6,000 of the 8,000 moments of the quick budget instead of 2,931 at 25 %.
PSEUDO_MAX_SALSA_SHARE = 0.75
# Subjects whose frames are salsa (65 % of the embedded file, mocap/README.md).
SALSA_SUBJECTS = ("cmu60", "cmu61")
# Body proportions of the pseudo set: narrower than the target's (bone 0.85-1.15, girth
# 0.75-1.25), so the target shows bodies outside the pseudo range.
PSEUDO_BONE_SCALE = (0.93, 1.07)
PSEUDO_GIRTH = (0.88, 1.12)
# data.pseudo_shape -> (bone factor range, girth range). "narrow" is the recipe's default (the
# ranges above); "fixed" renders every pseudo body with the template's own proportions, the
# body-shape difference made stronger (issue 29's lever, screened on val; not a default).
PSEUDO_SHAPES = {"narrow": (PSEUDO_BONE_SCALE, PSEUDO_GIRTH), "fixed": ((1.0, 1.0), (1.0, 1.0))}


@dataclass(frozen=True, kw_only=True)
class GeneratorConfig:
    version: int = GENERATOR_VERSION
    dataset: str = "cmu-mv4"          # cmu-mv4 (H36M-like rig) | cmu-3dhp-rig (3DHP-like rig)
    rig: str = "h36m"                 # h36m (4 cameras) | 3dhp (5 cameras) | overhead, ring (4 cameras, pseudo: data.pseudo_rig)
    background: str = "clutter"       # clutter (office-like) | studio (green-screen-like) | plain (pseudo)
    look: str = "photo"               # photo (shaded clothing) | flat (one flat colour per body, pseudo)
    image_size: int = 64              # crop side S, pixels
    train_frames: int = 8000          # 0 = all
    val_frames: int = 1000            # 0 = all
    test_frames: int = 1000           # 0 = all
    mask_noise: float = 0.0           # segmentation-noise strength in [0, 1]
    gen_seed: int = 0
    poses: str = ""                   # poses file path ("" = embedded CMU file); not hashed
    poses_sha256: str = ""            # content hash of the poses file actually rendered
    split_all: bool = False           # every non-duplicate frame in one split "all"
    val_subjects: tuple[str, ...] = VAL_SUBJECTS
    test_subjects: tuple[str, ...] = TEST_SUBJECTS
    exclude_subjects: tuple[str, ...] = PSEUDO_SUBJECTS   # never rendered (another set's source)
    activities: tuple[str, ...] = ()  # only frames of these activity classes (pseudo: data.pseudo_activities); () = all
    max_salsa_share: float = 0.25     # cap on cmu60+cmu61 in a sampled split (README: 65 % raw)
    crop_mm: float = 2200.0           # crop side at the pelvis depth, mm
    supersample: int = 2              # RGB samples per pixel side (mask: pixel centre only)
    bone_scale_min: float = 0.85      # per-bone length factor U(min, max)
    bone_scale_max: float = 1.15
    symmetric_bones: bool = True      # left/right partners share one factor
    girth_min: float = 0.75           # per-sample girth factor U(min, max)
    girth_max: float = 1.25
    geodesic: GeodesicParams = GeodesicParams()

    def __post_init__(self):
        if self.dataset not in DATASET_RIGS:
            raise ValueError(f"GeneratorConfig.dataset must be one of {tuple(DATASET_RIGS)}, got {self.dataset!r}")
        from maskpose_core.data.cmu_mv4.rig import RIGS
        if self.rig not in RIGS:
            raise ValueError(f"GeneratorConfig.rig must be one of {sorted(RIGS)}, got {self.rig!r}")
        if self.background not in ("clutter", "studio", "plain"):
            raise ValueError(f"GeneratorConfig.background must be 'clutter', 'studio' or 'plain', got {self.background!r}")
        if self.look not in ("photo", "flat"):
            raise ValueError(f"GeneratorConfig.look must be 'photo' or 'flat', got {self.look!r}")
        if self.image_size < 16 or self.image_size % 8:
            raise ValueError(f"GeneratorConfig.image_size must be a multiple of 8 and >= 16, got {self.image_size}")
        if not 0.0 <= self.mask_noise <= 1.0:
            raise ValueError(f"GeneratorConfig.mask_noise must be in [0, 1], got {self.mask_noise}")
        if not self.crop_mm > 0:
            raise ValueError(f"GeneratorConfig.crop_mm must be > 0, got {self.crop_mm}")
        if self.supersample < 1:
            raise ValueError(f"GeneratorConfig.supersample must be >= 1, got {self.supersample}")
        if not 0 < self.bone_scale_min <= self.bone_scale_max:
            raise ValueError(f"GeneratorConfig.bone_scale_min/max must satisfy 0 < min <= max, got "
                             f"{self.bone_scale_min}, {self.bone_scale_max}")
        if not 0 < self.girth_min <= self.girth_max:
            raise ValueError(f"GeneratorConfig.girth_min/max must satisfy 0 < min <= max, got "
                             f"{self.girth_min}, {self.girth_max}")
        if not 0 < self.max_salsa_share <= 1:
            raise ValueError(f"GeneratorConfig.max_salsa_share must be in (0, 1], got {self.max_salsa_share}")
        for n in ("train_frames", "val_frames", "test_frames", "gen_seed"):
            if getattr(self, n) < 0:
                raise ValueError(f"GeneratorConfig.{n} must be >= 0, got {getattr(self, n)}")

    @property
    def num_views(self) -> int:
        return 5 if self.rig == "3dhp" else 4

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("val_subjects", "test_subjects", "exclude_subjects", "activities"):
            d[k] = list(getattr(self, k))
        return d

    @property
    def hash(self) -> str:
        """Stable 64-hex content hash; the poses *path* is left out, its content is in."""
        d = self.to_dict()
        d.pop("poses")
        if d["geodesic"]["method"] == "fmm":   # added later: fmm builds keep the hash they had
            del d["geodesic"]["method"]
        if not d["activities"]:                # added later: builds of every activity keep their hash
            del d["activities"]
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def folder_name(self) -> str:
        """``<dataset>[-<poses stem>]-<S>px-<train>x<val>[x<test>]-<hash12>`` ("all" for 0 / split_all)."""
        src = f"-{Path(self.poses).stem}" if self.poses else ""
        if self.split_all:
            size = "all"
        else:
            size = f"{self.train_frames or 'all'}x{self.val_frames or 'all'}"
            size += f"x{self.test_frames or 'all'}" if self.test_subjects else ""
        return f"{self.dataset}{src}-{self.image_size}px-{size}-{self.hash[:12]}"


def generator_config(data_cfg: DataConfig, **overrides) -> GeneratorConfig:
    """The generator config of a DataConfig; ``overrides`` set renderer knobs (crop_mm, ...).

    Raises ValueError for a data set this generator does not build, and (via the poses
    loader, later) for a poses file that is missing.
    """
    if data_cfg.dataset not in DATASET_RIGS:
        raise ValueError(f"DataConfig.dataset: cmu_mv4 builds {tuple(DATASET_RIGS)}, got {data_cfg.dataset!r}")
    rig, background = DATASET_RIGS[data_cfg.dataset]
    if data_cfg.dataset == "pseudo":
        rig = data_cfg.pseudo_rig          # the recipe's choice (default "overhead", chosen on val)
        activities = tuple(a.strip() for a in data_cfg.pseudo_activities.split(",") if a.strip())
        (bone_min, bone_max), (girth_min, girth_max) = PSEUDO_SHAPES[data_cfg.pseudo_shape]
    poses_path = Path(data_cfg.poses) if data_cfg.poses else EMBEDDED_POSES
    if not poses_path.is_file():
        raise ValueError(f"DataConfig.poses: no such file {str(poses_path)!r}")
    fields = dict(
        dataset=data_cfg.dataset, rig=rig, background=background, look=DATASET_LOOKS[data_cfg.dataset],
        image_size=data_cfg.image_size, train_frames=data_cfg.train_frames, val_frames=data_cfg.val_frames,
        test_frames=data_cfg.test_frames, mask_noise=data_cfg.mask_noise, gen_seed=data_cfg.gen_seed,
        poses=str(poses_path) if data_cfg.poses else "", poses_sha256=file_sha256(poses_path),
        split_all=data_cfg.split_all,
    )
    if data_cfg.dataset == "pseudo":   # the target's subjects are never a pseudo source
        fields.update(val_subjects=PSEUDO_VAL_SUBJECTS, test_subjects=(), test_frames=0,
                      exclude_subjects=TARGET_TRAIN_SUBJECTS + VAL_SUBJECTS + TEST_SUBJECTS,
                      bone_scale_min=bone_min, bone_scale_max=bone_max,
                      girth_min=girth_min, girth_max=girth_max, max_salsa_share=PSEUDO_MAX_SALSA_SHARE,
                      activities=activities)
    fields.update(overrides)
    return GeneratorConfig(**fields)
