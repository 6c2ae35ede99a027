"""Ray casting of body primitives, all views of a moment in one vectorised pass (numpy).

Each crop pixel (or sub-pixel sample) of view c shoots a ray from the camera centre
through ``K_c^-1 [u, v, 1]``. Every primitive is tested only against the rays inside its
projected bounding box (from its bounding sphere): the (view, primitive, ray) triples of
all boxes are gathered into flat arrays and intersected at once, with the analytic
intersection of a round cone (Quilez's "rounded cone" intersector: the convex hull of two
spheres (a, ra), (b, rb)) or an ellipsoid (a unit sphere after an affine map). The nearest
hit per ray wins and gives the depth (mm along the ray), the outward unit normal (camera
frame) and the region.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from maskpose_core.data.cmu_mv4.body import Primitives

MISS = np.inf
NEAR_MM = 1.0  # a bounding sphere closer than this to the camera plane gets the whole crop


def _dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", x, y)


def ray_directions(K: np.ndarray, size_px: int, sub: int) -> np.ndarray:
    """(S·sub, S·sub, 3) unit ray directions, camera frame, for sub×sub samples per pixel.

    Grid index j covers pixel coordinate u = (j + 0.5) / sub - 0.5 (sub = 1: pixel centres).
    """
    n = size_px * sub
    coord = (np.arange(n) + 0.5) / sub - 0.5
    u, v = np.meshgrid(coord, coord)
    d = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def _boxes(centre: np.ndarray, radius: np.ndarray, K: np.ndarray, n: int, sub: int) -> np.ndarray:
    """Grid boxes (C, P, 4) = row0, row1, col0, col1 (half-open) covering each sphere's image.

    centre (C, P, 3) camera mm, radius (C, P), K (C, 3, 3). Empty boxes have row1 <= row0.
    """
    z = centre[..., 2]
    near = z - radius <= NEAR_MM
    zn, zf = np.where(near, 1.0, z - radius), z + radius
    out = np.zeros(centre.shape[:2] + (4,), dtype=np.int64)
    for k, axis in enumerate((1, 0)):             # rows from y, columns from x
        f, c = K[:, axis, axis][:, None], K[:, axis, 2][:, None]
        lo, hi = centre[..., axis] - radius, centre[..., axis] + radius
        px_lo = c + f * np.minimum(lo / zn, lo / zf)
        px_hi = c + f * np.maximum(hi / zn, hi / zf)
        j0 = np.floor((px_lo + 0.5) * sub - 0.5)
        j1 = np.ceil((px_hi + 0.5) * sub - 0.5) + 1
        out[..., 2 * k] = np.where(near, 0, np.clip(j0, 0, n))
        out[..., 2 * k + 1] = np.where(near, n, np.clip(j1, 0, n))
    return out


def _elements(boxes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat ray index (view·n² + row·n + col) and pair index (view·P + prim) of every box cell."""
    idx, pair = [], []
    P = boxes.shape[1]
    for v, p in zip(*np.nonzero((boxes[..., 1] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 2]))):
        r0, r1, c0, c1 = boxes[v, p]
        cells = (np.arange(r0, r1)[:, None] * n + np.arange(c0, c1)[None, :]).ravel() + v * n * n
        idx.append(cells)
        pair.append(np.full(cells.size, v * P + p))
    if not idx:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(idx), np.concatenate(pair)


def _round_cone_t(d, a, b, ra, rb):
    """Rays from the origin d (M, 3) vs round cones (M rows of params): t (M,), kind (M,)
    (0 body, 1 cap at a, 2 cap at b) and the body's axial coordinate y (M,)."""
    ba, oa, ob = b - a, -a, -b
    rr = ra - rb
    m0, m1, m5, m7 = _dot(ba, ba), _dot(ba, oa), _dot(oa, oa), _dot(ob, ob)
    m2, m3, m6 = _dot(d, ba), _dot(d, oa), _dot(d, ob)
    d2 = m0 - rr * rr
    k2 = d2 - m2 * m2
    k1 = d2 * m3 - m1 * m2 + m2 * rr * ra
    k0 = d2 * m5 - m1 * m1 + 2.0 * m1 * rr * ra - m0 * ra * ra
    h = k1 * k1 - k0 * k2
    t = np.full(len(d), MISS)
    kind = np.zeros(len(d), dtype=np.int8)
    with np.errstate(invalid="ignore", divide="ignore"):
        tb = (-np.sqrt(h) - k1) / k2
        y = m1 - ra * rr + tb * m2
        body = (h > 0) & (y > 0) & (y < d2) & (tb > 0)
        t[body] = tb[body]
        for code, m, mm, r in ((1, m3, m5, ra), (2, m6, m7, rb)):
            hc = m * m - mm + r * r
            tc = -m - np.sqrt(hc)
            cap = ~body & (hc > 0) & (tc > 0) & (tc < t)
            t[cap] = tc[cap]
            kind[cap] = code
    return t, kind, y


@dataclass
class _Scene:
    """Primitives of one moment in every view's camera frame (C views, P1 cones, P2 ellipsoids)."""
    a: np.ndarray        # (C, P1, 3) cone end points, camera mm
    b: np.ndarray
    ra: np.ndarray       # (C, P1)
    rb: np.ndarray
    centre: np.ndarray   # (C, P2, 3) ellipsoid centres, camera mm
    axes: np.ndarray     # (C, P2, 3, 3) rows = unit axes, camera frame
    radii: np.ndarray    # (C, P2, 3)
    region: np.ndarray   # (P1 + P2,) cones first

    @classmethod
    def from_views(cls, prims: Primitives, R: np.ndarray, t: np.ndarray) -> "_Scene":
        cam = [prims.transformed(R[c], t[c]) for c in range(len(R))]
        C, P1, P2 = len(R), len(prims.ra), len(prims.ell_region)
        return cls(np.stack([p.a for p in cam]), np.stack([p.b for p in cam]),
                   np.broadcast_to(prims.ra, (C, P1)), np.broadcast_to(prims.rb, (C, P1)),
                   np.stack([p.centre for p in cam]), np.stack([p.axes for p in cam]),
                   np.broadcast_to(prims.radii, (C, P2, 3)),
                   np.concatenate([prims.cone_region, prims.ell_region]))

    @property
    def num_cones(self) -> int:
        return self.a.shape[1]

    def bounding_spheres(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres (C, P, 3) and radii (C, P) of every primitive's bounding sphere."""
        centre = np.concatenate([(self.a + self.b) / 2, self.centre], axis=1)
        radius = np.concatenate([np.linalg.norm(self.b - self.a, axis=-1) / 2 + np.maximum(self.ra, self.rb),
                                 self.radii.max(axis=-1)], axis=1)
        return centre, radius

    def to_unit_sphere(self, v: np.ndarray, p: np.ndarray) -> np.ndarray:
        """(M, 3, 3) maps taking camera-frame vectors into ellipsoid (v, p)'s unit-sphere frame."""
        return self.axes[v, p] / self.radii[v, p][..., None]


def _ellipsoid_t(d: np.ndarray, A: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Rays from the origin d (M, 3) vs ellipsoids (maps A (M, 3, 3), centres (M, 3)): t (M,)."""
    o = np.einsum("mij,mj->mi", A, -centre)       # ray origin in the unit-sphere frame
    dl = np.einsum("mij,mj->mi", A, d)
    qa, qb = _dot(dl, dl), _dot(dl, o)
    h = qb * qb - qa * (_dot(o, o) - 1.0)
    with np.errstate(invalid="ignore"):
        t = (-qb - np.sqrt(h)) / qa
    return np.where((h > 0) & (t > 0), t, MISS)


def _box_rays(scene: _Scene, K: np.ndarray, n: int, sub: int):
    """Every (ray, primitive) pair inside the primitives' boxes: flat ray index (M,) into
    (C, n, n), view (M,), primitive (M,) and unit direction (M, 3), camera frame."""
    P = len(scene.region)
    idx, pair = _elements(_boxes(*scene.bounding_spheres(), K, n, sub), n)
    view, prim = pair // P, pair % P
    cell = idx % (n * n)
    u = (cell % n + 0.5) / sub - 0.5
    v = (cell // n + 0.5) / sub - 0.5
    d = np.stack([(u - K[view, 0, 2]) / K[view, 0, 0], (v - K[view, 1, 2]) / K[view, 1, 1],
                  np.ones_like(u)], axis=-1)
    return idx, view, prim, d / np.linalg.norm(d, axis=-1, keepdims=True)


def _nearest(idx: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Positions of the nearest finite hit of each ray: sort by (ray, t), keep each ray's first."""
    hit = np.flatnonzero(np.isfinite(t))
    order = hit[np.lexsort((t[hit], idx[hit]))]
    first = np.ones(order.size, dtype=bool)
    first[1:] = idx[order][1:] != idx[order][:-1]
    return order[first]


def _normals(scene: _Scene, d, t, view, prim, kind, y) -> np.ndarray:
    """Outward unit normals (M, 3), camera frame, at hits t (M,) of rays d (M, 3);
    kind/y from :func:`_round_cone_t` for cone rows (ignored for ellipsoid rows)."""
    out = np.zeros(d.shape)
    x = t[:, None] * d
    cone = prim < scene.num_cones
    if cone.any():
        v, p, k = view[cone], prim[cone], kind[cone]
        pa, pb = scene.a[v, p], scene.b[v, p]
        ba = pb - pa
        d2 = _dot(ba, ba) - (scene.ra[v, p] - scene.rb[v, p]) ** 2
        body = d2[:, None] * (x[cone] - pa) - ba * y[cone, None]   # Quilez: d2 (p - a) - ba y
        out[cone] = np.where((k == 0)[:, None], body, np.where((k == 1)[:, None], x[cone] - pa, x[cone] - pb))
    ell = ~cone
    if ell.any():
        v, p = view[ell], prim[ell] - scene.num_cones
        q = np.einsum("mij,mj->mi", scene.to_unit_sphere(v, p), x[ell] - scene.centre[v, p])
        out[ell] = np.einsum("mi,mij->mj", q / scene.radii[v, p], scene.axes[v, p])
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def raycast_views(prims_world: Primitives, R: np.ndarray, t: np.ndarray, K: np.ndarray,
                  size_px: int, sub: int = 1, *, normals: bool = True):
    """Nearest hits in C views on (S·sub)² grids.

    prims_world in world mm; R (C, 3, 3), t (C, 3) world -> camera; K (C, 3, 3) crop
    intrinsics. Returns depth (C, n, n) mm along the ray (inf = miss), normal (C, n, n, 3)
    unit, camera frame (None unless ``normals``), region (C, n, n) int8 (-1 = background).
    """
    C, n = len(R), size_px * sub
    scene = _Scene.from_views(prims_world, R, t)
    idx, view, prim, d = _box_rays(scene, K, n, sub)
    tt = np.full(len(idx), MISS)
    kind, y = np.zeros(len(idx), dtype=np.int8), np.zeros(len(idx))
    cone = prim < scene.num_cones
    v, p = view[cone], prim[cone]
    tt[cone], kind[cone], y[cone] = _round_cone_t(d[cone], scene.a[v, p], scene.b[v, p],
                                                  scene.ra[v, p], scene.rb[v, p])
    v, p = view[~cone], prim[~cone] - scene.num_cones
    tt[~cone] = _ellipsoid_t(d[~cone], scene.to_unit_sphere(v, p), scene.centre[v, p])
    win = _nearest(idx, tt)
    depth = np.full(C * n * n, MISS)
    depth[idx[win]] = tt[win]
    region = np.full(C * n * n, -1, dtype=np.int8)
    region[idx[win]] = scene.region[prim[win]]
    normal = None
    if normals:
        normal = np.zeros((C * n * n, 3))
        normal[idx[win]] = _normals(scene, d[win], tt[win], view[win], prim[win], kind[win], y[win])
        normal = normal.reshape(C, n, n, 3)
    return depth.reshape(C, n, n), normal, region.reshape(C, n, n)


def raycast(prims_cam: Primitives, K: np.ndarray, size_px: int, sub: int = 1, *, normals: bool = True):
    """One view with primitives already in camera mm: depth, normal, region (see raycast_views)."""
    depth, normal, region = raycast_views(prims_cam, np.eye(3)[None], np.zeros((1, 3)), K[None],
                                          size_px, sub, normals=normals)
    return depth[0], (normal[0] if normals else None), region[0]


def hit_mask(prims_cam: Primitives, K: np.ndarray, size_px: int) -> np.ndarray:
    """(S, S) bool: does the ray through each pixel centre hit the body (the exact mask)."""
    return np.isfinite(raycast(prims_cam, K, size_px, 1, normals=False)[0])
