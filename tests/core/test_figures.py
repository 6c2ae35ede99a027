"""Figures: layout, colours of the drawn skeletons, and a PNG round trip through Pillow."""
from __future__ import annotations

import numpy as np
import pytest

from maskpose_core import figures as F
from maskpose_core.skeleton import NUM_JOINTS

J = NUM_JOINTS


def inputs(n: int = 2, s: int = 32, r: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 1.0, (n, 3, s, s))
    masks_gt = (rng.uniform(size=(n, s, s)) > 0.5).astype(np.float32)
    masks_skel = rng.uniform(0.0, 2.0, (n, r, r))  # a sum skeleton mask may exceed 1
    masks_phys = rng.uniform(0.0, 1.0, (n, r, r))
    gt = rng.uniform(-0.8, 0.8, (n, J, 2))
    pred = gt + rng.normal(0.0, 0.05, (n, J, 2))
    return images, masks_gt, masks_skel, masks_phys, pred, gt


def test_layout_shape_and_dtype():
    # S = 32, R = 16: P = 32 · ceil(128 / 32) = 128; H = 2·128 + 1·2 = 258, W = 5·128 + 4·2 = 648.
    fig = F.draw_samples(*inputs(), labelled=False)
    assert fig.shape == (258, 648, 3) and fig.dtype == np.uint8
    assert F.cell_size(32, 16) == 128 and F.cell_size(48, 16) == 144 and F.cell_size(256, 64) == 256
    assert F.cell_size(32, 160) == 160  # a mask finer than 128 px sets the cell size


def test_cells_hold_the_upsampled_inputs_and_a_blank_for_missing_physique():
    images, masks_gt, masks_skel, _, pred, gt = inputs(n=1)
    fig = F.draw_samples(images, masks_gt, masks_skel, None, pred, gt, labelled=False)
    p, gap = 128, F.GAP_PX
    # Cell 0: nearest-neighbour ×4 of the image; crop pixel (v=5, u=7) covers rows 20..23, cols 28..31.
    expected = np.round(images[0, :, 5, 7] * 255).astype(np.uint8)
    assert (fig[20:24, 28:32] == expected).all()
    # Cell 1: the binary GT mask, ×4: 0 -> black, 1 -> white.
    cell = fig[:p, p + gap:2 * p + gap, 0]
    assert np.array_equal(cell[::4, ::4], (masks_gt[0] * 255).astype(np.uint8))
    # Cell 2: M_skel divided by its max (> 1), ×8.
    cell = fig[:p, 2 * (p + gap):3 * (p + gap) - gap, 0]
    assert np.array_equal(cell[::8, ::8], np.round(masks_skel[0] / masks_skel[0].max() * 255).astype(np.uint8))
    # Cell 3: blank (no physique mask); separators white.
    assert (fig[:p, 3 * (p + gap):4 * (p + gap) - gap] == F.BLANK_GRAY).all()
    assert (fig[:, p:p + gap] == F.GAP_GRAY).all()


def test_skeleton_colours_mark_left_and_right():
    # A black image: the overlay cell then holds only skeleton colours.
    images, masks_gt, masks_skel, masks_phys, pred, gt = inputs(n=1)
    images[:] = 0.0
    fig = F.draw_samples(images, masks_gt, masks_skel, masks_phys, pred, gt, labelled=False)
    overlay = fig[:, 4 * (128 + F.GAP_PX):]
    colours = {tuple(c) for c in overlay.reshape(-1, 3)}
    for main, light in F.COLORS.values():
        assert main in colours and light in colours
    # GT far from the prediction: both drawn, a straight bone rasterised without holes.
    canvas = np.zeros((128, 128, 3), np.uint8)
    xy = np.zeros((J, 2))
    xy[1] = [0.5, 0.0]  # r_hip: bone pelvis -> r_hip is horizontal, right side -> main shade
    F.draw_skeleton(canvas, xy, "gt")
    row = canvas[63, 64:95]  # pelvis at u = ((0 + 1)·128 − 1)/2 = 63.5, r_hip at 95.5; v = 63.5
    assert (row == F.COLORS["gt"][0]).all()


def test_labelled_figure_titles_every_column_and_has_a_colour_legend():
    from maskpose_core.figure_text import GLYPH_W_PX, text_mask
    images, masks_gt, masks_skel, masks_phys, pred, gt = inputs(n=1)
    plain = F.draw_samples(images, masks_gt, masks_skel, masks_phys, pred, gt, labelled=False)
    fig = F.draw_samples(images, masks_gt, masks_skel, masks_phys, pred, gt)
    band = F.label_height()
    assert fig.shape == (plain.shape[0] + 2 * band, plain.shape[1], 3)
    assert np.array_equal(fig[band:band + plain.shape[0]], plain)     # the grid itself is untouched
    head, foot = fig[:band], fig[-band:]
    p = 128
    for k, title in enumerate(F.TITLES):            # each title inked, centred in its own column
        cell = head[:, k * (p + F.GAP_PX):k * (p + F.GAP_PX) + p]
        ink = (cell == F.TEXT_GRAY).all(-1)
        assert ink.sum() == text_mask(title).sum(), title
        cols = np.flatnonzero(ink.any(0))
        assert abs((cols.min() + cols.max()) / 2 - p / 2) <= GLYPH_W_PX, title
    legend = {tuple(c) for c in foot.reshape(-1, 3)}
    for main, light in F.COLORS.values():             # a swatch of every skeleton colour
        assert main in legend and light in legend
    no_phys = F.draw_samples(images, masks_gt, masks_skel, None, pred, gt)
    cell = no_phys[:band, 3 * (p + F.GAP_PX):3 * (p + F.GAP_PX) + p]
    assert (cell == F.TEXT_GRAY).all(-1).sum() == text_mask(F.TITLE_NO_PHYSIQUE).sum()


def test_text_is_clipped_and_unknown_characters_are_drawn_as_a_question_mark():
    from maskpose_core.figure_text import GLYPHS, draw_text, text_mask
    assert np.array_equal(text_mask("~"), GLYPHS["?"])
    assert text_mask("ab", scale=2).shape == (26, 28)
    canvas = np.zeros((10, 10, 3), np.uint8)
    draw_text(canvas, "WWWW", x=-3, y=-2, color=(255, 0, 0))       # partly off the canvas: no error
    assert canvas[..., 0].any() and not canvas[..., 1].any()
    draw_text(canvas, "W", x=50, y=50, color=(0, 255, 0))          # wholly off: nothing drawn
    assert not canvas[..., 1].any()


def test_png_round_trip(tmp_path):
    from PIL import Image  # Pillow only in the test, never in the core
    fig = F.draw_samples(*inputs(n=3, s=16, r=16))
    path = F.write_png(tmp_path / "sub" / "fig.png", fig)
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.size == (fig.shape[1], fig.shape[0])
        assert np.array_equal(np.asarray(im), fig)


def test_input_validation(tmp_path):
    images, masks_gt, masks_skel, masks_phys, pred, gt = inputs()
    with pytest.raises(ValueError, match=r"images: expected values in \[0, 1\]"):
        F.draw_samples(images * 2, masks_gt, masks_skel, masks_phys, pred, gt)
    with pytest.raises(ValueError, match=r"masks_phys: expected shape \(2, 16, 16\)"):
        F.draw_samples(images, masks_gt, masks_skel, masks_phys[:, :8], pred, gt)
    bad = pred.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="pred_2d_norm: 1 non-finite"):
        F.draw_samples(images, masks_gt, masks_skel, masks_phys, bad, gt)
    with pytest.raises(ValueError, match="rgb: expected an \\(H, W, 3\\) uint8 array"):
        F.write_png(tmp_path / "x.png", np.zeros((4, 4, 3), np.float32))
