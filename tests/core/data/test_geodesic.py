"""Geodesic weight G: hand-derived values, and finite G >= 1 for any non-empty mask, however small."""
import numpy as np
import pytest

from maskpose_core.data.geodesic import GeodesicParams, UnusableMask, geodesic_weight, geodesic_weights

P = GeodesicParams()   # (a, b, c, e) = (2, 1, 2, 1)


@pytest.mark.parametrize("side", [1, 2, 3])
def test_a_mask_inside_the_seed_disk_is_uniform(side):
    """The seed disk (radius 1.5 px) covers a 1×1, 2×2 or 3×3 mask: every pixel is at geodesic
    distance 0 from the centre, so G = exp(a·0) + b = 2 inside; outside c·ĥ + e, ĥ in [0, 1]."""
    m = np.zeros((16, 16), bool)
    m[6:6 + side, 6:6 + side] = True
    g = geodesic_weight(m)
    assert np.all(g[m] == pytest.approx(np.exp(0.0) + P.b))
    assert g[~m].min() >= P.e and g[~m].max() == pytest.approx(P.c + P.e)   # the farthest pixel: ĥ = 1


def test_a_bar_grows_from_centre_to_ends():
    """A 1-px bar of 21 pixels: G rises from the centre to exp(a) + b at both ends."""
    m = np.zeros((5, 25), bool)
    m[2, 2:23] = True
    g = geodesic_weight(m)[2, 2:23]
    assert g[0] == pytest.approx(np.exp(P.a) + P.b, rel=1e-5) and g[-1] == pytest.approx(g[0], rel=1e-5)
    assert np.all(np.diff(g[10:]) >= 0) and np.all(np.diff(g[:11]) <= 0)


def test_any_small_or_thin_mask_has_finite_g_at_least_one():
    """Property over 600 random small masks (blobs, bars, diagonals, scattered pixels, rings)."""
    rng = np.random.default_rng(0)
    shapes = 0
    for i in range(600):
        h, w = rng.integers(2, 12, size=2)
        kind = i % 5
        m = np.zeros((h, w), bool)
        if kind == 0:                                   # a small rectangle
            y, x = rng.integers(0, h), rng.integers(0, w)
            m[y:y + rng.integers(1, 4), x:x + rng.integers(1, 4)] = True
        elif kind == 1:                                 # a 1-px bar
            y = rng.integers(0, h)
            m[y, rng.integers(0, w):] = True
        elif kind == 2:                                 # a diagonal (8-connected only)
            n = min(h, w)
            m[np.arange(n), np.arange(n)] = True
        elif kind == 3:                                 # scattered pixels (disconnected)
            m = rng.random((h, w)) < 0.2
        else:                                           # a ring: the centroid falls outside
            m[:, :] = True
            m[1:-1, 1:-1] = h < 3 or w < 3
        if not m.any():
            m[rng.integers(0, h), rng.integers(0, w)] = True
        g = geodesic_weight(m)
        assert g.shape == m.shape and g.dtype == np.float32
        assert np.isfinite(g).all() and g.min() >= 1.0, (kind, m.astype(int))
        shapes += 1
    assert shapes == 600


def test_an_empty_mask_is_reported_with_its_index():
    masks = np.ones((2, 3, 8, 8), np.uint8)
    masks[1, 2] = 0
    with pytest.raises(UnusableMask, match=r"mask \[1, 2\]: .*no foreground") as err:
        geodesic_weights(masks)
    assert err.value.index == (1, 2)


def test_the_graph_method_agrees_with_fast_marching():
    """A bar and an L-shaped body: ĝ by shortest paths on the pixel graph vs scikit-fmm."""
    m = np.zeros((40, 40), bool)
    m[5:35, 18:22] = True            # trunk
    m[5:9, 5:35] = True              # arms
    fmm = geodesic_weight(m, GeodesicParams(method="fmm"))
    graph = geodesic_weight(m, GeodesicParams(method="graph"))
    g_hat = lambda g: np.log(g[m] - P.b) / P.a           # noqa: E731  (inside: g = exp(a ĝ) + b)
    assert np.abs(g_hat(fmm) - g_hat(graph)).max() < 0.08
    assert np.array_equal(fmm[~m], graph[~m])            # outside: the same Euclidean term
    assert np.isfinite(graph).all() and graph.min() >= 1.0


def test_the_graph_method_handles_small_masks():
    rng = np.random.default_rng(1)
    for _ in range(200):
        m = rng.random((int(rng.integers(2, 10)), int(rng.integers(2, 10)))) < 0.4
        if m.any():
            g = geodesic_weight(m, GeodesicParams(method="graph"))
            assert np.isfinite(g).all() and g.min() >= 1.0
