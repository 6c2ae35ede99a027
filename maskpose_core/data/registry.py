"""One entry point from a ``DataConfig`` to the packed splits ``fit`` trains on.

============  ==========================================  ====================================
dataset       DataConfig.root                             DataBundle train / val
============  ==========================================  ====================================
cmu-mv4,      built-data root ("" = the default root)     ``train`` / ``val`` / ``test`` (``all``
cmu-3dhp-rig                                              for all three with ``split_all``)
pseudo        built-data root                             pseudo-source ``train`` / ``val``
h36m          raw h36m-fetch ``processed/`` (required)    S1 S5 S6 S7 S8 / S9 S11 (``test``)
3dhp          raw MPI-INF-3DHP folder (required)          S1-S6 / S7-S8 (``val``)
wild          folder with images/ and masks/ (required)   the folder (``train``) / the same
============  ==========================================  ====================================

Prepared caches of the real data sets go to ``root`` (argument) or :func:`default_data_root`:
``$MASKPOSE_DATA`` if set, else ``<project>/data`` where ``<project>`` is the folder holding
``pyproject.toml`` above this file (``./data`` if there is none, e.g. an installed package).
``train_frames`` / ``val_frames`` cap the moments (0 = all, evenly spaced otherwise); a moment
whose mask box is shorter than ``min_mask_px`` on its longer side is then skipped (``crop.py``).
Real data sets use their own segmenter's masks: ``mask_noise``, ``poses`` and ``split_all``
apply only to the synthetic benchmarks and are refused here.
"""
from __future__ import annotations

import importlib
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from maskpose_core.data.configs import DataConfig
from maskpose_core.data.packed import DataBundle, PackedSplit, read_meta
from maskpose_core.data.single_view import SingleViews

ENV_DATA_ROOT = "MASKPOSE_DATA"
SYNTHETIC = ("cmu-mv4", "cmu-3dhp-rig", "pseudo")


def default_data_root() -> Path:
    """``$MASKPOSE_DATA``, else ``<project>/data`` (project = folder with pyproject.toml)."""
    env = os.environ.get(ENV_DATA_ROOT)
    if env:
        return Path(env).expanduser()
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            return parent / "data"
    return Path.cwd() / "data"


def check_data_root(path: str | os.PathLike, *, what: str = "data root") -> Path:
    """A root that data sets are built (or cached) under: an existing folder, or one that can be
    created. Refused with a one-line ``ValueError`` naming the root; creates nothing."""
    root = Path(path).expanduser().absolute()
    if root.exists():
        if not root.is_dir():
            raise ValueError(f"{what} {root}: is a file, not a folder")
        return root
    parent = root.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{what} {root}: {parent} is a file, not a folder")
    try:                                     # prove that a folder can be created there
        os.rmdir(tempfile.mkdtemp(prefix=".maskpose-probe-", dir=parent))
    except OSError as err:
        raise ValueError(f"{what} {root}: cannot create a folder in {parent}: "
                         f"{err.strerror or err}") from None
    return root


def check_roots(data_cfg: DataConfig, *, root: Path | None = None) -> None:
    """Every root ``load_data(data_cfg, root=root)`` would read or write, checked before any
    work: the built-data root (synthetic), the raw folder and the cache root (real data sets)."""
    cfgs = [data_cfg]
    if data_cfg.extra:
        cfgs.append(replace(data_cfg, dataset=data_cfg.extra, root=data_cfg.extra_root, extra="", extra_root=""))
    for cfg in cfgs:
        if cfg.dataset in SYNTHETIC:
            check_data_root(_built_root(cfg, root))
        else:
            _raw_root(cfg)
            check_data_root(Path(root) if root is not None else default_data_root(), what="data cache root")


def _built_root(data_cfg: DataConfig, root: Path | None) -> Path:
    return Path(data_cfg.root).expanduser() if data_cfg.root else Path(root or default_data_root())


def _raw_root(data_cfg: DataConfig) -> Path:
    if not data_cfg.root:
        raise ValueError(f"DataConfig.root must name the raw {data_cfg.dataset!r} data folder (it is empty)")
    raw = Path(data_cfg.root).expanduser()
    if not raw.is_dir():
        raise FileNotFoundError(f"{raw}: {data_cfg.dataset} data root (DataConfig.root) not found")
    return raw


def _bundle(folder: Path, name: str, train: str, val: str, test: str | None = None) -> DataBundle:
    return DataBundle(train=PackedSplit(folder, train), val=PackedSplit(folder, val), name=name, folder=folder,
                      test=PackedSplit(folder, test) if test else None)


def pseudo_data_config(data_cfg: DataConfig) -> DataConfig:
    """The two-stage recipe's labelled pseudo-image set for a target ``data_cfg``: our renderer
    (``dataset='pseudo'``) on ``pseudo_poses`` (default: the embedded file's pseudo-source
    subjects, none of the target's; only the ``pseudo_activities`` classes when set; bodies of
    the ``pseudo_shape`` proportions),
    ``pseudo_frames`` moments, seen by the ``pseudo_rig``
    cameras, at the target's crop size."""
    return DataConfig(dataset="pseudo", root=data_cfg.root if data_cfg.dataset in SYNTHETIC else "",
                      image_size=data_cfg.image_size, train_frames=data_cfg.pseudo_frames,
                      val_frames=data_cfg.val_frames, test_frames=0, gen_seed=data_cfg.gen_seed,
                      poses=data_cfg.pseudo_poses, pseudo_frames=data_cfg.pseudo_frames,
                      pseudo_poses=data_cfg.pseudo_poses, pseudo_rig=data_cfg.pseudo_rig,
                      pseudo_activities=data_cfg.pseudo_activities, pseudo_shape=data_cfg.pseudo_shape)


def check_pseudo_source(data_cfg: DataConfig) -> None:
    """Refuse (ValueError naming the file) a pseudo-set poses file that has no usable subject,
    before anything is built: reads the poses file, renders nothing."""
    from maskpose_core.data.cmu_mv4.config import generator_config
    from maskpose_core.data.cmu_mv4.frames import load_poses, select_frames
    gen = generator_config(pseudo_data_config(data_cfg))
    select_frames(gen, load_poses(gen))


def load_data(data_cfg: DataConfig, *, root: Path | None = None, workers: int | None = None,
              progress: bool = True, pseudo: bool = False) -> DataBundle:
    """Build/prepare (or find, by hash) the data set of ``data_cfg`` and open its splits; with
    ``data_cfg.extra``, also the extra data set's training split as single views (``extra``);
    with ``pseudo``, also the labelled pseudo-image training split (``pseudo``,
    :func:`pseudo_data_config`)."""
    bundle = _load_one(data_cfg, root=root, workers=workers, progress=progress)
    if pseudo:
        src = _load_one(pseudo_data_config(data_cfg), root=root, workers=workers, progress=progress)
        if src.num_views != bundle.num_views or src.train.image_size != bundle.train.image_size:
            raise ValueError(f"the pseudo set ({src.num_views} views, {src.train.image_size} px) must match "
                             f"{data_cfg.dataset!r} ({bundle.num_views} views, {bundle.train.image_size} px)")
        bundle = replace(bundle, pseudo=src.train)
    if not data_cfg.extra:
        return bundle
    extra_cfg = replace(data_cfg, dataset=data_cfg.extra, root=data_cfg.extra_root, extra="", extra_root="")
    extra = _load_one(extra_cfg, root=root, workers=workers, progress=progress)
    if extra.train.image_size != bundle.train.image_size:
        raise ValueError(f"DataConfig.extra {data_cfg.extra!r} has {extra.train.image_size}-px crops, "
                         f"{data_cfg.dataset!r} {bundle.train.image_size}-px")
    return replace(bundle, extra=SingleViews(extra.train))


def _load_one(data_cfg: DataConfig, *, root: Path | None, workers: int | None, progress: bool) -> DataBundle:
    if data_cfg.dataset in SYNTHETIC:
        cmu_mv4 = importlib.import_module("maskpose_core.data.cmu_mv4")  # lazy: heavy renderer
        built_root = check_data_root(_built_root(data_cfg, root))
        try:
            folder = Path(cmu_mv4.build_cmu_mv4(data_cfg, root=built_root, workers=workers, progress=progress))
        except PermissionError as err:       # an existing root that is read-only (no built copy in it)
            if not str(err.filename or "").startswith(str(built_root)):
                raise
            raise ValueError(f"data root {built_root}: not writable ({err.strerror}: {err.filename})") from None
        splits = read_meta(folder)["splits"]
        if "train" in splits:
            return _bundle(folder, data_cfg.dataset, "train", "val" if "val" in splits else "train",
                           "test" if "test" in splits else None)
        return _bundle(folder, data_cfg.dataset, "all", "all", "all")   # split_all: one evaluation split
    for field, value in (("mask_noise", data_cfg.mask_noise), ("poses", data_cfg.poses),
                         ("split_all", data_cfg.split_all)):   # (pseudo_* apply to any target)
        if value:
            raise ValueError(f"DataConfig.{field}={value!r} applies only to {SYNTHETIC}, "
                             f"not to dataset {data_cfg.dataset!r}")
    raw = _raw_root(data_cfg)
    cache = check_data_root(Path(root) if root is not None else default_data_root(), what="data cache root")
    common = dict(cache_root=cache, image_size=data_cfg.image_size, min_mask_px=data_cfg.min_mask_px,
                  workers=workers, progress=progress)
    if data_cfg.dataset == "h36m":
        from maskpose_core.data.h36m import prepare_h36m
        folder = prepare_h36m(raw, train_frames=data_cfg.train_frames, test_frames=data_cfg.val_frames, **common)
        return _bundle(folder, "h36m", "train", "test", "test")
    if data_cfg.dataset == "3dhp":
        from maskpose_core.data.mpi3dhp import prepare_3dhp
        folder = prepare_3dhp(raw, train_frames=data_cfg.train_frames, val_frames=data_cfg.val_frames, **common)
        return _bundle(folder, "3dhp", "train", "val")
    if data_cfg.dataset == "wild":
        from maskpose_core.data.wild import prepare_wild
        folder = prepare_wild(raw, max_frames=data_cfg.train_frames, **common)
        return _bundle(folder, "wild", "train", "train")
    raise ValueError(f"DataConfig.dataset {data_cfg.dataset!r} has no loader")  # configs.DATASETS grew
