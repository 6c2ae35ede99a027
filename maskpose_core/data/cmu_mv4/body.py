"""A volumetric body for one pose: rescaled skeleton + round cones and ellipsoids (world mm).

Proportions: every tree bone's length is multiplied by U(bone_scale_min, bone_scale_max)
(left/right partners share one factor when ``symmetric_bones``, so the symmetry prior
of the method holds on the data), re-posed along the parent chain from the pelvis, then
shifted vertically so the lowest joint stays where it was (feet keep floor contact).
**The rescaled joints are the ground truth.** Girth: one factor U(girth_min, girth_max)
scales all radial sizes.

Primitives: a *round cone* is the convex hull of two spheres (a, ra), (b, rb) — a
tapered capsule; an *ellipsoid* has a centre, orthonormal axes (rows) and semi-axes.
Radii at girth 1 are rounded adult values (e.g. thigh circumference ≈ 55 cm -> r ≈ 85 mm;
head 150 × 230 × 195 mm) from general anthropometry, not fitted to any data set.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from maskpose_core.data.cmu_mv4.config import GeneratorConfig
from maskpose_core.skeleton import LEFT_RIGHT_PAIRS, PARENTS

# Regions (clothing/appearance classes); identical for left and right.
SKIN, HAIR, SHIRT, TROUSERS, SHOES = 0, 1, 2, 3, 4
NUM_REGIONS = 5

# Nose -> head_top of the Daz template (mm); the head ellipsoid scales with the actual distance.
HEAD_REF_MM = 148.0
# In a neutral head, head_top - nose points 38° behind the head's up axis (measured on the
# embedded file: (up, forward) = (116, -92) mm in the torso frame).
HEAD_TILT_RAD = np.arctan2(92.0, 116.0)


@dataclass
class Primitives:
    """Round cones a, b (P, 3), ra, rb (P,), cone_region (P,); ellipsoids centre (Q, 3),
    axes (Q, 3, 3) rows = unit axes, radii (Q, 3), ell_region (Q,). All in one frame (mm)."""
    a: np.ndarray
    b: np.ndarray
    ra: np.ndarray
    rb: np.ndarray
    cone_region: np.ndarray
    centre: np.ndarray
    axes: np.ndarray
    radii: np.ndarray
    ell_region: np.ndarray

    def transformed(self, R: np.ndarray, t: np.ndarray) -> "Primitives":
        """The same primitives after X -> R X + t (e.g. world -> camera)."""
        return Primitives(self.a @ R.T + t, self.b @ R.T + t, self.ra, self.rb, self.cone_region,
                          self.centre @ R.T + t, self.axes @ R.T, self.radii, self.ell_region)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _orthogonal(v: np.ndarray, to: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Unit part of v orthogonal to unit ``to``; ``fallback`` if v is (nearly) parallel."""
    w = v - np.dot(v, to) * to
    if np.linalg.norm(w) < 0.2 * np.linalg.norm(v):
        w = fallback - np.dot(fallback, to) * to
    return _unit(w)


def bone_scales(gen: GeneratorConfig, rng: np.random.Generator) -> np.ndarray:
    """(J,) length factor of the bone ending at each joint (1 at the root)."""
    s = rng.uniform(gen.bone_scale_min, gen.bone_scale_max, len(PARENTS))
    s[0] = 1.0
    if gen.symmetric_bones:
        for left, right in LEFT_RIGHT_PAIRS:
            s[right] = s[left]
    return s


def rescale_skeleton(pose_mm: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(J, 3) world mm -> (J, 3): bone j scaled by scales[j] along the chain, floor contact kept."""
    out = pose_mm.copy()
    for j, p in enumerate(PARENTS):          # parents precede children in the H36M order
        if p >= 0:
            out[j] = out[p] + scales[j] * (pose_mm[j] - pose_mm[p])
    out[:, 1] += pose_mm[:, 1].min() - out[:, 1].min()
    return out


def _frames(J: np.ndarray) -> dict[str, np.ndarray]:
    """Unit vectors of the pelvis, chest and head frames (left, up, forward), world."""
    up_p = _unit(J[7] - J[0])
    left_p = _orthogonal(J[4] - J[1], up_p, np.array([1.0, 0.0, 0.0]))
    fwd_p = np.cross(left_p, up_p)          # forward = left × up (checked: nose is in front)
    up_c = _unit(J[8] - J[7])
    left_c = _orthogonal(J[11] - J[14], up_c, left_p)
    fwd_c = np.cross(left_c, up_c)
    v = _unit(J[10] - J[9])                  # nose -> head_top
    left_h = _orthogonal(left_c, v, left_p)
    fwd_perp = np.cross(left_h, v)
    up_h = np.cos(HEAD_TILT_RAD) * v + np.sin(HEAD_TILT_RAD) * fwd_perp
    fwd_h = np.cos(HEAD_TILT_RAD) * fwd_perp - np.sin(HEAD_TILT_RAD) * v
    return dict(left_p=left_p, up_p=up_p, fwd_p=fwd_p, left_c=left_c, up_c=up_c, fwd_c=fwd_c,
                left_h=left_h, up_h=up_h, fwd_h=fwd_h)


def build_primitives(J: np.ndarray, girth: float, clothes: dict[str, bool]) -> Primitives:
    """Primitives (world mm) of a body with joints J (17, 3), girth factor, and
    ``clothes`` = {long_sleeves, long_trousers} (region of forearms and shins)."""
    f = _frames(J)
    g, gh = girth, np.sqrt(girth)            # hands and feet vary less than limbs; the head not
    fore = SHIRT if clothes["long_sleeves"] else SKIN
    shin = TROUSERS if clothes["long_trousers"] else SKIN
    cones = []                               # (a, b, ra, rb, region)
    for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
        cones.append((J[hip], J[knee], 85 * g, 55 * g, TROUSERS))     # thigh
        cones.append((J[knee], J[ankle], 50 * g, 36 * g, shin))        # shin
        down = _unit(J[ankle] - J[knee])
        toe_dir = _orthogonal(f["fwd_p"], down, np.cross(f["left_p"], down))
        heel = J[ankle] + 45 * down - 35 * toe_dir
        toe = J[ankle] + 55 * down + 150 * toe_dir
        cones.append((heel, toe, 38 * gh, 32 * gh, SHOES))             # foot
    for sh, el, wr in ((11, 12, 13), (14, 15, 16)):
        cones.append((J[sh], J[el], 50 * g, 40 * g, SHIRT))           # upper arm
        cones.append((J[el], J[wr], 38 * g, 30 * g, fore))            # forearm
        hand_dir = _unit(J[wr] - J[el])
        cones.append((J[wr], J[wr] + 95 * hand_dir, 32 * gh, 26 * gh, SKIN))  # hand
    cones.append((J[11], J[14], 55 * g, 55 * g, SHIRT))              # shoulder girdle
    head_size = np.linalg.norm(J[10] - J[9]) / HEAD_REF_MM
    head_c = J[10] - 105 * head_size * f["up_h"]  # head_top 20 mm inside the top, nose inside the face
    cones.append((J[8], head_c, 55 * g, 45 * g, SKIN))               # neck

    def ell(c, left, up, fwd, r_left, r_up, r_fwd, region):
        return (c, np.stack([left, up, fwd]), np.array([r_left, r_up, r_fwd]), region)

    ells = [
        ell(J[0] + 10 * f["up_p"], f["left_p"], f["up_p"], f["fwd_p"],
            np.linalg.norm(J[4] - J[1]) / 2 + 85 * g, 150, 105 * g, TROUSERS),   # pelvis
        ell(J[7], *(_unit(f[k] + f[k.replace("_p", "_c")]) for k in ("left_p", "up_p", "fwd_p")),
            142 * g, 190, 100 * g, SHIRT),                                       # abdomen
        ell(J[7] + 0.55 * (J[8] - J[7]), f["left_c"], f["up_c"], f["fwd_c"],
            np.linalg.norm(J[11] - J[14]) / 2 + 40 * g, 170, 110 * g, SHIRT),   # chest
        ell(head_c, f["left_h"], f["up_h"], f["fwd_h"],
            78 * head_size, 125 * head_size, 105 * head_size, SKIN),            # head
        ell(head_c + head_size * (18 * f["up_h"] - 22 * f["fwd_h"]), f["left_h"], f["up_h"], f["fwd_h"],
            84 * head_size, 120 * head_size, 100 * head_size, HAIR),            # hair cap
    ]
    return Primitives(
        a=np.array([c[0] for c in cones]), b=np.array([c[1] for c in cones]),
        ra=np.array([c[2] for c in cones]), rb=np.array([c[3] for c in cones]),
        cone_region=np.array([c[4] for c in cones], dtype=np.int8),
        centre=np.array([e[0] for e in ells]), axes=np.array([e[1] for e in ells]),
        radii=np.array([e[2] for e in ells]), ell_region=np.array([e[3] for e in ells], dtype=np.int8),
    )


def sample_body(gen: GeneratorConfig, pose_world_mm: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, Primitives]:
    """Rescaled joints (J, 3) world mm (the ground truth) and the body's primitives."""
    joints = rescale_skeleton(np.asarray(pose_world_mm, dtype=np.float64), bone_scales(gen, rng))
    girth = rng.uniform(gen.girth_min, gen.girth_max)
    clothes = {"long_sleeves": bool(rng.random() < 0.5), "long_trousers": bool(rng.random() < 0.75)}
    return joints, build_primitives(joints, girth, clothes)
