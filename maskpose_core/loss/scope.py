"""What the mask terms may move: the whole pose, or only its global similarity (issue 31, lever 2).

Masks fix where a body is (its position, size and facing) better than how it is bent: a
silhouette can be matched by a pose with both forearms at the wrong depth. With
``loss.mask_scope=similarity`` the mask terms (skeleton, coverage, extremity, physique) still
see the whole predicted pose in the forward pass, but their gradient with respect to the joints
is **projected onto the 7 infinitesimal similarity motions of that pose** — 3 translations, 3
rotations about its centroid, 1 scaling about it — so they can move, turn and scale the
prediction and cannot bend it. The articulation's gradient comes from the other terms (the
pseudo-image supervision, the structure priors). The projected gradient still reaches every
shared weight of the detector through the joints.

For one pose P (L, 3) with centroid c and X = P − c, the motions are the columns of
A (3L, 7): ``[e_x, e_y, e_z]`` repeated over the joints (translations), ``ω × X`` for
ω ∈ {e_x, e_y, e_z} (rotations) and ``X`` (scaling). The projection of a gradient g (3L) is
``A A⁺ g`` — the least-squares fit of g by similarity motions. A pose's similarity
subspace is the same in every rigid frame (camera or world), so the projection is done in the
frame the joints arrive in. A bend that keeps the pose's similarity fixed (a direction
orthogonal to all 7 columns) gets zero gradient; a pure translation, rotation or scaling keeps
all of it.
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor
SCOPES = ("all", "similarity")


def similarity_basis(poses: Tensor) -> Tensor:
    """(N, L, 3) poses → (N, 3L, 7) their infinitesimal similarity motions (translations x, y,
    z; rotations about x, y, z through the centroid; scaling about it), flattened joint-major."""
    n, l, _ = poses.shape
    x = poses - poses.mean(dim=1, keepdim=True)                                     # (N, L, 3)
    eye = torch.eye(3, dtype=poses.dtype, device=poses.device)
    trans = eye.expand(n, l, 3, 3).permute(0, 1, 3, 2)                             # (N, L, 3 dims, 3 motions)
    rot = torch.stack([torch.cross(eye[k].expand_as(x), x, dim=-1) for k in range(3)], dim=-1)   # (N, L, 3, 3)
    cols = torch.cat([trans, rot, x.unsqueeze(-1)], dim=-1)                        # (N, L, 3, 7)
    return cols.reshape(n, l * 3, 7)


def project_on_similarity(grad: Tensor, poses: Tensor) -> Tensor:
    """``grad`` (N, L, 3) projected onto the similarity motions of ``poses`` (N, L, 3): the
    least-squares fit ``A A⁺ g`` (pseudo-inverse, so a degenerate pose, e.g. every joint at one
    point, keeps the motions it has and stays finite)."""
    a = similarity_basis(poses.detach().double())                                   # (N, 3L, 7)
    g = grad.double().reshape(grad.shape[0], -1, 1)                                # (N, 3L, 1)
    return (a @ (torch.linalg.pinv(a) @ g)).reshape(grad.shape).to(grad.dtype)


class _SimilarityOnly(torch.autograd.Function):
    @staticmethod
    def forward(ctx, joints: Tensor) -> Tensor:                 # noqa: D401 (autograd signature)
        ctx.save_for_backward(joints)
        return joints.view_as(joints)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (joints,) = ctx.saved_tensors
        flat = joints.reshape(-1, *joints.shape[-2:])
        return project_on_similarity(grad.reshape(flat.shape), flat).reshape(joints.shape)


def similarity_only(joints: Tensor) -> Tensor:
    """``joints`` (…, L, 3) unchanged in value; the gradient that flows back through the result is
    projected, pose by pose (every leading index), onto that pose's similarity motions."""
    return _SimilarityOnly.apply(joints)


def scoped(joints: Tensor, scope: str) -> Tensor:
    """The joints the mask terms see under ``loss.mask_scope`` (``all``: ``joints`` itself)."""
    if scope == "all":
        return joints
    if scope == "similarity":
        return similarity_only(joints)
    raise ValueError(f"loss.mask_scope must be one of {SCOPES}, got {scope!r}")
