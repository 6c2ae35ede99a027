"""Left/right alignment of the C views' predictions of one moment, for the multi-view terms.

Masks do not say which arm is the left one (FINDINGS.md): each view's prediction may label a
limb pair either way. The multi-view terms (consistency, triangulation) compare the views'
joints by label, so a view that swapped its arms drags both wrists of the consensus towards
the middle of the body, and the triangulation of a left wrist seen in one view with a right
wrist seen in another is metres off. Aligning first removes that:

- per moment and per limb group (arms, legs), the assignment of swapped / not swapped to the
  C views whose world-space joints agree best is found by enumerating all 2^(C-1) of them
  (view 0 fixed; the result is then mirrored so that at most half of the views are swapped);
- ``mode='tolerant'`` compares each view with the consensus in the view's own labelling:
  depth and position are taught, the labelling is left free;
- ``mode='majority'`` pulls every view towards the consensus in the majority's labelling, so
  the views also learn to agree on left/right (lowers the Ambiguity Ratio).

The assignment is chosen without gradient; gradients flow through the permutation.
"""
from __future__ import annotations

import itertools

import torch

from maskpose_core.skeleton import NUM_JOINTS, TREE_BONES

Tensor = torch.Tensor
MODES = ("none", "tolerant", "majority")
# (left joints, right joints) of each limb group, Human3.6M order (skeleton.JOINT_NAMES).
LIMB_GROUPS: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((11, 12, 13), (14, 15, 16)),   # arms: shoulder, elbow, wrist
    ((4, 5, 6), (1, 2, 3)),         # legs: hip, knee, ankle
)
MAX_VIEWS = 10                      # 2^(C-1) assignments are enumerated


def group_permutations(num_landmarks: int) -> Tensor:
    """(G, L) long: index i of a pose whose group g is swapped takes landmark perm[g, i].

    The J joints of the group trade places with their partners; for SPP landmarks
    (L = J + 16·m, see skeleton.landmark_segments) the m landmarks on each bone of the group
    trade places with those on the partner bone.
    """
    extra = num_landmarks - NUM_JOINTS
    if extra < 0 or extra % len(TREE_BONES):
        raise ValueError(f"num_landmarks must be {NUM_JOINTS} + {len(TREE_BONES)}·m, got {num_landmarks}")
    m = extra // len(TREE_BONES)
    perms = []
    for left, right in LIMB_GROUPS:
        perm = list(range(num_landmarks))
        swap = dict(zip(left, right)) | dict(zip(right, left))
        for j, k in swap.items():
            perm[j] = k
        bone_index = {b: i for i, b in enumerate(TREE_BONES)}
        for i, (a, b) in enumerate(TREE_BONES):
            if b in swap:   # the bone ending at a group joint: parent may be shared (pelvis, thorax)
                partner = bone_index[(swap.get(a, a), swap[b])]
                for k in range(m):
                    perm[NUM_JOINTS + i * m + k] = NUM_JOINTS + partner * m + k
        perms.append(perm)
    return torch.tensor(perms, dtype=torch.long)


def apply_flips(x: Tensor, flips: Tensor, perms: Tensor) -> Tensor:
    """x (B, C, L, D), flips (B, C, G) bool, perms (G, L) -> x with each flipped group swapped.

    Swaps are involutions on disjoint joints, so applying the same flips twice restores x.
    """
    b, c, l, d = x.shape
    idx = torch.arange(l, device=x.device).expand(b, c, l)
    for g in range(perms.shape[0]):
        idx = torch.where(flips[..., g:g + 1], perms[g].to(x.device)[idx], idx)
    return torch.gather(x, 2, idx.unsqueeze(-1).expand(b, c, l, d))


def _assignments(c: int, device) -> Tensor:
    """(2^(C-1), C) bool: every swapped/not-swapped assignment with view 0 not swapped."""
    rows = [(False,) + bits for bits in itertools.product((False, True), repeat=c - 1)]
    return torch.tensor(rows, dtype=torch.bool, device=device)


@torch.no_grad()
def best_flips(joints_world_mm: Tensor) -> Tensor:
    """The assignment per moment and limb group under which the views agree best.

    joints_world_mm (B, C, L, 3) with L >= 17 (only the 17 joints are compared) -> (B, C, G)
    bool, at most half of each group's views swapped (ties keep view 0's labelling).
    Agreement = the summed squared distance of the group's joints to their mean over views.
    """
    b, c = joints_world_mm.shape[:2]
    if c > MAX_VIEWS:
        raise ValueError(f"left/right alignment enumerates 2^(C-1) assignments; C={c} > {MAX_VIEWS}")
    a = _assignments(c, joints_world_mm.device)                                   # (A, C)
    out = []
    for left, right in LIMB_GROUPS:
        own = joints_world_mm[:, :, list(left + right)]                            # (B, C, 6, 3)
        swapped = joints_world_mm[:, :, list(right + left)]
        pick = torch.where(a[None, :, :, None, None], swapped[:, None], own[:, None])  # (B, A, C, 6, 3)
        spread = ((pick - pick.mean(dim=2, keepdim=True)) ** 2).sum(dim=(-1, -2, -3))  # (B, A)
        flips = a[spread.argmin(dim=1)]                                            # (B, C)
        minority = flips.sum(dim=1, keepdim=True) * 2 > c
        out.append(flips ^ minority)
    return torch.stack(out, dim=-1)


def aligned_consistency(joints_world_mm: Tensor, flips: Tensor, perms: Tensor, mode: str,
                        scale_mm: float = 1000.0) -> Tensor:
    """The consistency term after alignment. (B, C, L, 3) -> () in (scale_mm)².

    The consensus is the mean over views of the aligned poses. 'tolerant' compares each
    aligned pose with it; 'majority' compares each view's own labels with it.
    """
    aligned = apply_flips(joints_world_mm, flips, perms)
    centre = aligned.mean(dim=1, keepdim=True)
    own = aligned if mode == "tolerant" else joints_world_mm
    return (((own - centre) / scale_mm) ** 2).sum(-1).mean()


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"LossConfig.lr_align must be one of {MODES}, got {mode!r}")
