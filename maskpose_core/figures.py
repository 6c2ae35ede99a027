"""Figures of a few samples, in pure numpy (no matplotlib, no Pillow in the core).

:func:`draw_samples` lays out one row per sample:

    image | GT mask | M_skel | M_phys (or blank) | image + GT skeleton (green, wider, below) + prediction (red)

under a row of column titles, with a legend of the skeleton colours below the last row
(``labelled=False`` leaves both out). Left limbs are drawn in a lighter shade of their
colour so a left-right swap is visible.
Every cell is a P×P square, P the smallest multiple of the image side S that is ≥ 128 px
and ≥ the mask side R; images are upsampled by nearest neighbour, masks by nearest-
neighbour index mapping. :func:`write_png` stores an RGB uint8 array as a PNG with zlib
and struct only.
"""
from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np

from maskpose_core.figure_text import GLYPH_H_PX, draw_text, text_width
from maskpose_core.skeleton import JOINT_NAMES, TREE_BONES

MIN_CELL_PX = 128   # cells are at least this large so thin bones stay visible
GAP_PX = 2          # separator between cells and rows
GAP_GRAY = 255      # white separators
BLANK_GRAY = 0      # the M_phys cell when there is no physique mask ("wo ψ")
# Bones are (2r+1) px wide; GT is drawn wider, under the prediction, so it shows as a
# green rim around a correct red bone.
LINE_RADIUS_PX = {"gt": 2, "pred": 1}
JOINT_RADIUS_PX = {"gt": 3, "pred": 2}
COLORS = {  # (right/centre, left) shade per skeleton
    "gt": ((0, 200, 0), (150, 255, 150)),
    "pred": ((220, 0, 0), (255, 160, 160)),
}
CELLS_PER_ROW = 5
# Column titles (the physique cell says when ψ is off) and the legend under the rows.
TITLES = ("image", "GT mask", "skeleton mask", "physique mask", "GT vs predicted")
TITLE_NO_PHYSIQUE = "physique: off"   # (fits a 128 px cell: 13 glyphs)
LEGEND = (("gt", 0, "GT right"), ("gt", 1, "GT left"), ("pred", 0, "predicted right"), ("pred", 1, "predicted left"))
LABEL_PAD_PX = 3
TEXT_GRAY = 0


def _check(name: str, x, ndim: int, shape_doc: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.ndim != ndim or 0 in a.shape:
        raise ValueError(f"{name}: expected shape {shape_doc}, got {a.shape}")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise ValueError(f"{name}: expected numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    bad = int((~np.isfinite(a)).sum())
    if bad:
        raise ValueError(f"{name}: {bad} non-finite value(s) in shape {a.shape}")
    return a


def _resize_nearest(img: np.ndarray, size: int) -> np.ndarray:
    """(h, w, ...) -> (size, size, ...) by nearest neighbour (pixel centres mapped)."""
    rows = ((np.arange(size) + 0.5) * img.shape[0] / size).astype(int)
    cols = ((np.arange(size) + 0.5) * img.shape[1] / size).astype(int)
    return img[rows][:, cols]


def _mask_to_rgb(mask: np.ndarray, name: str, size: int) -> np.ndarray:
    """(R, R) mask >= 0 -> (size, size, 3) uint8 gray. A mask with max > 1 (the ``sum``
    skeleton mask) is shown divided by its max; masks within [0, 1] are shown as is."""
    if mask.min() < 0:
        raise ValueError(f"{name}: masks must be >= 0, got min {mask.min():.4g}")
    peak = mask.max()
    gray = mask / peak if peak > 1 else mask
    g8 = np.round(gray * 255).astype(np.uint8)
    return np.repeat(_resize_nearest(g8, size)[..., None], 3, axis=-1)


def _norm_to_px(xy_norm: np.ndarray, size: int) -> np.ndarray:
    """Normalised crop coords (J, 2) -> pixel coords of a size×size cell
    (the inverse of geometry.pixels_to_normalized: u = ((x + 1)·S − 1) / 2)."""
    return ((xy_norm + 1.0) * size - 1.0) / 2.0


def _stamp(canvas: np.ndarray, uv: np.ndarray, radius: int, color) -> None:
    """Paint discs of ``radius`` (square) at pixel positions uv (K, 2); points off the canvas are dropped."""
    h, w = canvas.shape[:2]
    c = np.round(uv).astype(np.int64)
    offs = np.arange(-radius, radius + 1)
    du, dv = np.meshgrid(offs, offs)
    pts = (c[:, None, :] + np.stack([du.ravel(), dv.ravel()], -1)[None]).reshape(-1, 2)
    keep = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    canvas[pts[keep, 1], pts[keep, 0]] = color


def _draw_line(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, radius: int, color) -> None:
    """Rasterise the segment a-b (pixel coords) by dense sampling (≥ 2 samples per pixel)."""
    n = int(math.ceil(2 * float(np.abs(b - a).max()))) + 1
    t = np.linspace(0.0, 1.0, n)[:, None]
    _stamp(canvas, a[None] + t * (b - a)[None], radius, color)


def draw_skeleton(canvas: np.ndarray, xy_norm: np.ndarray, which: str) -> None:
    """Draw the tree bones and joints of one pose (J, 2), normalised coords, onto ``canvas``
    (P, P, 3) uint8 in place. ``which`` is "gt" or "pred" (see :data:`COLORS`)."""
    main, light = COLORS[which]
    uv = _norm_to_px(xy_norm, canvas.shape[0])
    for parent, child in TREE_BONES:
        color = light if JOINT_NAMES[child].startswith("l_") else main
        _draw_line(canvas, uv[parent], uv[child], LINE_RADIUS_PX[which], color)
    for j in range(len(uv)):
        _stamp(canvas, uv[j:j + 1], JOINT_RADIUS_PX[which], light if JOINT_NAMES[j].startswith("l_") else main)


def cell_size(image_px: int, mask_px: int) -> int:
    """P: the smallest multiple of ``image_px`` that is >= MIN_CELL_PX and >= ``mask_px``."""
    return image_px * math.ceil(max(MIN_CELL_PX, mask_px) / image_px)


def draw_samples(images, masks_gt, masks_skel, masks_phys, pred_2d_norm, gt_2d_norm, *,
                 labelled: bool = True) -> np.ndarray:
    """One row per sample; returns an (H, W, 3) uint8 figure.

    images       (N, 3, S, S) float RGB in [0, 1]
    masks_gt     (N, S, S) GT foreground mask in [0, 1]
    masks_skel   (N, R, R) skeleton mask M_skel (>= 0; a sum mask may exceed 1)
    masks_phys   (N, R, R) physique mask M_phys in [0, 1], or None (cell left blank)
    pred_2d_norm, gt_2d_norm  (N, J, 2) joints in normalised crop coords [-1, 1]
    H = N·P + (N−1)·GAP_PX and W = 5·P + 4·GAP_PX with P = :func:`cell_size` (S, R), plus
    :func:`label_height` above and below when ``labelled``.
    """
    img = _check("images", images, 4, "(N, 3, S, S)")
    n, s = img.shape[0], img.shape[-1]
    if img.shape[1:] != (3, s, s):
        raise ValueError(f"images: expected shape (N, 3, S, S), got {img.shape}")
    if img.min() < 0 or img.max() > 1:
        raise ValueError(f"images: expected values in [0, 1], got [{img.min():.4g}, {img.max():.4g}]")
    m_gt = _check("masks_gt", masks_gt, 3, "(N, S, S)")
    m_sk = _check("masks_skel", masks_skel, 3, "(N, R, R)")
    r = m_sk.shape[-1]
    m_ph = None if masks_phys is None else _check("masks_phys", masks_phys, 3, "(N, R, R)")
    pred = _check("pred_2d_norm", pred_2d_norm, 3, "(N, J, 2)")
    gt = _check("gt_2d_norm", gt_2d_norm, 3, "(N, J, 2)")
    expected = {"masks_gt": (m_gt, (n, s, s)), "masks_skel": (m_sk, (n, r, r)),
                "pred_2d_norm": (pred, (n, len(JOINT_NAMES), 2)), "gt_2d_norm": (gt, (n, len(JOINT_NAMES), 2))}
    if m_ph is not None:
        expected["masks_phys"] = (m_ph, (n, r, r))
    for name, (arr, shape) in expected.items():
        if arr.shape != shape:
            raise ValueError(f"{name}: expected shape {shape} (images {img.shape}), got {arr.shape}")

    p = cell_size(s, r)
    h, w = n * p + (n - 1) * GAP_PX, CELLS_PER_ROW * p + (CELLS_PER_ROW - 1) * GAP_PX
    fig = np.full((h, w, 3), GAP_GRAY, dtype=np.uint8)
    for i in range(n):
        rgb = _resize_nearest(np.round(img[i].transpose(1, 2, 0) * 255).astype(np.uint8), p)
        overlay = rgb.copy()
        draw_skeleton(overlay, gt[i], "gt")
        draw_skeleton(overlay, pred[i], "pred")
        cells = [rgb, _mask_to_rgb(m_gt[i], "masks_gt", p), _mask_to_rgb(m_sk[i], "masks_skel", p),
                 np.full((p, p, 3), BLANK_GRAY, np.uint8) if m_ph is None
                 else _mask_to_rgb(m_ph[i], "masks_phys", p), overlay]
        y0 = i * (p + GAP_PX)
        for k, cell in enumerate(cells):
            x0 = k * (p + GAP_PX)
            fig[y0:y0 + p, x0:x0 + p] = cell
    return _with_labels(fig, p, physique=m_ph is not None) if labelled else fig


def label_height() -> int:
    """Pixels a title row (and the legend row) adds to the figure."""
    return GLYPH_H_PX + 2 * LABEL_PAD_PX


def _with_labels(grid: np.ndarray, p: int, *, physique: bool) -> np.ndarray:
    """``grid`` between a row of column titles and a legend row of colour swatches."""
    band = label_height()
    w = grid.shape[1]
    head = np.full((band, w, 3), GAP_GRAY, np.uint8)
    for k, title in enumerate(TITLES):
        text = title if physique or k != 3 else TITLE_NO_PHYSIQUE
        x0 = k * (p + GAP_PX)
        draw_text(head, text, x=x0 + max(0, (p - text_width(text)) // 2), y=LABEL_PAD_PX, color=(TEXT_GRAY,) * 3)
    foot = np.full((band, w, 3), GAP_GRAY, np.uint8)
    x = LABEL_PAD_PX
    for which, shade, text in LEGEND:
        foot[LABEL_PAD_PX + 2:band - LABEL_PAD_PX - 2, x:x + GLYPH_H_PX - 4] = COLORS[which][shade]
        x += GLYPH_H_PX
        draw_text(foot, text, x=x, y=LABEL_PAD_PX, color=(TEXT_GRAY,) * 3)
        x += text_width(text) + 2 * GLYPH_H_PX
    return np.concatenate([head, grid, foot], axis=0)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path, rgb) -> Path:
    """Write an (H, W, 3) uint8 RGB array as an 8-bit truecolour PNG; returns the path.

    PNG layout (ISO/IEC 15948): signature, IHDR (width, height, bit depth 8, colour type 2,
    compression 0, filter 0, interlace 0), one IDAT with the zlib-compressed scanlines each
    prefixed by filter type 0, IEND. Each chunk is length, type, data, CRC-32(type + data).
    Parent folders are created.
    """
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1 or a.dtype != np.uint8:
        raise ValueError(f"rgb: expected an (H, W, 3) uint8 array, got shape {a.shape} dtype {a.dtype}")
    h, w = a.shape[:2]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), np.ascontiguousarray(a).reshape(h, 3 * w)], axis=1)
    png = (b"\x89PNG\r\n\x1a\n"
           + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
           + _chunk(b"IEND", b""))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    return out
