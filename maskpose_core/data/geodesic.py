"""Geodesic weight G of a mask (docs/method.md §1), computed once per mask at build time.

Inside the mask: g = exp(a·ĝ) + b, ĝ the geodesic distance from the mask centroid
(fast marching, scikit-fmm) over its maximum, so G grows toward hands, feet and head.
Outside: c·ĥ + e, ĥ the Euclidean distance to the mask over its maximum.
This project's defaults (a, b, c, e) = (2, 1, 2, 1); the authors' code uses (2, 1, 3, 20)
(docs/method.md §6: not measured against ours). If the centroid falls outside the
mask, G = 1 everywhere.

``method``: ``fmm`` (scikit-fmm's fast marching, the default) or ``graph`` (shortest paths
on the 8-connected pixel graph, scipy only: for machines without scikit-fmm, e.g. a bare
GPU box). The two agree to within a few per cent of ĝ; the method is part of the data
set's hash, so builds made either way never mix. A mask so small that the seed disk covers all of it (a far or
half-detected person: 2×2, 3×3 px) has every pixel at geodesic distance 0 from the centre,
so G = exp(0) + b inside (pieces of the mask apart from the centre's are unreachable, as
always: ĝ = 1 there). Never called in the training loop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph

try:
    import skfmm
except ImportError:          # a machine without scikit-fmm builds with method="graph"
    skfmm = None

SEED_RADIUS_PX = 1.5  # zero level set: a small disk at the centroid (docs/stack.md, scikit-fmm)


@dataclass(frozen=True, kw_only=True)
class GeodesicParams:
    a: float = 2.0   # inside: exp(a * ĝ)
    b: float = 1.0   # inside offset
    c: float = 2.0   # outside slope on ĥ
    e: float = 1.0   # outside offset
    # fmm (scikit-fmm) | graph (8-connected shortest paths, scipy only); fmm where installed
    method: str = "fmm" if skfmm is not None else "graph"

    def __post_init__(self):
        for n in ("a", "b", "c", "e"):
            v = getattr(self, n)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"GeodesicParams.{n} must be finite and >= 0, got {v}")
        if self.method not in METHODS:
            raise ValueError(f"GeodesicParams.method must be one of {METHODS}, got {self.method!r}")
        if self.method == "fmm" and skfmm is None:
            raise ValueError("GeodesicParams.method='fmm' needs scikit-fmm, which is not installed; "
                             "use method='graph'")


METHODS = ("fmm", "graph")


def default_method() -> str:
    """``fmm`` where scikit-fmm is installed, else ``graph``."""
    return "fmm" if skfmm is not None else "graph"


def _graph_distance(inside: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Shortest-path distance (px) inside ``inside`` from the ``source`` pixels over the
    8-connected grid (steps 1 and √2); unreachable pixels are NaN. (H, W) -> (H, W)."""
    index = np.full(inside.shape, -1)
    index[inside] = np.arange(int(inside.sum()))
    rows, cols, weights = [], [], []
    h, w = inside.shape
    ys, xs = np.nonzero(inside)
    for dy, dx, step in ((0, 1, 1.0), (1, 0, 1.0), (1, 1, np.sqrt(2.0)), (1, -1, np.sqrt(2.0))):
        qy, qx = ys + dy, xs + dx
        ok = (qy < h) & (qx >= 0) & (qx < w)
        ok[ok] = inside[qy[ok], qx[ok]]
        rows.append(index[ys[ok], xs[ok]]), cols.append(index[qy[ok], qx[ok]])
        weights.append(np.full(int(ok.sum()), step))
    n = int(inside.sum())
    graph = sparse.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    dist = csgraph.dijkstra(graph, directed=False, indices=index[source], min_only=True)
    out = np.full(inside.shape, np.nan)
    out[inside] = np.where(np.isfinite(dist), dist, np.nan)
    return out


def geodesic_weight(mask: np.ndarray, params: GeodesicParams = GeodesicParams()) -> np.ndarray:
    """G for one mask: (H, W) bool/0-1 -> (H, W) float32 >= 1 (where b, e >= 1)."""
    if mask.ndim != 2:
        raise ValueError(f"geodesic_weight: mask must be (H, W), got shape {mask.shape}")
    inside = np.asarray(mask) > 0
    if not inside.any():
        raise ValueError("geodesic_weight: mask has no foreground")
    ys, xs = np.nonzero(inside)
    cy, cx = ys.mean(), xs.mean()
    iy, ix = int(round(cy)), int(round(cx))
    if not inside[iy, ix]:
        return np.ones(mask.shape, dtype=np.float32)

    yy, xx = np.mgrid[0:mask.shape[0], 0:mask.shape[1]]
    phi = np.hypot(yy - cy, xx - cx) - SEED_RADIUS_PX
    if not (phi[inside] < 0).any():        # seed disk must touch the inside
        phi[iy, ix] = -0.5
    seed_part = ndimage.label(inside)[0]
    seed_part = seed_part == seed_part[iy, ix]          # the piece of the mask the seed lies in
    if (phi[seed_part] < 0).all():         # the seed covers its whole piece: no front to march
        g_hat = np.where(seed_part, 0.0, 1.0)           # other pieces are unreachable (ĝ = 1)
    else:
        if params.method == "graph":
            geo = _graph_distance(inside, inside & (phi < 0))
        else:
            dist = skfmm.distance(np.ma.MaskedArray(phi, mask=~inside))
            geo = np.where(np.ma.getmaskarray(dist), np.nan, np.ma.getdata(dist))
        geo = np.clip(geo, 0.0, None)
        reachable = inside & np.isfinite(geo)
        gmax = float(geo[reachable].max()) if reachable.any() else 0.0
        g_hat = np.ones(mask.shape) if gmax <= 0 else np.where(reachable, geo / gmax, 1.0)

    h = ndimage.distance_transform_edt(~inside)
    hmax = float(h.max())
    h_hat = h / hmax if hmax > 0 else h

    g = np.where(inside, np.exp(params.a * g_hat) + params.b, params.c * h_hat + params.e)
    return g.astype(np.float32)


def geodesic_weights(masks: np.ndarray, params: GeodesicParams = GeodesicParams()) -> np.ndarray:
    """Batch form: (..., H, W) -> (..., H, W) float16, as stored in a packed data set.

    A mask that cannot be used raises ``UnusableMask`` with its index (``err.index``, into
    ``masks.shape[:-2]``), so a caller can name the frame and file it came from.
    """
    flat = masks.reshape(-1, *masks.shape[-2:])
    out = np.empty(flat.shape, dtype=np.float16)
    for i, m in enumerate(flat):
        try:
            out[i] = geodesic_weight(m, params)
        except ValueError as err:
            index = np.unravel_index(i, masks.shape[:-2]) if masks.ndim > 2 else ()
            raise UnusableMask(tuple(int(k) for k in index), str(err)) from err
    return out.reshape(masks.shape)


class UnusableMask(ValueError):
    """A mask G cannot be computed for (e.g. empty); ``index`` locates it in the batch."""

    def __init__(self, index: tuple[int, ...], reason: str):
        super().__init__(f"mask {list(index)}: {reason}")
        self.index, self.reason = index, reason

    def __reduce__(self):            # crosses process pools intact
        return UnusableMask, (self.index, self.reason)
