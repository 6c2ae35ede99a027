"""In-the-wild images with foreground masks: no cameras, no labels (docs/method.md §2).

Accepted on-disk layout (``folder`` is what ``DataConfig.root`` names)::

    <folder>/images/<stem>.jpg | .jpeg | .png      (one person per image; e.g. video frames)
    <folder>/masks/<stem>.png                        (or .jpg; any segmenter; same size)

Every image is one moment with C = 1 view, packed into the splits ``train`` and ``all``
(the same frames; ``all`` for ``--split all`` evaluation). Images are taken in name order;
``max_frames`` > 0 keeps that many, evenly spaced. An image whose mask box is shorter than
``min_mask_px`` (``DataConfig.min_mask_px``, default 32 px) on its longer side is skipped (a far
or half-detected person: its crop would be magnified more than 2x): one warning line says how
many and names the first mask files, ``meta.json`` lists them all (``skipped_masks``), and a
folder with no usable mask is refused, naming it (``crop.py``).

The camera is nominal (``crop.nominal_intrinsics``): the person, whose mask box is h px
high, is taken to be ``NOMINAL_HEIGHT_MM`` tall at ``NOMINAL_DEPTH_MM`` in front of the
camera, so f = h · depth / height px, with the principal point at the mask box centre.
World = a frame in which the camera has R = I and t = (0, 0, NOMINAL_DEPTH_MM): the root
(origin of the world) lies on the optical axis at the nominal depth, i.e. at the crop centre.
Joints are NaN; ``meta.json`` says ``has_labels: false``, ``has_cameras: false``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from maskpose_core.data.configs import MIN_MASK_PX
from maskpose_core.data.crop import (CROP_MARGIN, Moment, PackParams, View, cached_packed, check_dir,
                                     even_subset, listing_fingerprint, pack_moments, skipped_meta)
from maskpose_core.skeleton import NUM_JOINTS

NOMINAL_DEPTH_MM = 5000.0   # subject-camera distance like Human3.6M's rig (docs/method.md §2: 4-6 m)
NOMINAL_HEIGHT_MM = 1700.0  # adult stature, order of magnitude (mask box ~ standing height)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MASK_SUFFIXES = (".png", ".jpg")


def wild_moments(folder: Path) -> list[Moment]:
    """One unlabelled single-view moment per image in ``<folder>/images``, sorted by name."""
    images_dir = check_dir(Path(folder) / "images", "in-the-wild images folder")
    masks_dir = check_dir(Path(folder) / "masks", "in-the-wild masks folder")
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"{images_dir}: no images ({'/'.join(IMAGE_SUFFIXES)})")
    nan = np.full((NUM_JOINTS, 3), np.nan)
    t = np.array([0.0, 0.0, NOMINAL_DEPTH_MM])
    out = []
    for img in images:
        candidates = [masks_dir / f"{img.stem}{s}" for s in MASK_SUFFIXES]
        mask = next((c for c in candidates if c.is_file()), None)
        if mask is None:
            raise FileNotFoundError(f"{candidates[0]}: mask file not found (for image {img})")
        out.append(Moment(views=(View(image_path=img, mask_path=mask, K=None, R=np.eye(3), t_mm=t),),
                          joints_world_mm=nan, root_world_mm=np.zeros(3), subject="wild"))
    return out


def prepare_wild(folder: Path, *, cache_root: Path, image_size: int, max_frames: int = 0,
                 margin: float = CROP_MARGIN, min_mask_px: int = MIN_MASK_PX, workers: int | None = None,
                 progress: bool = True) -> Path:
    """Prepare (or find in the cache) an in-the-wild folder -> packed folder with ``train`` = ``all``."""
    folder = check_dir(folder, "in-the-wild data folder")
    check_dir(folder / "images", "in-the-wild images folder")
    check_dir(folder / "masks", "in-the-wild masks folder")
    params = PackParams(image_size=image_size, margin=margin, center="mask",
                        nominal_depth_mm=NOMINAL_DEPTH_MM, nominal_height_mm=NOMINAL_HEIGHT_MM,
                        min_mask_px=min_mask_px)
    key = {"dataset": "wild", "source": str(folder.resolve()), "frames": max_frames, "params": repr(params),
           "listing": listing_fingerprint([folder / "images", folder / "masks"])}

    def build():
        moments = even_subset(wild_moments(folder), max_frames)
        arrays, skipped = pack_moments(moments, params, workers=workers, progress=progress,
                                       what=f"wild data folder {folder}")
        meta = {"num_views": 1, "image_size": image_size, "has_labels": False, "has_cameras": False,
                "source": str(folder), "layout": "images/ + masks/",
                "nominal_camera": {"depth_mm": NOMINAL_DEPTH_MM, "height_mm": NOMINAL_HEIGHT_MM},
                "skipped_masks": skipped_meta(min_mask_px, {"train": len(arrays["subject"])}, {"train": skipped})}
        return meta, {"train": arrays, "all": arrays}

    return cached_packed(Path(cache_root), "wild", key, build)
