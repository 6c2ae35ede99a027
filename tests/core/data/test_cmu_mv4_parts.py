"""cmu-mv4 parts: ray casting against hand-derived areas and a brute-force reference,
the body's rescaled skeleton, segmentation noise and frame sampling."""
from __future__ import annotations

import numpy as np
import pytest

from maskpose_core.data.cmu_mv4 import GeneratorConfig, raster, rig
from maskpose_core.data.cmu_mv4.body import Primitives, bone_scales, rescale_skeleton, sample_body
from maskpose_core.data.cmu_mv4.config import EMBEDDED_POSES
from maskpose_core.data.cmu_mv4.frames import _water_fill
from maskpose_core.data.cmu_mv4.noise import segmentation_noise
from maskpose_core.skeleton import LEFT_RIGHT_PAIRS, PARENTS

POSES = np.load(EMBEDDED_POSES)["poses"]
S = 128
F_PX = 400.0
K = np.array([[F_PX, 0.0, (S - 1) / 2], [0.0, F_PX, (S - 1) / 2], [0.0, 0.0, 1.0]])


def _prims(cones=(), ells=()) -> Primitives:
    """cones: (a, b, ra, rb); ells: (centre, radii) or (centre, radii, axes)."""
    return Primitives(
        a=np.array([c[0] for c in cones]).reshape(-1, 3), b=np.array([c[1] for c in cones]).reshape(-1, 3),
        ra=np.array([c[2] for c in cones], float), rb=np.array([c[3] for c in cones], float),
        cone_region=np.zeros(len(cones), np.int8),
        centre=np.array([e[0] for e in ells]).reshape(-1, 3), axes=np.array([e[2] if len(e) > 2 else np.eye(3) for e in ells]).reshape(-1, 3, 3),
        radii=np.array([e[1] for e in ells]).reshape(-1, 3), ell_region=np.ones(len(ells), np.int8))


def test_sphere_and_capsule_areas_match_hand_derived_values():
    # sphere r = 200 mm at z = 4000 mm, f = 400 px: the silhouette is a disc of radius
    # f r / sqrt(z² - r²) = 400·200/3995 = 20.03 px -> area π 20.03² = 1260 px²
    sphere = _prims(ells=[((0.0, 0.0, 4000.0), (200.0, 200.0, 200.0))])
    area = raster.hit_mask(sphere, K, S).sum()
    assert abs(area - np.pi * (F_PX * 200 / np.sqrt(4000**2 - 200**2)) ** 2) < 25
    # capsule from x = -500 to 500 mm, r = 100 mm, at z = 5000 mm (fronto-parallel), at
    # f / z = 0.08 px/mm: a 80 × 16 px rectangle plus two half discs of 8 px = 1280 + 201 px²
    caps = _prims(cones=[((-500.0, 0.0, 5000.0), (500.0, 0.0, 5000.0), 100.0, 100.0)])
    area = raster.hit_mask(caps, K, S).sum()
    assert abs(area - (80 * 16 + np.pi * 8**2)) < 30
    depth, normal, region = raster.raycast(caps, K, S)
    centre = depth[S // 2, S // 2]
    assert abs(centre - 4900) < 5                              # front surface at z - r
    assert normal[S // 2, S // 2] @ np.array([0, 0, -1.0]) > 0.99  # facing the camera
    assert (region[np.isfinite(depth)] == 0).all()


def test_batched_raycast_matches_brute_force():
    gen = GeneratorConfig(image_size=32)
    joints, prims = sample_body(gen, POSES[777], np.random.default_rng(3))
    R, t = rig.sample_rig("h36m", joints[0], 0.0, np.random.default_rng(4))
    Kc = rig.crop_intrinsics(R, t, joints[0], gen.crop_mm, 32)
    depth, _, region = raster.raycast_views(prims, R, t, Kc, 32, 2, normals=True)
    for c in range(len(R)):
        cam = prims.transformed(R[c], t[c])
        d = raster.ray_directions(Kc[c], 32, 2).reshape(-1, 3)
        best = np.full(len(d), np.inf)
        for i in range(len(cam.ra)):    # every primitive against every ray, no boxes
            m = len(d)
            tc, _, _ = raster._round_cone_t(d, np.broadcast_to(cam.a[i], (m, 3)), np.broadcast_to(cam.b[i], (m, 3)),
                                            np.full(m, cam.ra[i]), np.full(m, cam.rb[i]))
            best = np.minimum(best, tc)
        for i in range(len(cam.ell_region)):
            one = _prims(ells=[(cam.centre[i], cam.radii[i], cam.axes[i])])
            td, _, _ = raster.raycast(one, Kc[c], 32, 2, normals=False)
            best = np.minimum(best, td.ravel())
        assert np.array_equal(np.isfinite(best), np.isfinite(depth[c].ravel()))
        hit = np.isfinite(best)
        assert np.allclose(best[hit], depth[c].ravel()[hit])
        assert (region[c].ravel()[hit] >= 0).all()


def test_rescaled_skeleton_has_scaled_symmetric_bones():
    gen = GeneratorConfig()
    rng = np.random.default_rng(0)
    s = bone_scales(gen, rng)
    for left, right in LEFT_RIGHT_PAIRS:
        assert s[left] == s[right]
    assert ((s[1:] >= 0.85) & (s[1:] <= 1.15)).all()
    pose = POSES[4321].astype(np.float64)
    new = rescale_skeleton(pose, s)
    for j, p in enumerate(PARENTS):
        if p >= 0:
            assert np.isclose(np.linalg.norm(new[j] - new[p]), s[j] * np.linalg.norm(pose[j] - pose[p]))
    assert np.isclose(new[:, 1].min(), pose[:, 1].min())        # floor contact kept
    assert np.allclose(new[0, [0, 2]], pose[0, [0, 2]])


def test_segmentation_noise_strengths():
    mask = np.zeros((64, 64), bool)
    mask[10:55, 25:38] = True
    rng = np.random.default_rng(0)
    assert np.array_equal(segmentation_noise(mask, 0.0, rng), mask.astype(np.uint8))
    ious = []
    for _ in range(20):
        noisy = segmentation_noise(mask, 1.0, rng).astype(bool)
        assert noisy.any() and noisy.sum() >= 0.3 * mask.sum()
        ious.append((noisy & mask).sum() / (noisy | mask).sum())
    assert 0.4 < np.mean(ious) < 0.97
    tiny = np.zeros((32, 32), bool)
    tiny[16, 16] = True                                   # erosion would delete it: never empty
    for _ in range(10):
        assert segmentation_noise(tiny, 1.0, rng).any()
    with pytest.raises(ValueError, match="strength"):
        segmentation_noise(mask, 1.5, rng)


def test_water_fill_is_balanced():
    # sizes 10, 100, 1000, budget 300: level L with 10 + 100 + L = 300 -> L = 190
    # sizes 10, 200, 1000, budget 300: 10 + 2 L = 300 -> L = 145
    assert _water_fill(np.array([10, 100, 1000]), 300).tolist() == [10, 100, 190]
    assert _water_fill(np.array([10, 200, 1000]), 300).tolist() == [10, 145, 145]
    assert _water_fill(np.array([5, 5]), 100).tolist() == [5, 5]
