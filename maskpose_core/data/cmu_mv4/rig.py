"""Camera rigs around the subject and the square crop around the pelvis (numpy).

Conventions are those of :mod:`maskpose_core.geometry` (world mm, +Y up; camera OpenCV,
``X_cam = R @ X_world + t``; crop pixel centres at 0..S-1). The rigs:

* ``h36m``: 4 cameras placed like Human3.6M's (S1 extrinsics as published with the
  data set, e.g. in VideoPose3D's ``h36m_dataset.py``): camera centres at
  (x, y, height) = (1841, 4955, 1563), (1761, -5078, 1606), (-1847, 5215, 1492),
  (-1795, -3723, 1575) mm around the capture-area centre, i.e. 4.1-5.5 m away and
  ≈1.5-1.6 m high, at azimuths ≈ ±70° and ±110°; focal ≈ 1145 px at 1000 px (≈ 47° FOV).
* ``3dhp``: 5 cameras in the spirit of MPI-INF-3DHP cameras 0 2 4 7 8 (chest height,
  one low, one high looking down, 3.3-4.4 m). These are a hand-made approximation of that
  studio's layout, not its calibration.
* ``overhead``: the pseudo set's default, 4 cameras 90° apart, 4.0 m away and 2.8 m high,
  looking ≈ 25° down (the target's h36m cameras look ≈ 10° down). Chosen on val: with it the
  pseudo-only detector is 53 mm MPJPE † behind the target REFERENCE, with ``ring`` 21 mm
  (docs/method-notes.md).
* ``ring``: 4 cameras 90° apart at 4.5 m and 1.2 m high (the pseudo set's first rig).
* ``steep``: 4 cameras 90° apart, 3.0 m away and 3.8 m high, looking ≈ 43° down: the
  overhead rig's camera difference made stronger (issue 29's camera-placement lever,
  screened on val in docs/method-notes.md; not a default).

Per sample: the rig centre is the subject's pelvis (horizontal) plus a random offset (the
subject is not at the centre of the capture area), the whole rig gets a random yaw, and
each camera a small jitter of azimuth, distance, height, aim point and roll.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UP = np.array([0.0, 1.0, 0.0])  # world +Y (mocap/README.md)


@dataclass(frozen=True)
class RigLayout:
    """Nominal cameras relative to the rig centre: azimuth (deg), horizontal distance and height (mm)."""
    azimuth_deg: tuple[float, ...]
    distance_mm: tuple[float, ...]
    height_mm: tuple[float, ...]
    aim_height_mm: tuple[float, float]   # aim point above the floor, U(lo, hi)
    centre_offset_mm: float              # max horizontal offset of the subject from the rig centre
    focal_px: float                      # full-frame focal length (documentation; crops set their own K)
    frame_px: int                        # full-frame width


def _h36m_layout() -> RigLayout:
    # Human3.6M S1 camera centres (x, y, z-up) in mm; azimuth/distance from the world origin.
    centres = np.array([[1841.1, 4955.3, 1563.4], [1761.3, -5078.0, 1606.3],
                        [-1846.8, 5215.0, 1492.0], [-1794.8, -3722.7, 1574.9]])
    az = np.degrees(np.arctan2(centres[:, 1], centres[:, 0]))
    dist = np.hypot(centres[:, 0], centres[:, 1])
    # The H36M optical axes cross the area centre ≈ 0.5-0.6 m above the floor (S1 rotations);
    # we aim a little higher so the subject sits nearer the optical axis.
    return RigLayout(tuple(az), tuple(dist), tuple(centres[:, 2]), aim_height_mm=(500.0, 1000.0),
                     centre_offset_mm=600.0, focal_px=1145.0, frame_px=1000)


RIGS: dict[str, RigLayout] = {
    "h36m": _h36m_layout(),
    # 3DHP-like: cams 0, 2, 8 at chest height, 4 low (looking up), 7 high (looking down).
    # 3DHP frames are 2048 px with f ≈ 1500 px (≈ 69° FOV).
    "3dhp": RigLayout(azimuth_deg=(0.0, 65.0, 155.0, -110.0, -45.0),
                      distance_mm=(3700.0, 4100.0, 3600.0, 4400.0, 3300.0),
                      height_mm=(1350.0, 1250.0, 700.0, 2500.0, 1600.0),
                      aim_height_mm=(800.0, 1100.0), centre_offset_mm=300.0,
                      focal_px=1500.0, frame_px=2048),
    # Pseudo-set rigs, deliberately unlike the target's: regular rings of 4 cameras 90° apart,
    # aimed at the hips. Hand-made, no real studio. "overhead" is the default (data.pseudo_rig).
    "overhead": RigLayout(azimuth_deg=(0.0, 90.0, 180.0, 270.0), distance_mm=(4000.0,) * 4,
                          height_mm=(2800.0,) * 4, aim_height_mm=(800.0, 1100.0), centre_offset_mm=300.0,
                          focal_px=1000.0, frame_px=1000),
    "ring": RigLayout(azimuth_deg=(0.0, 90.0, 180.0, 270.0), distance_mm=(4500.0,) * 4,
                      height_mm=(1200.0,) * 4, aim_height_mm=(800.0, 1100.0), centre_offset_mm=300.0,
                      focal_px=1000.0, frame_px=1000),
    "steep": RigLayout(azimuth_deg=(0.0, 90.0, 180.0, 270.0), distance_mm=(3000.0,) * 4,
                       height_mm=(3800.0,) * 4, aim_height_mm=(800.0, 1100.0), centre_offset_mm=300.0,
                       focal_px=1000.0, frame_px=1000),
}

AZIMUTH_JITTER_DEG = 5.0     # per camera, uniform ±
DISTANCE_JITTER = 0.07       # per camera, factor U(1 - j, 1 + j)
HEIGHT_JITTER_MM = 100.0     # per camera, uniform ±
AIM_JITTER_MM = 100.0        # per camera aim point, uniform ± per axis
ROLL_JITTER_DEG = 2.0        # per camera roll about the optical axis, uniform ±


def look_at(camera_pos_mm: np.ndarray, target_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World->camera (R (3, 3), t (3,) mm) of a camera at ``camera_pos_mm`` aiming at ``target_mm``.

    Upright: world +Y maps to image up (camera -Y); numpy twin of
    :func:`maskpose_core.geometry.look_at`.
    """
    z = target_mm - camera_pos_mm
    z = z / np.linalg.norm(z)
    x = np.cross(z, UP)        # image right = forward × up (OpenCV: +Y image-down)
    if np.linalg.norm(x) < 1e-8:
        raise ValueError("look_at: viewing direction is parallel to the up vector")
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ camera_pos_mm


def _roll(R: np.ndarray, t: np.ndarray, angle_rad: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    Rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return Rz @ R, Rz @ t


def sample_rig(rig: str, root_world_mm: np.ndarray, floor_y_mm: float,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cameras for one moment: R (C, 3, 3), t_mm (C, 3), world -> camera."""
    lay = RIGS[rig]
    r_off = lay.centre_offset_mm * np.sqrt(rng.random())
    a_off = rng.uniform(0, 2 * np.pi)
    centre = np.array([root_world_mm[0] + r_off * np.cos(a_off), floor_y_mm,
                       root_world_mm[2] + r_off * np.sin(a_off)])
    yaw = rng.uniform(0, 2 * np.pi)
    aim_h = rng.uniform(*lay.aim_height_mm)
    Rs, ts = [], []
    for az, dist, h in zip(lay.azimuth_deg, lay.distance_mm, lay.height_mm):
        a = yaw + np.radians(az + rng.uniform(-AZIMUTH_JITTER_DEG, AZIMUTH_JITTER_DEG))
        d = dist * rng.uniform(1 - DISTANCE_JITTER, 1 + DISTANCE_JITTER)
        pos = centre + np.array([d * np.cos(a), h + rng.uniform(-HEIGHT_JITTER_MM, HEIGHT_JITTER_MM),
                                 d * np.sin(a)])
        aim = centre + np.array([0.0, aim_h, 0.0]) + rng.uniform(-AIM_JITTER_MM, AIM_JITTER_MM, 3)
        R, t = _roll(*look_at(pos, aim), np.radians(rng.uniform(-ROLL_JITTER_DEG, ROLL_JITTER_DEG)))
        Rs.append(R)
        ts.append(t)
    return np.stack(Rs), np.stack(ts)


def crop_intrinsics(R: np.ndarray, t_mm: np.ndarray, root_world_mm: np.ndarray,
                    crop_mm: float, size_px: int) -> np.ndarray:
    """K (..., 3, 3) of an S×S crop centred on the projected root, ``crop_mm`` wide at its depth.

    R (..., 3, 3), t_mm (..., 3), root (3,) world mm. The projected root lands on the crop
    centre (S-1)/2 (normalised 0); the crop is a principal-point shift and zoom of the full
    frame (no virtual rotation), so it is exactly what a crop of the real image would show.
    """
    root_cam = np.einsum("...ij,j->...i", R, root_world_mm) + t_mm
    z = root_cam[..., 2]
    if np.any(z <= 0):
        raise ValueError(f"crop_intrinsics: root is behind a camera (depths {z})")
    f = size_px * z / crop_mm
    c = (size_px - 1) / 2.0
    K = np.zeros(R.shape[:-2] + (3, 3))
    K[..., 0, 0] = f
    K[..., 1, 1] = f
    K[..., 0, 2] = c - f * root_cam[..., 0] / z
    K[..., 1, 2] = c - f * root_cam[..., 1] / z
    K[..., 2, 2] = 1.0
    return K


def world_to_camera(points_world_mm: np.ndarray, R: np.ndarray, t_mm: np.ndarray) -> np.ndarray:
    """(N, 3) world mm -> (C, N, 3) camera mm for R (C, 3, 3), t (C, 3)."""
    return np.einsum("cij,nj->cni", R, points_world_mm) + t_mm[:, None, :]


def project(points_cam_mm: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(C, N, 3) camera mm -> (C, N, 2) crop pixels with K (C, 3, 3)."""
    uvw = np.einsum("cij,cnj->cni", K, points_cam_mm)
    return uvw[..., :2] / uvw[..., 2:3]


def pixels_to_normalized(uv_px: np.ndarray, size_px: int) -> np.ndarray:
    """Crop pixels -> normalised crop coordinates (geometry.py: x_n = (2u + 1) / S - 1)."""
    return (2.0 * uv_px + 1.0) / size_px - 1.0
