"""Colours, shading and backgrounds of the synthetic images (RGB floats in [0, 1]).

* Clothing: one colour per region (skin, hair, shirt, trousers, shoes), the same on the
  left and the right, so colour never tells left from right.
* Shading: Lambertian with one random directional light from the upper hemisphere plus
  ambient.
* Background: a floor plane (tiled, in world coordinates, so it is geometrically
  consistent across the views) out to a room radius, walls beyond. ``clutter`` walls carry
  random rectangles, ellipses, stripes, gradients and texture noise (an office-like lab,
  like Human3.6M's); ``studio`` walls and floor are green-screen-like with a few panels
  (like MPI-INF-3DHP's studio); ``plain`` (the pseudo set) is one flat colour with pixel
  noise, no floor or walls.
* ``flat`` look (the pseudo set): one colour for the whole body (no skin, hair or clothing
  regions), lit with a higher ambient share: plainly a render.
"""
from __future__ import annotations

import colorsys

import numpy as np
from scipy import ndimage

from maskpose_core.data.cmu_mv4.body import HAIR, NUM_REGIONS, SHIRT, SHOES, SKIN, TROUSERS

# Skin tones (sRGB, light to dark), hand-picked to span roughly the six Fitzpatrick types;
# hair colours black/brown/blond/grey/red. Hand-picked, not measured.
SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.90, 0.72, 0.58], [0.80, 0.60, 0.45],
                       [0.63, 0.44, 0.31], [0.45, 0.30, 0.20], [0.30, 0.20, 0.14]])
HAIR_COLOURS = np.array([[0.08, 0.06, 0.05], [0.30, 0.20, 0.12], [0.75, 0.62, 0.38],
                         [0.62, 0.62, 0.62], [0.55, 0.25, 0.12]])
ROOM_RADIUS_MM = (5500.0, 9000.0)   # floor ends (walls start) this far from the rig centre, behind the cameras
AMBIENT = (0.3, 0.5)                # ambient light share, U(lo, hi)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v))


def sample_palette(rng: np.random.Generator) -> np.ndarray:
    """(NUM_REGIONS, 3) albedo per region."""
    pal = np.zeros((NUM_REGIONS, 3))
    pal[SKIN] = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.05)
    pal[HAIR] = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
    pal[SHIRT] = _hsv(rng.random(), rng.uniform(0.0, 0.9), rng.uniform(0.25, 0.95))
    if rng.random() < 0.4:                      # jeans
        pal[TROUSERS] = _hsv(rng.uniform(0.58, 0.64), rng.uniform(0.4, 0.7), rng.uniform(0.25, 0.55))
    else:
        pal[TROUSERS] = _hsv(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.1, 0.7))
    pal[SHOES] = _hsv(rng.random(), rng.uniform(0.0, 0.3), rng.choice([0.12, 0.85]))
    return np.clip(pal, 0.0, 1.0)


FLAT_AMBIENT = (0.55, 0.8)           # the flat look's ambient share, U(lo, hi)


def sample_flat_palette(rng: np.random.Generator) -> np.ndarray:
    """(NUM_REGIONS, 3): one untextured colour for every region of the body."""
    colour = _hsv(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.35, 0.95))
    return np.broadcast_to(np.clip(colour, 0.0, 1.0), (NUM_REGIONS, 3)).copy()


def sample_light(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Unit light direction (towards the light, world) and the ambient share."""
    elev = rng.uniform(np.radians(20), np.radians(75))
    az = rng.uniform(0, 2 * np.pi)
    return np.array([np.cos(elev) * np.cos(az), np.sin(elev), np.cos(elev) * np.sin(az)]), rng.uniform(*AMBIENT)


def shade(normal_cam: np.ndarray, region: np.ndarray, palette: np.ndarray,
          light_cam: np.ndarray, ambient: float) -> np.ndarray:
    """(…, 3) shaded colour of body samples; normals (…, 3) and light in camera frame."""
    lam = np.clip(normal_cam @ light_cam, 0.0, None)
    albedo = palette[np.maximum(region, 0)]
    return albedo * (ambient + (1.0 - ambient) * lam)[..., None]


def _smooth_noise(shape: tuple[int, int], cells: int, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-ish low-frequency noise (shape) from a cells×cells random grid."""
    coarse = rng.standard_normal((cells, cells))
    return ndimage.zoom(coarse, (shape[0] / cells, shape[1] / cells), order=1, mode="nearest")[:shape[0], :shape[1]]


def _floor_hits(dirs_cam: np.ndarray, R: np.ndarray, t: np.ndarray, floor_y: float):
    """World (x, z) of each ray's floor hit and its distance along the ray (inf if none)."""
    cam_pos = -R.T @ t
    dw = dirs_cam @ R                       # camera -> world directions (R^T d)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (floor_y - cam_pos[1]) / dw[..., 1]
    ok = (dw[..., 1] < -1e-6) & (s > 0)
    s = np.where(ok, s, np.inf)
    xz = cam_pos[[0, 2]] + np.where(ok, s, 0.0)[..., None] * dw[..., [0, 2]]
    return xz, s


def _draw_shapes(img: np.ndarray, count: int, rng: np.random.Generator, muted: bool) -> None:
    """Paint ``count`` random rectangles, ellipses and stripe bands into img (n, n, 3) in place."""
    n = img.shape[0]
    coord = (np.arange(n) + 0.5) / n
    for _ in range(count):
        col = _hsv(rng.random(), rng.uniform(0, 0.35 if muted else 0.8), rng.uniform(0.15, 0.95))
        kind = rng.integers(3)
        cx, cy = rng.uniform(-0.1, 1.1, 2)
        w, h = rng.uniform(0.05, 0.5, 2)
        period, slant = rng.uniform(0.03, 0.15), rng.uniform(-1, 1)
        keep, paint = rng.uniform(0.0, 0.4), rng.uniform(0.6, 1.0)
        if kind == 2:      # stripe bands run across the whole width
            w, cx = 2.0, 0.5
        cols = slice(*np.clip(np.searchsorted(coord, [cx - w / 2, cx + w / 2]), 0, n))
        rows = slice(*np.clip(np.searchsorted(coord, [cy - h / 2, cy + h / 2]), 0, n))
        yy, xx = coord[rows, None], coord[None, cols]
        if kind == 0:      # rectangle (furniture, doors, posters)
            m = np.ones((yy.size, xx.size), dtype=bool)
        elif kind == 1:    # ellipse
            m = ((xx - cx) / (w / 2)) ** 2 + ((yy - cy) / (h / 2)) ** 2 < 1
        else:              # slanted stripes
            m = np.mod(xx + yy * slant, period) < period / 2
        patch = img[rows, cols]
        patch[m] = patch[m] * keep + col * paint


def background(family: str, dirs_cam: np.ndarray, R: np.ndarray, t: np.ndarray,
               rig_centre_xz: np.ndarray, floor_y: float, rng: np.random.Generator) -> np.ndarray:
    """(n, n, 3) background for the rays ``dirs_cam`` (n, n, 3) of one view."""
    n = dirs_cam.shape[0]
    if family == "plain":
        colour = _hsv(rng.random(), rng.uniform(0.0, 0.7), rng.uniform(0.1, 0.9))
        return np.clip(colour + rng.normal(0, rng.uniform(0.02, 0.12), (n, n, 3)), 0.0, 1.0)
    xz, s = _floor_hits(dirs_cam, R, t, floor_y)
    room = rng.uniform(*ROOM_RADIUS_MM)
    floor = np.isfinite(s) & (np.linalg.norm(xz - rig_centre_xz, axis=-1) < room)
    yy = np.linspace(0, 1, n)[:, None, None]
    if family == "studio":
        wall_col = _hsv(rng.uniform(0.28, 0.38), rng.uniform(0.45, 0.85), rng.uniform(0.35, 0.75))
        floor_col = wall_col * rng.uniform(0.7, 1.0)
        wall = np.broadcast_to(wall_col * (1 + rng.uniform(-0.25, 0.25) * (yy - 0.5)), (n, n, 3)).copy()
        _draw_shapes(wall, int(rng.integers(0, 3)), rng, muted=True)
        tile, contrast = rng.uniform(900, 1500), rng.uniform(0.0, 0.04)
    else:
        top, bottom = _hsv(rng.random(), rng.uniform(0, 0.4), rng.uniform(0.3, 0.9)), \
            _hsv(rng.random(), rng.uniform(0, 0.4), rng.uniform(0.2, 0.8))
        wall = top * (1 - yy) + bottom * yy
        wall = np.broadcast_to(wall, (n, n, 3)).copy()
        _draw_shapes(wall, int(rng.integers(6, 15)), rng, muted=False)
        floor_col = _hsv(rng.random(), rng.uniform(0, 0.5), rng.uniform(0.2, 0.7))
        tile, contrast = rng.uniform(300, 900), rng.uniform(0.03, 0.15)
    checker = (np.floor(xz[..., 0] / tile) + np.floor(xz[..., 1] / tile)) % 2
    floor_img = floor_col * (1 + contrast * (2 * checker - 1))[..., None]
    img = np.where(floor[..., None], floor_img, wall)
    texture = _smooth_noise((n, n), max(n // 8, 2), rng)[..., None] * rng.uniform(0.02, 0.08)
    return np.clip(img * (1 + texture) + rng.normal(0, 0.01, img.shape), 0.0, 1.0)
