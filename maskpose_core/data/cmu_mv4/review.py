"""Looking at a built data set: a preview grid (PNG) and a quality report (numbers).

Both read a packed folder (any data set in the packed format works). The preview draws,
per moment and view, the image with the projected ground-truth skeleton (left limbs
blue, right limbs red), the mask, and G. The report checks that labels and masks agree.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from maskpose_core.data.packed import read_meta
from maskpose_core.skeleton import JOINT_NAMES, TREE_BONES

REPORT_CHUNK = 256  # moments read at a time
LEFT_JOINTS = {4, 5, 6, 11, 12, 13}
RIGHT_JOINTS = {1, 2, 3, 14, 15, 16}


def _load(folder: Path, split: str, name: str) -> np.ndarray:
    meta = read_meta(folder)
    if split not in meta["splits"]:
        raise ValueError(f"{folder}: no split {split!r}; it has {sorted(meta['splits'])}")
    return np.load(Path(folder) / split / f"{name}.npy", mmap_mode="r")


def _pixels(xy_norm: np.ndarray, size: int) -> np.ndarray:
    """Normalised crop coordinates -> pixel coordinates (geometry.py convention)."""
    return ((xy_norm + 1.0) * size - 1.0) / 2.0


def _inside_stats(masks: np.ndarray, xy_norm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """masks (N, C, S, S), xy (N, C, J, 2) -> in_crop, in_mask (N, C, J) bool (nearest pixel)."""
    size = masks.shape[-1]
    uv = np.rint(_pixels(xy_norm, size)).astype(int)
    in_crop = ((uv >= 0) & (uv < size)).all(axis=-1)
    u, v = np.clip(uv[..., 0], 0, size - 1), np.clip(uv[..., 1], 0, size - 1)
    n, c, j = in_crop.shape
    ni, ci = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
    hit = masks[ni[..., None], ci[..., None], v, u] > 0
    return in_crop, hit & in_crop


def quality_report(folder: Path, split: str = "val") -> dict:
    """Agreement of labels and masks on one split.

    Returns joints_in_mask (share of projected GT joints whose nearest pixel is in the
    stored mask), joints_in_crop, mask_area_mean (fraction of the crop), flat_G_share
    (views whose G is constant: centroid outside the mask), per_joint_in_mask, per_view
    (the same per camera), and, with exact masks stored, joints_in_exact_mask and
    noisy_vs_exact_iou.
    """
    folder = Path(folder)
    masks_all = _load(folder, split, "masks")
    xy_all = _load(folder, split, "joints_2d_norm")
    g_all = _load(folder, split, "geodesic")
    exact_all = _load(folder, split, "masks_exact") if (folder / split / "masks_exact.npy").is_file() else None
    n, c = masks_all.shape[:2]
    sums = {k: np.zeros((c, len(JOINT_NAMES))) for k in ("crop", "mask", "exact")}
    area, flat, iou = np.zeros(c), np.zeros(c), []
    for s in range(0, n, REPORT_CHUNK):
        m = np.asarray(masks_all[s:s + REPORT_CHUNK])
        in_crop, in_mask = _inside_stats(m, np.asarray(xy_all[s:s + REPORT_CHUNK]))
        sums["crop"] += in_crop.sum(0)
        sums["mask"] += in_mask.sum(0)
        area += m.mean(axis=(2, 3)).sum(0)
        g = np.asarray(g_all[s:s + REPORT_CHUNK]).astype(np.float32)
        flat += (g.max(axis=(2, 3)) - g.min(axis=(2, 3)) == 0).sum(0)
        if exact_all is not None:
            e = np.asarray(exact_all[s:s + REPORT_CHUNK])
            sums["exact"] += _inside_stats(e, np.asarray(xy_all[s:s + REPORT_CHUNK]))[1].sum(0)
            inter, union = (m & e).sum(axis=(2, 3)), (m | e).sum(axis=(2, 3))
            iou.append(inter / np.maximum(union, 1))
    j = len(JOINT_NAMES)
    report = {
        "folder": str(folder), "split": split, "moments": n, "views": c,
        "joints_in_mask": float(sums["mask"].sum() / (n * c * j)),
        "joints_in_crop": float(sums["crop"].sum() / (n * c * j)),
        "mask_area_mean": float(area.sum() / (n * c)),
        "flat_G_share": float(flat.sum() / (n * c)),
        "per_joint_in_mask": {name: float(v) for name, v in zip(JOINT_NAMES, sums["mask"].sum(0) / (n * c))},
        "per_view": [{"view": i, "joints_in_mask": float(sums["mask"][i].sum() / (n * j)),
                      "joints_in_crop": float(sums["crop"][i].sum() / (n * j)),
                      "mask_area_mean": float(area[i] / n), "flat_G_share": float(flat[i] / n)}
                     for i in range(c)],
    }
    if exact_all is not None:
        report["joints_in_exact_mask"] = float(sums["exact"].sum() / (n * c * j))
        report["noisy_vs_exact_iou"] = float(np.concatenate(iou).mean())
    return report


def preview(folder: Path, out_png: Path, *, split: str = "val", n: int = 6) -> Path:
    """Write a PNG grid: rows = ``n`` moments spread over the split; per view three panels
    (image + projected GT skeleton, mask, G with a colormap)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder, out_png = Path(folder), Path(out_png)
    images, masks = _load(folder, split, "images"), _load(folder, split, "masks")
    geo, xy = _load(folder, split, "geodesic"), _load(folder, split, "joints_2d_norm")
    subjects = _load(folder, split, "subject")
    total, c, size = masks.shape[:3]
    if n < 1:
        raise ValueError(f"preview: n must be >= 1, got {n}")
    rows = np.unique(np.linspace(0, total - 1, min(n, total)).astype(int))
    fig, axes = plt.subplots(len(rows), 3 * c, figsize=(3 * c * 1.6, len(rows) * 1.7), squeeze=False)
    for r, i in enumerate(rows):
        for v in range(c):
            ax_img, ax_mask, ax_g = axes[r, 3 * v: 3 * v + 3]
            ax_img.imshow(images[i, v])
            uv = _pixels(np.asarray(xy[i, v]), size)
            for a, b in TREE_BONES:
                col = "tab:blue" if b in LEFT_JOINTS else "tab:red" if b in RIGHT_JOINTS else "yellow"
                ax_img.plot(uv[[a, b], 0], uv[[a, b], 1], "-", color=col, lw=1.0)
            ax_img.plot(uv[:, 0], uv[:, 1], ".", color="white", ms=2)
            ax_mask.imshow(masks[i, v], cmap="gray", vmin=0, vmax=1)
            ax_g.imshow(np.asarray(geo[i, v]).astype(np.float32), cmap="viridis")
            if r == 0:
                ax_img.set_title(f"view {v} image", fontsize=7)
                ax_mask.set_title("mask", fontsize=7)
                ax_g.set_title("G", fontsize=7)
            if v == 0:
                ax_img.set_ylabel(f"#{i} {subjects[i]}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlim(-0.5, size - 0.5)
        ax.set_ylim(size - 0.5, -0.5)
    fig.suptitle(f"{folder.name} / {split}: left limbs blue, right red", fontsize=9)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
