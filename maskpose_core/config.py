"""The one config tree: frozen keyword-only dataclasses, dotted overrides, a stable hash.

``ExperimentConfig(data, model, loss, optim, train, seed)``; every field is validated in
``__post_init__`` with a ``ValueError`` naming it. ``flatten``/``unflatten`` map the tree
to dotted keys (``loss.lambda_p``) for MLflow params, Tune search spaces, Ray's
``train_loop_config`` and the command line. Profiles (smoke / quick / paper) set sizes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import dataclass, field

from maskpose_core.data.configs import SINGLE_VIEW_DATASETS, DataConfig
from maskpose_core.model.config import ModelConfig
from maskpose_core.model.precision import PRECISIONS
from maskpose_core.loss.config import LossConfig
from maskpose_core.recipe_config import RecipeConfig

PROFILES = ("smoke", "quick", "paper")


def _positive(obj, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        if not v > 0:
            raise ValueError(f"{type(obj).__name__}.{n} must be > 0, got {v!r}")


@dataclass(frozen=True, kw_only=True)
class OptimConfig:
    lr: float = 1e-3                 # measured at the quick budget: 1e-3 with grad_clip beats 3e-4 (docs/findings-early.md saw 1e-3 unstable without)
    weight_decay: float = 1e-4
    batch_size: int = 32             # moments (each with C views)
    grad_clip: float = 5.0           # max gradient norm; 0 = off
    lr_final_factor: float = 0.1     # cosine decay to lr * factor

    def __post_init__(self):
        _positive(self, "lr", "batch_size")
        if self.weight_decay < 0 or self.grad_clip < 0 or not 0 < self.lr_final_factor <= 1:
            raise ValueError(f"OptimConfig: weight_decay/grad_clip must be >= 0 and "
                             f"lr_final_factor in (0, 1], got {self}")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    epochs: int = 10
    steps_per_epoch: int = 0         # 0 = a full pass over the training set
    val_samples: int = 0             # 0 = the whole validation split
    figure_samples: int = 4          # val samples drawn in the per-run figure
    spp_labelled: int = 0            # SPP: labelled training moments for θ (0 = SPP off)
    spp_epochs: int = 200
    device: str = "cpu"              # cpu | cuda
    num_threads: int = 0             # torch intra-op threads; 0 = leave torch's default
    fault_kill_epoch: int = -1       # fault injection (tests): kill one worker once in this epoch
    precision: str = "fp32"          # fp32 | bf16: the conv trunks under bf16 autocast (model/precision.py)
    compile: bool = False            # torch.compile the detector's backbone in place (MaskPoseNet.compile_backbone)

    def __post_init__(self):
        _positive(self, "epochs", "spp_epochs")
        for n in ("steps_per_epoch", "val_samples", "figure_samples", "spp_labelled", "num_threads"):
            if getattr(self, n) < 0:
                raise ValueError(f"TrainConfig.{n} must be >= 0, got {getattr(self, n)!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"TrainConfig.device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}")


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    profile: str = "quick"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    seed: int = 0

    def __post_init__(self):
        _check_finite(self)
        if self.profile not in PROFILES:
            raise ValueError(f"ExperimentConfig.profile must be one of {PROFILES}, got {self.profile!r}")
        if self.seed < 0:
            raise ValueError(f"ExperimentConfig.seed must be >= 0, got {self.seed}")
        if self.train.spp_labelled > 0 and self.model.num_landmarks < 2 * 17:
            raise ValueError(f"model.num_landmarks must be >= 2J = 34 when SPP is on "
                             f"(train.spp_labelled={self.train.spp_labelled}), got {self.model.num_landmarks}")
        # shapes the forward pass needs (else the first training step fails, after the run started)
        if self.data.image_size % self.loss.render_size:
            raise ValueError(f"loss.render_size ({self.loss.render_size}) must divide data.image_size "
                             f"({self.data.image_size}): the masks are area-averaged down to it")
        if self.recipe.trains_beside_pseudo and self.loss.mode != "unsupervised":
            raise ValueError(f"recipe.stages='two_stage' trains stage 2 with the mask terms; loss.mode must be "
                             f"'unsupervised', got {self.loss.mode!r}")
        if self.recipe.has_stage1 and self.data.dataset == "pseudo":
            raise ValueError("recipe.stages uses the pseudo set as its source; data.dataset must be the target, "
                             "not 'pseudo'")
        if self.loss.robust_triangulation_weight > 0 and self.data.dataset in SINGLE_VIEW_DATASETS:
            raise ValueError(f"loss.robust_triangulation_weight > 0 needs at least 2 views per moment; data.dataset="
                             f"{self.data.dataset!r} has 1 (set loss.robust_triangulation_weight=0)")
        if self.model.physique and self.loss.render_size % 4:
            raise ValueError(f"loss.render_size ({self.loss.render_size}) must be a multiple of 4 with "
                             f"model.physique=true (the physique U-Net halves it twice)")

    @property
    def hash(self) -> str:
        """Stable 12-hex-digit hash of every field (the study runner's identity of a run)."""
        return config_hash(self)


# ---------------------------------------------------------------- flatten / unflatten

def flatten(cfg) -> dict[str, typing.Any]:
    """Dataclass tree -> {dotted key: scalar}."""
    out: dict[str, typing.Any] = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            for k, sub in flatten(v).items():
                out[f"{f.name}.{k}"] = sub
        else:
            out[f.name] = v
    return out


def _check_finite(cfg) -> None:
    """Every float field of ``cfg`` is finite (NaN and ±inf pass ``v < 0`` checks silently)."""
    for key, value in flatten(cfg).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{key} must be finite, got {value}")


def _field_types(cls) -> dict[str, typing.Any]:
    return typing.get_type_hints(cls)


def _coerce(value, typ, key: str):
    """Coerce a string (command line, MLflow) or scalar to the field's type."""
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ValueError(f"{key}: expected a boolean, got {value!r}")
    try:
        if typ is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            if isinstance(value, str) and "." in value:
                raise ValueError
            return int(value)
        if typ is float:
            number = float(value)
        elif typ is str:
            return str(value)
        else:
            raise TypeError(f"{key}: unsupported field type {typ}")
    except ValueError:
        raise ValueError(f"{key}: expected {typ.__name__}, got {value!r}") from None
    if not math.isfinite(number):      # 'nan', 'inf' parse as floats and pass every ``v < 0`` check
        raise ValueError(f"{key} must be finite, got {number}")
    return number


def unflatten(flat: dict[str, typing.Any], cls=None, *, base=None, _prefix: str = ""):
    """{dotted key: value} -> dataclass tree, starting from ``base`` (defaults if None).

    Unknown keys raise ``ValueError`` naming the key and the valid ones; a removed field is
    refused naming where its measurement is; a renamed field's old key is read as the new one.
    """
    cls = cls or ExperimentConfig
    if cls is ExperimentConfig and not _prefix:
        flat = {RENAMED_FIELDS.get(k, k): v for k, v in flat.items()}
        for key in flat:
            if key in REMOVED_FIELDS:
                raise ValueError(f"config key {key!r} was removed from maskpose: {REMOVED_FIELDS[key].why}")
    base = base if base is not None else _default_for(cls)
    types = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    groups: dict[str, dict] = {}
    kwargs: dict[str, typing.Any] = {}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        if head not in names:
            raise ValueError(f"unknown config key {_prefix + key!r}; valid keys under "
                             f"{_prefix or 'the root'}: {sorted(names)}")
        if rest:
            if not dataclasses.is_dataclass(types[head]):
                raise ValueError(f"unknown config key {_prefix + key!r}: {_prefix + head!r} is not a group")
            groups.setdefault(head, {})[rest] = value
        else:
            if dataclasses.is_dataclass(types[head]):
                raise ValueError(f"config key {_prefix + key!r} is a group; set one of its fields")
            kwargs[head] = _coerce(value, types[head], _prefix + key)
    for head, sub in groups.items():
        kwargs[head] = unflatten(sub, types[head], base=getattr(base, head), _prefix=f"{_prefix}{head}.")
    return dataclasses.replace(base, **kwargs)


def _default_for(cls):
    if cls is ExperimentConfig:
        return profile_config("quick")
    return cls()


def parse_overrides(items: typing.Iterable[str]) -> dict[str, str]:
    """``["loss.lambda_p=0", ...]`` -> ``{"loss.lambda_p": "0"}`` (values coerced later)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not of the form key=value")
        out[key.strip()] = value.strip()
    return out


def apply_overrides(cfg: ExperimentConfig, overrides: dict[str, typing.Any]) -> ExperimentConfig:
    """Dotted overrides applied to ``cfg`` (validated; unknown keys raise)."""
    return unflatten(overrides, ExperimentConfig, base=cfg)


def to_dict(cfg: ExperimentConfig) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(d: dict) -> ExperimentConfig:
    """Inverse of :func:`to_dict` (nested dict, e.g. from ``config.json``). A recorded config may
    still name a removed field at its neutral value (dropped) or a renamed field by its old name."""
    flat = {}

    def walk(prefix, node):
        for k, v in node.items():
            if isinstance(v, dict):
                walk(f"{prefix}{k}.", v)
            else:
                flat[f"{prefix}{k}"] = v
    walk("", d)
    for key, removed in REMOVED_FIELDS.items():
        if key in flat:
            if removed.neutral is not ANY_VALUE and flat[key] != removed.neutral:
                raise ValueError(f"config field {key}={flat[key]!r} was removed from maskpose (only its neutral "
                                 f"value {removed.neutral!r}, which changes nothing, can still be read): {removed.why}")
            del flat[key]
    return unflatten(flat, ExperimentConfig, base=ExperimentConfig(profile=d.get("profile", "quick")))


@dataclass(frozen=True)
class Removed:
    """A removed config field: the value at which it did nothing, where its measurement is, and
    whether it was in every config hash (then it re-enters the hash at ``neutral``, so recorded
    runs keep their identity)."""
    neutral: typing.Any
    why: str
    hashed: bool = False


# Fields that were removed. A saved config (a checkpoint, an MLflow run's config.json) holding
# one at its neutral value still loads; any other value is refused, since the run cannot be
# reproduced without the removed code; a command line that sets one is refused (``unflatten``).
ANY_VALUE = object()   # a removed field that mattered only through another removed field
_NOTES = "docs/method-notes.md"
REMOVED_FIELDS: dict[str, Removed] = {
    "loss.inside_weight": Removed(0.0, "the inside term, measured without gain (removed in c44d864)"),
    "loss.inside_samples": Removed(ANY_VALUE, "the inside term's sample count (removed with it)"),
    "model.prior_final_weight": Removed(1.0, "measured without gain after 051165d"),
    "loss.template_robust_c2": Removed(0.0, "measured without gain after 051165d"),
    "loss.lr_align": Removed("none", "measured without gain after 051165d"),
    # issue 28: measured dead ends that no study row used (docs/method-notes.md §7, "Switches removed")
    "loss.skeleton_clip": Removed(0.0, f"the authors' M_skel > 0.1 clip moved the truth as far as without it "
                                       f"({_NOTES} §7)", hashed=True),
    "loss.triangulation_cap_mm": Removed(0.0, f"a 500 mm cap stayed inside the seeds' spread ({_NOTES} §7)"),
    "loss.coverage_radius": Removed(0.0, f"less drift at the truth, no gain in stage 2 ({_NOTES} §7)"),
    "loss.hidden_arm_gate": Removed(False, f"changed nothing on val ({_NOTES} §7)"),
    "loss.hidden_arm_margin": Removed(0.0, f"the hidden-arm gate's margin, changed nothing on val ({_NOTES} §7)"),
}

# Fields renamed (old dotted key -> new): a recorded config or command line naming the old key
# is read as the new one, and the config hash keeps the old name, so recorded runs keep their
# identity. The recipe's stage-2 knobs moved into the recipe's group (issue 28).
RENAMED_FIELDS: dict[str, str] = {
    "loss.pseudo_weight": "recipe.pseudo_weight",
    "loss.discriminator_weight": "recipe.discriminator_weight",
}
_HASH_NAME = {new: old for old, new in RENAMED_FIELDS.items()}


# Fields added after runs were recorded, with the value that reproduces the behaviour from before
# they existed (not always the field's default: ``loss.extremity_weight`` defaults to 1.0, but
# runs from before it existed ran without it, at 0.0). At that value a field is left out of the
# hash, so a run recorded before the field existed keeps its identity (the study runner finds it
# instead of training again). Keys by their hash name (a renamed field's old name).
ADDED_FIELDS: dict[str, typing.Any] = {
    "data.extra": "",
    "data.extra_root": "",
    "data.min_mask_px": 32,
    "data.pseudo_activities": "",
    "data.pseudo_shape": "narrow",
    "loss.extra_weight": 1.0,
    "loss.extremity_weight": 0.0,
    "loss.extremity_threshold": 0.6,
    "loss.template_weight": 0.0,
    "loss.physique_supervised": False,
    "train.precision": "fp32",
    "train.compile": False,
    "model.depth_hypotheses": 1,
    "model.init": "",
    "loss.discriminator_weight": 0.0,
    "recipe.stage2_physique": "stage1",
    "loss.mask_scope": "all",
    "loss.robust_triangulation_weight": 0.0,
    "loss.robust_triangulation_align": True,
    "loss.bone_outside_weight": 0.0,
}


_UNSET = object()


# The pseudo set's data keys: like the recipe's group, read only by the two-stage recipe, so a
# mask-only run's hash leaves them out (changing the recipe's budget or pseudo set never makes a
# mask-only run look new, or stale).
RECIPE_DATA_KEYS = ("data.pseudo_frames", "data.pseudo_poses", "data.pseudo_rig", "data.pseudo_activities",
                    "data.pseudo_shape")
# Of those, what a run on the pseudo set itself (stage 1) renders: its rig, activities (the pose
# distribution) and body proportions; at their first values they are left out, as before.
PSEUDO_RENDER_KEYS = ("data.pseudo_rig", "data.pseudo_activities", "data.pseudo_shape")


def hashed_fields(cfg) -> dict[str, typing.Any]:
    """What :func:`config_hash` hashes: ``flatten(cfg)`` under the hash names (renamed fields by
    their old name, :data:`RENAMED_FIELDS`), without the :data:`ADDED_FIELDS` that hold their
    old-behaviour value; ``cfg`` is the whole ExperimentConfig or one of its sections (a
    DataConfig's keys are checked as ``data.<key>``). A whole ExperimentConfig also hashes the
    removed fields that were hashed, at their neutral value; a mask-only one leaves out the
    recipe's group and :data:`RECIPE_DATA_KEYS`."""
    prefix = next((f"{f.name}." for f in dataclasses.fields(ExperimentConfig)
                   if type(cfg) is _field_types(ExperimentConfig)[f.name]), "")
    flat = flatten(cfg)
    whole = isinstance(cfg, ExperimentConfig)
    if whole and not cfg.recipe.has_stage1:
        keep = PSEUDO_RENDER_KEYS if cfg.data.dataset == "pseudo" else ()
        flat = {k: v for k, v in flat.items()
                if not (k.startswith("recipe.") or k in RECIPE_DATA_KEYS) or k in keep}
    out = {}
    for key, value in flat.items():
        name = _HASH_NAME.get(prefix + key, prefix + key)[len(prefix):]
        if ADDED_FIELDS.get(prefix + name, _UNSET) != value:
            out[name] = _file_identity(value) if prefix + name in HASHED_BY_CONTENT else value
    if whole:
        out.update({k: r.neutral for k, r in REMOVED_FIELDS.items() if r.hashed})
    return out


# File-valued fields that a run's identity holds by content (the file's sha256), not by path.
HASHED_BY_CONTENT = ("model.init",)


def _file_identity(path: str) -> str:
    """``sha256:<hex>`` of a file's bytes (cached per path, size and mtime); ``missing:<path>``
    when there is none (the preflight refuses such a run before it starts)."""
    import os
    if path.startswith("zoo:"):                  # a zoo entry: its file (maskpose_core/train/zoo.py)
        path = _zoo_file(path[len("zoo:"):])
    try:
        st = os.stat(path)
    except OSError:
        return f"missing:{path}"
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        from maskpose_core.file_hash import file_sha256
        _SHA_CACHE[key] = f"sha256:{file_sha256(path)}"
    return _SHA_CACHE[key]


_SHA_CACHE: dict[tuple, str] = {}


def _zoo_file(name: str) -> str:
    """The file of the package zoo's entry ``name`` ("" when there is none): read from its
    manifest here, so that the config does not import the training code."""
    from pathlib import Path
    manifest = Path(__file__).resolve().parent / "zoo" / "manifest.json"
    try:
        entry = json.loads(manifest.read_text())["entries"][name]
    except (OSError, ValueError, KeyError):
        return ""
    return str(manifest.parent / entry["file"])


def config_hash(cfg) -> str:
    """12 hex digits over :func:`hashed_fields` (every field, under its hash name)."""
    payload = json.dumps(hashed_fields(cfg), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


# ---------------------------------------------------------------- profiles

def profile_config(profile: str, **overrides) -> ExperimentConfig:
    """The preset sizes of a profile, then ``overrides`` (dotted keys)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    from maskpose_core.profiles import PROFILE_OVERRIDES
    cfg = unflatten(PROFILE_OVERRIDES[profile], ExperimentConfig,
                    base=ExperimentConfig(profile=profile))
    return apply_overrides(cfg, overrides) if overrides else cfg
