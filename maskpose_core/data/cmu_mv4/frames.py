"""Which mocap frames become which split: loading a poses file, subject splits, balanced sampling.

A poses file has the embedded file's format (mocap/README.md): ``poses`` float [N, 17, 3]
world mm (+Y up); optional ``subject`` [N] str, ``activity_class`` [N] str,
``near_duplicate`` [N] bool. Near-duplicate frames are always dropped.

Splits are by subject (never by frame): the config's ``val_subjects`` form ``val``, its
``test_subjects`` ``test``, the rest ``train``; ``exclude_subjects`` are never used (they are
another data set's pose source: the pseudo set's for the target, the target's for the pseudo set).
A split with a frame budget is sampled balanced over subjects, then over activity
classes inside a subject ("water filling": every group gets the same share unless it has
fewer frames), with salsa (cmu60 + cmu61) capped; frames are picked evenly spaced within a
group with a seeded random phase. ``split_all`` puts every frame in one split ``all``.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maskpose_core.data.cmu_mv4.config import EMBEDDED_POSES, SALSA_SUBJECTS, GeneratorConfig
from maskpose_core.skeleton import NUM_JOINTS

SPLIT_SEED_TAG = 5133  # separates the frame-sampling stream from the per-moment render streams
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")   # an .npz is a zip archive (local header / empty archive)
NPY_MAGIC = b"\x93NUMPY"                       # a single array written by np.save
PICKLE_PROTOCOL_2_PLUS = b"\x80"               # first byte of a pickle of protocol >= 2
SNIFF_BYTES = 64                               # enough of the file to tell what it is


@dataclass(frozen=True)
class PoseSource:
    """A validated poses file: poses (N, J, 3) float64 world mm and per-frame labels (N,)."""
    path: Path
    poses: np.ndarray
    subject: np.ndarray
    activity_class: np.ndarray
    near_duplicate: np.ndarray
    has_subjects: bool


def _field(path: Path, data, key: str, n: int, default):
    if key not in data.files:
        return np.full(n, default)
    arr = _read(path, data, key)
    if arr.shape != (n,):
        raise ValueError(f"{path}: field {key!r} must have shape ({n},), got {arr.shape}")
    return arr


def describe_non_npz(path: Path) -> str | None:
    """What the file at ``path`` is when it is not an .npz archive (None when it is one)."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if head.startswith(ZIP_MAGIC):
        return None
    if not head:
        return "an empty file"
    if head.startswith(NPY_MAGIC):
        return "a single .npy array (np.save; write poses files with np.savez(path, poses=...))"
    if head.startswith(PICKLE_PROTOCOL_2_PLUS):
        return "a Python pickle"
    try:
        lines = head.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return f"binary data beginning {head[:8]!r}"
    return f"a text file (first line {(lines[0] if lines else '')[:40]!r})"


def _read(path: Path, data, key: str) -> np.ndarray:
    try:
        return np.asarray(data[key])
    except ValueError as err:                # an object array needs pickle, which is refused
        raise ValueError(f"{path}: field {key!r} holds Python objects (a pickled object array), "
                         f"not numbers or strings; save it with a numeric or string dtype") from err


def load_poses(gen: GeneratorConfig) -> PoseSource:
    """Load and validate the config's poses file; ValueError naming the file and the field."""
    path = Path(gen.poses) if gen.poses else EMBEDDED_POSES
    what = describe_non_npz(path)
    if what is not None:
        raise ValueError(f"{path}: {what}, not an .npz poses file (a zip of .npy arrays, np.savez)")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: a damaged .npz archive ({type(err).__name__}: {err})") from err
    with data:
        if "poses" not in data.files:
            raise ValueError(f"{path}: missing field 'poses' (float [N, {NUM_JOINTS}, 3] world mm); "
                             f"it has {sorted(data.files)}")
        poses = _read(path, data, "poses")
        if poses.ndim != 3 or poses.shape[1:] != (NUM_JOINTS, 3) or poses.shape[0] == 0:
            raise ValueError(f"{path}: field 'poses' must have shape [N, {NUM_JOINTS}, 3] with N >= 1, "
                             f"got {poses.shape}")
        if not np.issubdtype(poses.dtype, np.floating):
            raise ValueError(f"{path}: field 'poses' must be floating point, got {poses.dtype}")
        bad = ~np.isfinite(poses).all(axis=(1, 2))
        if bad.any():
            raise ValueError(f"{path}: field 'poses' has {int(bad.sum())} frame(s) with NaN/inf "
                             f"(first: frame {int(np.flatnonzero(bad)[0])})")
        n = poses.shape[0]
        has_subjects = "subject" in data.files
        subject = _field(path, data, "subject", n, "unknown").astype(str)
        activity = _field(path, data, "activity_class", n, "unknown").astype(str)
        dup = _field(path, data, "near_duplicate", n, False)
        if dup.dtype != bool:
            raise ValueError(f"{path}: field 'near_duplicate' must be bool, got {dup.dtype}")
    return PoseSource(path, poses.astype(np.float64), subject, activity, dup, has_subjects)


def _water_fill(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Integer counts <= sizes summing to min(budget, sizes.sum()), as equal as possible."""
    counts = np.zeros_like(sizes)
    remaining = min(int(budget), int(sizes.sum()))
    open_ = sizes > 0
    while remaining > 0 and open_.any():
        idx = np.flatnonzero(open_)
        share = max(remaining // idx.size, 1)
        for i in idx:
            take = min(share, sizes[i] - counts[i], remaining)
            counts[i] += take
            remaining -= take
            if counts[i] == sizes[i]:
                open_[i] = False
            if remaining == 0:
                break
    return counts


def _evenly(frames: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k frames spread evenly through ``frames`` (time-ordered), with a random phase."""
    if k >= frames.size:
        return frames
    pos = ((np.arange(k) + rng.random()) * frames.size / k).astype(int)
    return frames[np.minimum(pos, frames.size - 1)]


def balanced_sample(idx: np.ndarray, src: PoseSource, budget: int, max_salsa_share: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Sorted frame indices, ``budget`` of ``idx`` balanced over subjects, then activities."""
    if budget == 0 or budget >= idx.size:
        return np.sort(idx)
    subjects = np.unique(src.subject[idx])
    sizes = np.array([(src.subject[idx] == s).sum() for s in subjects])
    salsa = np.isin(subjects, SALSA_SUBJECTS)
    if salsa.any():  # cap salsa's total, then fill the rest from the other subjects
        cap = int(max_salsa_share * budget)
        sizes_capped = sizes.copy()
        salsa_counts = _water_fill(sizes[salsa], cap)
        sizes_capped[salsa] = salsa_counts
        counts = _water_fill(sizes_capped, budget)
    else:
        counts = _water_fill(sizes, budget)
    chosen = []
    for s, k in zip(subjects, counts):
        own = idx[src.subject[idx] == s]
        classes = np.unique(src.activity_class[own])
        csizes = np.array([(src.activity_class[own] == c).sum() for c in classes])
        for c, kc in zip(classes, _water_fill(csizes, int(k))):
            chosen.append(_evenly(own[src.activity_class[own] == c], int(kc), rng))
    return np.sort(np.concatenate(chosen))


def select_frames(gen: GeneratorConfig, src: PoseSource) -> dict[str, np.ndarray]:
    """{split: sorted frame indices into ``src.poses``}; splits never share a subject.

    Subjects in ``exclude_subjects`` (another data set's pose source) are never used. Of the
    rest, ``val_subjects`` form ``val``, ``test_subjects`` form ``test`` (left out when the
    file has none of them) and the others ``train``.
    """
    keep = np.flatnonzero(~src.near_duplicate)
    if keep.size == 0:
        raise ValueError(f"{src.path}: every frame is a near duplicate; nothing to render")
    if gen.split_all:
        return {"all": keep}
    if not src.has_subjects:
        raise ValueError(f"{src.path}: field 'subject' is missing, so there is no subject split; "
                         "add it or use split_all (--split all)")
    keep = keep[~np.isin(src.subject[keep], gen.exclude_subjects)]
    if keep.size == 0:
        raise ValueError(f"{src.path}: field 'subject' holds no subject outside {list(gen.exclude_subjects)} "
                         f"(reserved for another set: {gen.dataset} never renders them)")
    if gen.activities:                  # the pseudo set's narrower pose distribution (data.pseudo_activities)
        held = sorted(str(a) for a in set(src.activity_class[keep]))
        unknown = [a for a in gen.activities if a not in held]
        if unknown:
            raise ValueError(f"data.pseudo_activities: {unknown} not among the activity classes of "
                             f"{gen.dataset}'s subjects in {src.path}: {held}")
        keep = keep[np.isin(src.activity_class[keep], gen.activities)]
    is_val = np.isin(src.subject[keep], gen.val_subjects)
    is_test = np.isin(src.subject[keep], gen.test_subjects)
    parts = {"train": keep[~is_val & ~is_test], "val": keep[is_val], "test": keep[is_test]}
    for split in ("train",) if gen.dataset == "pseudo" else ("train", "val"):   # pseudo: val optional
        if parts[split].size == 0:
            raise ValueError(f"{src.path}: field 'subject' gives an empty {split} split (val subjects "
                             f"{list(gen.val_subjects)}, test subjects {list(gen.test_subjects)}, excluded "
                             f"{list(gen.exclude_subjects)}); use split_all for an evaluation-only file")
    rng = np.random.default_rng([gen.gen_seed, SPLIT_SEED_TAG])
    budgets = {"train": gen.train_frames, "val": gen.val_frames, "test": gen.test_frames}
    out = {split: balanced_sample(idx, src, budgets[split], gen.max_salsa_share, rng)
           for split, idx in parts.items() if idx.size}
    subjects = [set(src.subject[v]) for v in out.values()]
    assert all(not (a & b) for i, a in enumerate(subjects) for b in subjects[i + 1:])
    return out
