"""Shared preparation of real data sets: read, crop, resize, pack and cache (docs/method.md §2).

Every real data set (Human3.6M, MPI-INF-3DHP, in-the-wild folders) is described as a list
of :class:`Moment` s -- one instant seen by C views, each view an image file, a mask file
and its camera -- and turned into a packed split (``packed.py``) here:

* **Crop.** A square around the person. ``center="mask"`` (default, label-free): centred on
  the mask's bounding box, side = ``margin`` × its longer side. ``center="pelvis"`` (only
  with labels): centred on the projected ground-truth pelvis, side = 2 · ``margin`` × the
  largest distance from it to an edge of the mask's box, so the whole mask is inside.
  Parts of the square outside the image are black (image) and background (mask).
* **Resize** to S × S with Pillow (bilinear, area-averaging when shrinking); the mask is
  resized the same way and thresholded at half coverage.
* **Intrinsics.** ``K_crop = A @ K`` with A the crop+resize map of full-image pixels
  (pixel centres at integers, ``geometry.py``): for a box at (x0, y0) of side L and
  s = S / L, ``u' = s (u - x0 + 1/2) - 1/2`` (same for v).
* **Masks** are read as: foreground = largest channel >= 128 for 8-bit files, > 0 for 0/1
  files; a varying alpha channel is the mask; palette images: index > 0.
  A mask must match its image's size and must not be empty.
* **Small masks are skipped.** A moment any of whose masks has a bounding box shorter than
  ``min_mask_px`` (``DataConfig.min_mask_px``, default 32 px) on its longer side is left out:
  a far or half-detected person, whose crop would be a few pixels wide and magnified more than
  2x. One warning line per split says how many and names the first files; ``meta.json``
  lists every skipped file (``skipped_masks``); a split with no usable mask is refused,
  naming its folder. ``*_frames`` caps are applied before: skipped moments are not replaced.
* **G** is computed once here with ``geodesic_weights`` on the S × S masks.
* **Cache.** ``<root>/<name>-<hash12>``: the hash covers a key built by each data set
  (source folder path, :func:`listing_fingerprint` of its folders, the preparation
  parameters); an existing folder with ``meta.json`` is reused, a new one is written
  atomically with ``write_packed``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from maskpose_core.data.configs import MIN_MASK_PX
from maskpose_core.data.geodesic import GeodesicParams, UnusableMask, geodesic_weights
from maskpose_core.data.packed import write_packed
from maskpose_core.geometry import pixels_to_normalized, project_to_pixels

log = logging.getLogger(__name__)

CROP_MARGIN = 1.2          # crop side / longer side of the mask box (brief; common 1.2-1.25)
MASK_THRESHOLD_8BIT = 128  # 8-bit masks: foreground >= half intensity (JPEG-tolerant)
MIN_BOX_SIDE_PX = 8        # a smaller crop cannot be resized meaningfully
CHUNK_MOMENTS = 64         # moments per worker task
PREPARE_VERSION = 1        # bump when the preparation changes what it writes
IMAGE_ERRORS = (OSError, ValueError, SyntaxError)  # what Pillow raises on unreadable files
FIRST_SKIPPED_NAMED = 3    # skipped mask files named in the one-line summary (meta.json has all)


@dataclass(frozen=True)
class View:
    """One camera's image of a moment.

    K: (3, 3) full-image intrinsics (camera mm -> image px), or None for a nominal camera
    built from the mask (in-the-wild data, see ``wild.py``). R (3, 3), t_mm (3,): world ->
    camera, ``X_cam = R @ X_world + t``.
    """
    image_path: Path
    mask_path: Path
    K: np.ndarray | None
    R: np.ndarray
    t_mm: np.ndarray


@dataclass(frozen=True)
class Moment:
    """One instant seen by C views; joints_world_mm (J, 3) NaN when unlabelled."""
    views: tuple[View, ...]
    joints_world_mm: np.ndarray
    root_world_mm: np.ndarray
    subject: str


def read_image_rgb(path: Path) -> np.ndarray:
    """Image file -> (H, W, 3) uint8 RGB; FileNotFoundError / ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except IMAGE_ERRORS as e:
        raise ValueError(f"{path}: cannot read image ({e})") from e


def read_mask(path: Path, *, image_hw: tuple[int, int], image_path: Path) -> np.ndarray:
    """Mask file -> (H, W) bool; must be (H, W) = ``image_hw`` (of ``image_path``) and non-empty."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: mask file not found (for image {image_path})")
    try:
        with Image.open(path) as im:
            m = _mask_values(im)
    except IMAGE_ERRORS as e:
        raise ValueError(f"{path}: cannot read mask ({e})") from e
    if m.shape != tuple(image_hw):
        raise ValueError(f"{path}: mask size {m.shape[1]}x{m.shape[0]} (WxH) differs from its image "
                         f"{image_path} ({image_hw[1]}x{image_hw[0]})")
    fg = m >= MASK_THRESHOLD_8BIT if m.max() > 1 else m > 0
    if not fg.any():
        raise ValueError(f"{path}: mask is empty (no foreground pixel)")
    return fg


def _mask_values(im: Image.Image) -> np.ndarray:
    """(H, W) mask values of a Pillow image: a varying alpha channel if there is one (cut-outs),
    palette indices for palette images (VOS convention: index 0 = background, written as 0/1+),
    else the largest colour channel."""
    if "A" in im.getbands():
        alpha = np.asarray(im.getchannel("A"))
        if alpha.min() != alpha.max():
            return alpha
        im = im.convert("RGB")
    if im.mode == "P":
        return (np.asarray(im) > 0).astype(np.uint8)
    m = np.asarray(im if im.mode in ("1", "L", "I", "I;16", "F", "RGB") else im.convert("RGB"))
    return m.max(axis=2) if m.ndim == 3 else m


def mask_bounds(mask: np.ndarray) -> tuple[float, float, float, float]:
    """(x_min, y_min, x_max, y_max) of the foreground, pixel-edge coordinates (centres +- 1/2)."""
    ys, xs = np.nonzero(mask)
    return xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5


def mask_side_px(mask: np.ndarray) -> int:
    """Longer side of the foreground's bounding box in pixels (a 2x3 blob -> 3)."""
    x_min, y_min, x_max, y_max = mask_bounds(mask)
    return int(round(max(x_max - x_min, y_max - y_min)))


def square_box(mask: np.ndarray, *, margin: float, center_px: np.ndarray | None = None) -> tuple[int, int, int]:
    """Integer square (x0, y0, side) in image pixels; see the module docstring for the rule."""
    x_min, y_min, x_max, y_max = mask_bounds(mask)
    if center_px is None:
        cx, cy = (x_min + x_max) / 2, (y_min + y_max) / 2
        side = margin * max(x_max - x_min, y_max - y_min)
    else:
        cx, cy = float(center_px[0]), float(center_px[1])
        side = 2 * margin * max(cx - x_min, x_max - cx, cy - y_min, y_max - cy)
    side = max(int(round(side)), MIN_BOX_SIDE_PX)
    # box covers pixel-edge span [x0 - 1/2, x0 + side - 1/2]; centre it on (cx, cy)
    return int(round(cx - side / 2 + 0.5)), int(round(cy - side / 2 + 0.5)), side


def crop_matrix(x0: int, y0: int, side: int, size: int) -> np.ndarray:
    """A (3, 3): full-image pixels -> crop pixels for the box (x0, y0, side) resized to ``size``."""
    s = size / side
    return np.array([[s, 0.0, s * (0.5 - x0) - 0.5],
                     [0.0, s, s * (0.5 - y0) - 0.5],
                     [0.0, 0.0, 1.0]])


def crop_resize(image: np.ndarray, mask: np.ndarray, box: tuple[int, int, int], size: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Crop (H, W, 3) uint8 and (H, W) bool to ``box`` and resize -> (S, S, 3) uint8, (S, S) uint8 0/1."""
    x0, y0, side = box
    rect = (x0, y0, x0 + side, y0 + side)  # Pillow pads outside the image with zeros
    img = Image.fromarray(image).crop(rect).resize((size, size), Image.Resampling.BILINEAR)
    msk = Image.fromarray(mask.astype(np.uint8) * 255).crop(rect).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8), (np.asarray(msk) >= MASK_THRESHOLD_8BIT).astype(np.uint8)


def nominal_intrinsics(mask: np.ndarray, *, depth_mm: float, height_mm: float) -> np.ndarray:
    """K of a nominal camera for an uncalibrated image: the person (mask box height h px) is
    ``height_mm`` tall at ``depth_mm``, f = h · depth / height, principal point at the box centre."""
    x_min, y_min, x_max, y_max = mask_bounds(mask)
    f = (y_max - y_min) * depth_mm / height_mm
    return np.array([[f, 0.0, (x_min + x_max) / 2], [0.0, f, (y_min + y_max) / 2], [0.0, 0.0, 1.0]])


@dataclass(frozen=True, kw_only=True)
class PackParams:
    image_size: int
    margin: float = CROP_MARGIN
    center: str = "mask"                 # "mask" or "pelvis" (needs labels)
    nominal_depth_mm: float = 5000.0     # only for views with K = None
    nominal_height_mm: float = 1700.0
    geodesic: GeodesicParams = GeodesicParams()
    min_mask_px: int = MIN_MASK_PX       # skip moments with a mask box shorter than this (longer side)

    def __post_init__(self):
        if self.center not in ("mask", "pelvis"):
            raise ValueError(f"PackParams.center must be 'mask' or 'pelvis', got {self.center!r}")
        if self.margin < 1.0:
            raise ValueError(f"PackParams.margin must be >= 1, got {self.margin}")
        if self.min_mask_px < 0:
            raise ValueError(f"PackParams.min_mask_px must be >= 0, got {self.min_mask_px}")


class SmallMask(Exception):
    """A view whose mask box is under ``PackParams.min_mask_px``: its moment is skipped."""

    def __init__(self, path: Path, side_px: int):
        super().__init__(f"{path}: mask box {side_px} px")
        self.path, self.side_px = path, side_px

    def __reduce__(self):
        return SmallMask, (self.path, self.side_px)


def _prepare_view(view: View, root_world_mm: np.ndarray, p: PackParams):
    """-> image (S, S, 3) uint8, mask (S, S) uint8, K_crop (3, 3) float64; SmallMask if the mask
    box is under ``p.min_mask_px``."""
    image = read_image_rgb(view.image_path)
    mask = read_mask(view.mask_path, image_hw=image.shape[:2], image_path=view.image_path)
    side = mask_side_px(mask)
    if side < p.min_mask_px:
        raise SmallMask(view.mask_path, side)
    K = view.K if view.K is not None else nominal_intrinsics(
        mask, depth_mm=p.nominal_depth_mm, height_mm=p.nominal_height_mm)
    center = None
    if p.center == "pelvis":
        if not np.isfinite(root_world_mm).all():
            raise ValueError(f"{view.image_path}: center='pelvis' needs a labelled root")
        uvw = K @ (view.R @ root_world_mm + view.t_mm)
        center = uvw[:2] / uvw[2]
    box = square_box(mask, margin=p.margin, center_px=center)
    img, msk = crop_resize(image, mask, box, p.image_size)
    if not msk.any():
        raise ValueError(f"{view.mask_path}: mask becomes empty when resized to {p.image_size} px")
    return img, msk, crop_matrix(*box, p.image_size) @ K


def _pack_chunk(moments: Sequence[Moment], p: PackParams) -> tuple[dict[str, np.ndarray] | None, list]:
    """Pack the moments whose masks are all large enough -> (arrays in the packed-split layout,
    None if no moment is kept; [(mask file, box side px)]: the first small mask of each skipped one)."""
    kept, skipped, views = [], [], []
    for m in moments:
        try:
            views.append([_prepare_view(v, m.root_world_mm, p) for v in m.views])
        except SmallMask as small:
            skipped.append((str(small.path), small.side_px))
            continue
        kept.append(m)
    return (_stack(kept, views, p) if kept else None), skipped


def _stack(moments: Sequence[Moment], views: list, p: PackParams) -> dict[str, np.ndarray]:
    """Moments and their prepared views (``_prepare_view`` outputs, [moment][view]) -> arrays."""
    imgs = [[o[0] for o in out] for out in views]
    msks = [[o[1] for o in out] for out in views]
    Ks = [[o[2] for o in out] for out in views]
    Rs = [[v.R for v in m.views] for m in moments]
    ts = [[v.t_mm for v in m.views] for m in moments]
    K, R, t = (torch.as_tensor(np.asarray(a), dtype=torch.float64) for a in (Ks, Rs, ts))
    world = torch.as_tensor(np.stack([m.joints_world_mm for m in moments]), dtype=torch.float64)
    cam = torch.einsum("ncij,nkj->ncki", R, world) + t[:, :, None, :]       # (N, C, J, 3)
    if torch.isfinite(world).all():
        behind = (cam[..., 2] < 1.0).flatten(1).any(dim=1)
        if behind.any():
            bad = moments[int(behind.nonzero()[0, 0])]
            raise ValueError(f"{bad.views[0].image_path} (subject {bad.subject}): ground-truth joints behind a "
                             f"camera; the annotation and the camera parameters do not match")
        uv = project_to_pixels(cam, K)                                       # (N, C, J, 2)
    else:
        uv = torch.full(cam.shape[:-1] + (2,), float("nan"), dtype=torch.float64)
    masks = np.asarray(msks, dtype=np.uint8)
    try:
        geodesic = geodesic_weights(masks, p.geodesic)
    except UnusableMask as err:
        view = moments[err.index[0]].views[err.index[1]]
        raise ValueError(f"{view.mask_path}: {err.reason}; G cannot be computed for this mask") from None
    return {
        "images": np.asarray(imgs, dtype=np.uint8), "masks": masks,
        "geodesic": geodesic,
        "K": K.numpy().astype(np.float32), "R": R.numpy().astype(np.float32), "t_mm": t.numpy().astype(np.float32),
        "root_world_mm": np.stack([m.root_world_mm for m in moments]).astype(np.float32),
        "joints_world_mm": world.numpy().astype(np.float32), "joints_cam_mm": cam.numpy().astype(np.float32),
        "joints_2d_norm": pixels_to_normalized(uv, p.image_size).numpy().astype(np.float32),
        "subject": np.asarray([m.subject for m in moments], dtype=str),
    }


def pack_moments(moments: Sequence[Moment], params: PackParams, *, workers: int | None = None,
                 progress: bool = True, what: str = "") -> tuple[dict[str, np.ndarray], list[tuple[str, int]]]:
    """Moments -> (one packed split's arrays (N kept moments, C views each, S = params.image_size),
    skipped: [(mask file, box side px)] of each moment left out for a mask under ``min_mask_px``).

    ``what`` names the split and its folder in messages. Skipped moments are reported in one
    warning line; none kept -> ValueError. ``workers`` > 1 spreads chunks of moments over that
    many processes (spawned); None = all cores (at most 8); 0 or 1 = in this process.
    ``progress`` logs every ~10 %.
    """
    if not moments:
        raise ValueError(f"{what or 'pack_moments'}: no moments to pack")
    num_views = {len(m.views) for m in moments}
    if len(num_views) != 1:
        raise ValueError(f"{what}: moments have different numbers of views {sorted(num_views)}")
    if workers is None:
        workers = min(os.cpu_count() or 1, 8)
    chunks = [moments[i:i + CHUNK_MOMENTS] for i in range(0, len(moments), CHUNK_MOMENTS)]
    parts: list[dict[str, np.ndarray]] = []
    skipped: list[tuple[str, int]] = []
    step = max(1, len(chunks) // 10)
    if workers <= 1 or len(chunks) == 1:
        results = (_pack_chunk(c, params) for c in chunks)
        executor = None
    else:
        executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        results = executor.map(_pack_chunk, chunks, [params] * len(chunks))
    try:
        for i, (part, small) in enumerate(results):
            parts += [part] if part is not None else []
            skipped += small
            if progress and (i + 1) % step == 0:
                log.info("%s: packed %d / %d moments", what, min((i + 1) * CHUNK_MOMENTS, len(moments)), len(moments))
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
    if not parts:
        raise ValueError(f"{what}: no usable mask: {skipped_line(skipped, len(moments), params.min_mask_px)}")
    if skipped:
        log.warning("%s: %s", what, skipped_line(skipped, len(moments), params.min_mask_px))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, skipped


def skipped_line(skipped: Sequence[tuple[str, int]], considered: int, min_mask_px: int) -> str:
    """One line: how many of ``considered`` moments were skipped, and the first mask files."""
    first = ", ".join(f"{path} ({side} px)" for path, side in skipped[:FIRST_SKIPPED_NAMED])
    more = f", and {len(skipped) - FIRST_SKIPPED_NAMED} more" if len(skipped) > FIRST_SKIPPED_NAMED else ""
    return (f"skipped {len(skipped)} of {considered} moments whose mask box is under data.min_mask_px = "
            f"{min_mask_px} px on its longer side (a far or half-detected person): {first}{more}")


def skipped_meta(min_mask_px: int, kept: dict[str, int], skipped: dict[str, list]) -> dict:
    """``meta.json``'s record of skipped moments: per split how many were kept and each skipped
    moment's (mask file, box side px)."""
    return {"min_mask_px": min_mask_px,
            "splits": {k: {"kept": kept[k], "skipped": [list(x) for x in skipped[k]]} for k in skipped}}


def even_subset(items: Sequence, limit: int) -> list:
    """At most ``limit`` items, evenly spaced in order (all of them when limit is 0 or larger)."""
    if limit <= 0 or len(items) <= limit:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, limit).round().astype(int)]


def keep_by_gap(frames: Sequence[int], stride: int) -> list[int]:
    """Frame numbers (ascending) kept when each is >= ``stride`` after the last kept one.

    On a complete extraction (1, 2, 3, ...) this is every ``stride``-th frame; on an already
    thinned one (e.g. every 64th) nothing more is dropped when the gaps are >= stride.
    """
    kept: list[int] = []
    for f in frames:
        if not kept or f - kept[-1] >= stride:
            kept.append(int(f))
    return kept


def listing_fingerprint(paths: Sequence[Path]) -> list:
    """Summary of folders (recursively) and files: per folder its entry count and mtime, per
    listed file its size and mtime. A file added, removed or renamed changes it; a file
    rewritten in place under the same name is only seen for the listed files."""
    out = []
    for p in sorted(Path(x) for x in paths):
        if p.is_file():
            st = p.stat()
            out.append([str(p), "file", st.st_size, st.st_mtime_ns])
            continue
        for dirpath, dirnames, filenames in os.walk(p):
            dirnames.sort()
            out.append([os.path.relpath(dirpath, p.parent), len(dirnames) + len(filenames),
                        os.stat(dirpath).st_mtime_ns])
    return out


def hash12(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cached_packed(root: Path, name: str, key: dict,
                  build: Callable[[], tuple[dict, dict[str, dict[str, np.ndarray]]]]) -> Path:
    """Folder ``<root>/<name>-<hash12(key)>``: reused if it holds ``meta.json``, else
    ``build() -> (meta, splits)`` is called and written atomically."""
    key = {**key, "prepare_version": PREPARE_VERSION}
    h = hash12(key)
    folder = Path(root) / f"{name}-{h}"
    if (folder / "meta.json").is_file():
        log.info("%s: using prepared data %s", name, folder)
        record = json.loads((folder / "meta.json").read_text()).get("skipped_masks", {})
        for split, entry in record.get("splits", {}).items():
            if entry["skipped"]:
                log.warning("%s/%s: %s (when prepared; every file in %s)", name, split, skipped_line(
                    entry["skipped"], entry["kept"] + len(entry["skipped"]), record["min_mask_px"]),
                    folder / "meta.json")
        return folder
    meta, splits = build()
    meta = {"name": name, "hash": h, "preparation": key, **meta}
    return write_packed(folder, meta, splits)


def check_dir(path: Path, what: str) -> Path:
    """``path`` as an existing folder, else FileNotFoundError naming it."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: {what} not found")
    return path
