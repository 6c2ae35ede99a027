"""One moment: a pose -> a body, a rig, C crops (image, mask, G) and all ground truth.

Random draws come from independent child streams of ``rng`` (body, rig, appearance, noise),
so e.g. changing ``mask_noise`` leaves bodies, cameras and images unchanged. The build
seeds ``rng = np.random.default_rng([gen_seed, frame_index])``, so a moment's bytes do not
depend on worker count or on which other frames are built.
"""
from __future__ import annotations

import numpy as np

from maskpose_core.data.cmu_mv4 import appearance, raster, rig
from maskpose_core.data.cmu_mv4.body import sample_body
from maskpose_core.data.cmu_mv4.config import GeneratorConfig
from maskpose_core.data.cmu_mv4.noise import segmentation_noise
from maskpose_core.data.geodesic import geodesic_weights
from maskpose_core.skeleton import NUM_JOINTS

ANKLE_HEIGHT_MM = 80.0  # ankle joint above the sole (≈ 0.04 × body height, anthropometry)
SENSOR_NOISE = 1.5      # std of per-pixel image noise, in 8-bit levels


def floor_height(joints_world_mm: np.ndarray) -> float:
    """Floor y (mm): the mocap floor y = 0, lowered if the feet are below it (README: some clips)."""
    return float(min(0.0, joints_world_mm[[3, 6], 1].min() - ANKLE_HEIGHT_MM))


def _block_sum(img: np.ndarray, sub: int) -> np.ndarray:
    n = img.shape[0] // sub
    return img.reshape(n, sub, n, sub, *img.shape[2:]).sum(axis=(1, 3))


def render_views(gen: GeneratorConfig, prims_world, R: np.ndarray, t: np.ndarray, K: np.ndarray,
                 palette: np.ndarray, light_world: np.ndarray, ambient: float,
                 rig_centre_xz: np.ndarray, floor_y: float, rng: np.random.Generator):
    """All C crops: RGB (C, S, S, 3) uint8 and exact masks (C, S, S) bool (pixel-centre rays).

    The body is supersampled (sub × sub rays per pixel); a pixel's colour is the mean body
    colour over its hit samples blended with the background (one sample per pixel) by the
    uncovered share, so edges are antialiased.
    """
    S, sub = gen.image_size, gen.supersample
    masks = np.isfinite(raster.raycast_views(prims_world, R, t, K, S, 1, normals=False)[0])
    depth, normal, region = raster.raycast_views(prims_world, R, t, K, S, sub)
    images = np.empty((len(R), S, S, 3), dtype=np.uint8)
    for c in range(len(R)):
        bg = appearance.background(gen.background, raster.ray_directions(K[c], S, 1), R[c], t[c],
                                   rig_centre_xz, floor_y, rng)
        hit = np.isfinite(depth[c])
        colour = np.zeros(hit.shape + (3,))
        colour[hit] = appearance.shade(normal[c][hit], region[c][hit], palette, R[c] @ light_world, ambient)
        coverage = _block_sum(hit.astype(np.float64), sub) / sub ** 2
        img = _block_sum(colour, sub) / sub ** 2 + (1.0 - coverage)[..., None] * bg
        img = img * 255.0 + rng.normal(0, SENSOR_NOISE, (S, S, 3))
        images[c] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return images, masks


def render_moment(gen_cfg: GeneratorConfig, pose_world_mm: np.ndarray, rng: np.random.Generator) -> dict:
    """Render one moment seen by the rig's C cameras.

    pose_world_mm (J, 3) world mm (+Y up). Returns per-moment arrays named as in the packed
    format (S crop pixels): images (C, S, S, 3) uint8; masks, masks_exact (C, S, S) uint8;
    geodesic (C, S, S) float16 (G of ``masks``); K, R (C, 3, 3); t_mm (C, 3);
    root_world_mm (3,); joints_world_mm (J, 3) (the rescaled skeleton);
    joints_cam_mm (C, J, 3); joints_2d_norm (C, J, 2) — all float32.
    """
    pose = np.asarray(pose_world_mm, dtype=np.float64)
    if pose.shape != (NUM_JOINTS, 3) or not np.isfinite(pose).all():
        raise ValueError(f"render_moment: pose_world_mm must be finite ({NUM_JOINTS}, 3), got {pose.shape}")
    r_body, r_rig, r_look, r_noise = rng.spawn(4)
    joints, prims = sample_body(gen_cfg, pose, r_body)
    root = joints[0]
    floor_y = floor_height(joints)
    R, t = rig.sample_rig(gen_cfg.rig, root, floor_y, r_rig)
    K = rig.crop_intrinsics(R, t, root, gen_cfg.crop_mm, gen_cfg.image_size)
    palette = appearance.sample_palette(r_look)
    light, ambient = appearance.sample_light(r_look)
    if gen_cfg.look == "flat":          # drawn after the photo look's, so its stream is unchanged
        palette = appearance.sample_flat_palette(r_look)
        ambient = r_look.uniform(*appearance.FLAT_AMBIENT)
    images, exact = render_views(gen_cfg, prims, R, t, K, palette, light, ambient, root[[0, 2]],
                                 floor_y, r_look)
    exact = exact.astype(np.uint8)
    if gen_cfg.mask_noise > 0:
        masks = np.stack([segmentation_noise(m, gen_cfg.mask_noise, r_noise) for m in exact])
    else:
        masks = exact
    joints_cam = rig.world_to_camera(joints, R, t)
    uv = rig.project(joints_cam, K)
    f32 = np.float32
    return {
        "images": images, "masks": masks, "masks_exact": exact,
        "geodesic": geodesic_weights(masks, gen_cfg.geodesic),
        "K": K.astype(f32), "R": R.astype(f32), "t_mm": t.astype(f32),
        "root_world_mm": root.astype(f32), "joints_world_mm": joints.astype(f32),
        "joints_cam_mm": joints_cam.astype(f32),
        "joints_2d_norm": rig.pixels_to_normalized(uv, gen_cfg.image_size).astype(f32),
    }
