"""The Human3.6M 17-joint skeleton: joint order, bones, Δ torso links, left/right pairs.

Everything that knows the joint order lives here, so a data set, the renderer, the
skeleton mask, the structure prior and the metrics cannot disagree about it.
"""
from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine",
    "thorax", "nose", "head_top", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder",
    "r_elbow", "r_wrist",
)
NUM_JOINTS = len(JOINT_NAMES)  # J = 17, Human3.6M order
ROOT = 0  # pelvis
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

# The 16 bones of the kinematic tree, as (parent, child).
TREE_BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(PARENTS) if p >= 0)

# Δ: torso links (docs/method.md §1): spine->hips, spine->shoulders, pelvis->knees,
# hip->same-side shoulder. They give the torso an area in the skeleton mask.
DELTA_LINKS: tuple[tuple[int, int], ...] = (
    (7, 1), (7, 4),      # spine -> r_hip, l_hip
    (7, 11), (7, 14),    # spine -> l_shoulder, r_shoulder
    (0, 2), (0, 5),      # pelvis -> r_knee, l_knee
    (1, 14), (4, 11),    # r_hip -> r_shoulder, l_hip -> l_shoulder
)

# Arms are drawn thinner (authors' code: sigma^2 / 2 for arm bones).
ARM_JOINTS = frozenset({12, 13, 15, 16})  # elbows and wrists
EXTREMITY_JOINTS = (3, 6, 10, 13, 16)    # ankles, head top, wrists: the ends of the tree's limbs

# Left/right mirror: index i of a flipped pose takes joint FLIP_PERMUTATION[i].
_LR_PAIRS = ((1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16))
FLIP_PERMUTATION: tuple[int, ...] = tuple(
    next((b for a, b in _LR_PAIRS if a == j), next((a for a, b in _LR_PAIRS if b == j), j))
    for j in range(NUM_JOINTS)
)
LEFT_RIGHT_PAIRS: tuple[tuple[int, int], ...] = _LR_PAIRS

# Bones with a left and a right instance, (left bone, right bone), for the symmetry prior.
SYMMETRIC_BONES: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((4, 5), (1, 2)),      # thigh
    ((5, 6), (2, 3)),      # shin
    ((0, 4), (0, 1)),      # pelvis -> hip
    ((8, 11), (8, 14)),    # clavicle
    ((11, 12), (14, 15)),  # upper arm
    ((12, 13), (15, 16)),  # forearm
)

# Limb ratio prior: (bone a, bone b, a/b). Human proportions from anthropometric
# tables (Winter, "Biomechanics and Motor Control of Human Movement", 4th ed., Table 4.1,
# segment lengths as fractions of height H: thigh 0.245 H, shank 0.246 H, upper arm
# 0.186 H, forearm 0.146 H) -- not from any data set in this project.
LIMB_RATIOS: tuple[tuple[tuple[int, int], tuple[int, int], float], ...] = (
    ((1, 2), (2, 3), 0.245 / 0.246),    # right thigh / right shank
    ((4, 5), (5, 6), 0.245 / 0.246),    # left thigh / left shank
    ((14, 15), (15, 16), 0.186 / 0.146),  # right upper arm / forearm
    ((11, 12), (12, 13), 0.186 / 0.146),  # left upper arm / forearm
)


# The template (Table 1's "T": a hand-made pose, no data): a 1.75 m adult standing, facing
# the camera, arms down; root-relative camera mm (x right, y down, z away). Segment lengths from Winter's anthropometric table
# (thigh 0.245 H, shank 0.246 H, upper arm 0.186 H, forearm 0.146 H).
TEMPLATE_MM = np.array([
    [0, 0, 0], [-95, 0, 0], [-95, 429, 0], [-95, 860, 0], [95, 0, 0], [95, 429, 0], [95, 860, 0],
    [0, -230, 0], [0, -480, 0], [0, -580, -80], [0, -700, 0],
    [165, -450, 0], [175, -125, 0], [180, 130, 0], [-165, -450, 0], [-175, -125, 0], [-180, 130, 0],
], dtype=np.float32)


def bones(*, delta: bool) -> tuple[tuple[int, int], ...]:
    """Bones drawn in the skeleton mask: the tree, plus the Δ links if ``delta``."""
    return TREE_BONES + (DELTA_LINKS if delta else ())


def is_arm_bone(bone: tuple[int, int]) -> bool:
    """True for bones ending at an elbow or wrist (drawn thinner)."""
    return bone[1] in ARM_JOINTS


def landmark_segments(num_landmarks: int, *, delta: bool) -> tuple[tuple[int, int], ...]:
    """Segments drawn for L landmarks (SPP, docs/method.md §1).

    L = J: the bones above. L = J + 16·m: every tree bone (a, b) becomes a chain
    a -> e_1 -> ... -> e_m -> b of free landmarks e (indices J + bone·m + k), so the
    landmark skeleton can bend to fill the silhouette; θ later maps all L to the J joints.
    """
    extra = num_landmarks - NUM_JOINTS
    if extra < 0 or extra % len(TREE_BONES):
        raise ValueError(f"num_landmarks must be {NUM_JOINTS} + {len(TREE_BONES)}·m (m >= 0), got {num_landmarks}")
    m = extra // len(TREE_BONES)
    if m == 0:
        return bones(delta=delta)
    segs: list[tuple[int, int]] = []
    for i, (a, b) in enumerate(TREE_BONES):
        chain = [a, *(NUM_JOINTS + i * m + k for k in range(m)), b]
        segs.extend(zip(chain[:-1], chain[1:]))
    return tuple(segs) + (DELTA_LINKS if delta else ())


def landmark_is_arm(num_landmarks: int, *, delta: bool) -> tuple[bool, ...]:
    """Per segment of :func:`landmark_segments`: is it part of an arm bone (drawn thinner)?"""
    extra = num_landmarks - NUM_JOINTS
    m = extra // len(TREE_BONES)
    if m == 0:
        return tuple(is_arm_bone(b) for b in bones(delta=delta))
    flags = [is_arm_bone(b) for b in TREE_BONES for _ in range(m + 1)]
    return tuple(flags) + (False,) * (len(DELTA_LINKS) if delta else 0)
