"""The training objective: a table of weighted, switchable terms (docs/method.md §1).

``MaskObjective(loss_cfg, image_size=S, num_landmarks=L)`` turns predictions into losses:

* :meth:`MaskObjective.mask_terms` — the label-free loss of a multi-view batch (or of
  single views): each view's 3D prediction rendered in every view as a skeleton mask and
  compared with the foreground mask (λs), the physique mask ψ(M_skel) (λp), the label-free
  terms of ours (coverage, extremity, multi-view consistency and triangulation) and the
  structure priors (symmetry, limb ratios, template articulation).
* :meth:`MaskObjective.supervised_terms` — the REFERENCE's L1 on 3D labels (a reference
  row, or the pseudo-image supervision of the two-stage recipe), never label-free;
  :meth:`MaskObjective.supervised_physique` trains ψ on exact skeleton/mask pairs (stage 1).

Every mask-side term is one row of :data:`TERMS`: its name (logged as ``loss_<name>``), the
``LossConfig`` field holding its weight (0 switches it off: the term is not even computed)
and a function of the shared :class:`Renders`. A new term is one function and one row.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from maskpose_core.geometry import camera_to_world
from maskpose_core.loss import mask_loss, robust_triangulation, scope, structure
from maskpose_core.loss.config import LossConfig
from maskpose_core.render.skeleton_mask import SkeletonMaskRenderer
from maskpose_core.skeleton import EXTREMITY_JOINTS, NUM_JOINTS, ROOT, TEMPLATE_MM

Tensor = torch.Tensor
SUPERVISED_SCALE_MM = 1000.0  # the supervised L1 is in metres


@dataclass
class Renders:
    """What the mask terms share, computed once per batch.

    joints_cam_mm (B, C, L, 3) and xy_norm (B, C, L, 2): every view's prediction;
    joints_world_mm (B, C, L, 3); points_norm (B, Cs, Ct, L, 2): source view's prediction in
    target view; m_skel (B, Cs, Ct, R, R); mask / geo (B, Cs, Ct, R, R): the target view's mask
    and G; mask_views / geo_views (B, C, R, R); target (Cs, Ct) target-view index per render.
    """
    batch: dict[str, Tensor]
    joints_cam_mm: Tensor
    xy_norm: Tensor
    joints_world_mm: Tensor
    points_norm: Tensor
    m_skel: Tensor
    mask: Tensor
    geo: Tensor
    mask_views: Tensor
    geo_views: Tensor
    target: Tensor
    physique: nn.Module | None
    physique_on: bool
    extras: dict[str, Tensor]
    sigma2: float = 0.0

    @property
    def joints(self) -> Tensor:
        """(B, C, J, 3) the J joints of the L landmarks, camera mm."""
        return self.joints_cam_mm[:, :, :NUM_JOINTS]

    @property
    def multi_view(self) -> bool:
        return self.joints_cam_mm.shape[1] > 1


def _skeleton(r: Renders, lc: LossConfig, obj: "MaskObjective") -> Tensor:
    return mask_loss.weighted_mse(r.mask, r.m_skel, r.geo)


def _coverage(r: Renders, lc: LossConfig, obj: "MaskObjective") -> Tensor:
    l = r.points_norm.shape[-2]
    d2 = obj.renderer.nearest_dist2(r.points_norm.reshape(-1, l, 2)).view_as(r.m_skel)
    return mask_loss.coverage(r.mask, d2, r.geo, lc.coverage_eps)


def _bone_outside(r: Renders, lc: LossConfig, obj: "MaskObjective") -> Tensor:
    l = r.points_norm.shape[-2]
    bones = obj.renderer.bone_maps(r.points_norm.reshape(-1, l, 2), r.sigma2)
    return mask_loss.outside_share(r.mask.flatten(0, 2), bones, r.geo.flatten(0, 2))


def _extremity(r: Renders, lc: LossConfig, obj: "MaskObjective") -> Tensor:
    tips = mask_loss.tip_weight(r.mask_views, r.geo_views, lc.extremity_threshold)[:, r.target]
    ends = r.points_norm[..., list(EXTREMITY_JOINTS), :]                           # (B, Cs, Ct, E, 2)
    size = lc.render_size
    return mask_loss.extremity(ends.reshape(-1, len(EXTREMITY_JOINTS), 2), tips.reshape(-1, size, size),
                               lc.coverage_eps)


def _physique(r: Renders, lc: LossConfig, obj: "MaskObjective") -> Tensor:
    # Warm-up: ψ learns the body around the (detached) skeleton; then its gradient also flows
    # into the joints (coarse-to-fine stage 2).
    src = r.m_skel if r.physique_on else r.m_skel.detach()
    m_phys = r.physique(src.flatten(0, 2)).view_as(r.m_skel)
    r.extras["m_phys"] = m_phys.detach()
    return mask_loss.weighted_mse(r.mask, m_phys, r.geo)


def _symmetry(r: Renders, lc: LossConfig, obj: "MaskObjective") -> Tensor:
    return structure.symmetry_loss(r.joints)


def _limb_ratio(r: Renders, lc: LossConfig, obj: "MaskObjective") -> Tensor:
    return structure.limb_ratio_loss(r.joints)


def _template(r: Renders, lc: LossConfig, obj: "MaskObjective") -> Tensor:
    return structure.template_loss(r.joints, obj.template_mm)


def _triangulation(r: Renders, lc: LossConfig, obj: "MaskObjective") -> Tensor:
    b = r.batch
    return structure.triangulation_loss(r.joints, r.xy_norm[:, :, :NUM_JOINTS], b["K"], b["R"], b["t_mm"],
                                        obj.image_size)


def _robust_triangulation(r: Renders, lc: LossConfig, obj: "MaskObjective") -> Tensor:
    b = r.batch
    return robust_triangulation.robust_triangulation_loss(r.joints, r.xy_norm[:, :, :NUM_JOINTS], b["K"], b["R"],
                                                          b["t_mm"], obj.image_size, align=lc.robust_triangulation_align)


def _consistency(r: Renders, lc: LossConfig, obj: "MaskObjective") -> Tensor:
    return structure.consistency_loss(r.joints_world_mm)


@dataclass(frozen=True)
class Term:
    """One row of the objective: ``weight`` names the LossConfig field (0 = off)."""
    name: str
    weight: str
    fn: Callable[[Renders, LossConfig, "MaskObjective"], Tensor]
    needs_physique: bool = False     # skipped when the model has no ψ ("wo ψ")
    multi_view: bool = False         # skipped for single views (no triangulation, no consistency)


TERMS: tuple[Term, ...] = (
    Term("skeleton", "lambda_s", _skeleton),
    Term("coverage", "coverage_weight", _coverage),
    Term("bone_outside", "bone_outside_weight", _bone_outside),
    Term("extremity", "extremity_weight", _extremity),
    Term("physique", "lambda_p", _physique, needs_physique=True),
    Term("symmetry", "symmetry_weight", _symmetry),
    Term("limb_ratio", "limb_ratio_weight", _limb_ratio),
    Term("template", "template_weight", _template),
    Term("triangulation", "triangulation_weight", _triangulation, multi_view=True),
    Term("consistency", "consistency_weight", _consistency, multi_view=True),
    Term("robust_triangulation", "robust_triangulation_weight", _robust_triangulation, multi_view=True),
)
# Computed and added (× its weight) even at weight 0: the skeleton term is always logged, and
# ψ stays in the graph so DDP sees a gradient (0) for every parameter.
ALWAYS_COMPUTED = ("skeleton", "physique")


class MaskObjective(nn.Module):
    """The loss of predictions. Holds the renderer and the template (buffers only, no
    parameters: ψ is the model's and is passed in)."""

    def __init__(self, cfg: LossConfig, *, image_size: int, num_landmarks: int):
        super().__init__()
        self.cfg = cfg
        self.image_size = image_size
        self.register_buffer("template_mm", torch.tensor(TEMPLATE_MM), persistent=False)
        self.renderer = SkeletonMaskRenderer(num_landmarks=num_landmarks, delta=cfg.delta, size=cfg.render_size,
                                             combine=cfg.combine, arm_sigma_factor=cfg.arm_sigma_factor,
                                             primitive=cfg.primitive)

    def active_terms(self, *, has_physique: bool, multi_view: bool) -> tuple[Term, ...]:
        """The rows of :data:`TERMS` that this config computes for such a model and batch."""
        return tuple(t for t in TERMS
                     if (getattr(self.cfg, t.weight) > 0 or t.name in ALWAYS_COMPUTED)
                     and (has_physique or not t.needs_physique) and (multi_view or not t.multi_view))

    def render(self, batch: dict[str, Tensor], joints_cam_mm: Tensor, xy_norm: Tensor, *, sigma2: float,
               physique: nn.Module | None = None, physique_on: bool = False) -> Renders:
        """Everything the terms share; joints_cam_mm (B, C, L, 3), xy_norm (B, C, L, 2)."""
        lc = self.cfg
        R, t, K = batch["R"], batch["t_mm"], batch["K"]
        joints_world = camera_to_world(joints_cam_mm, R, t)                              # (B, C, L, 3)
        # what the mask renders are drawn from: the joints, or (loss.mask_scope) the joints whose
        # gradient moves only the pose's similarity; the structure terms keep the plain joints
        drawn = scope.scoped(joints_cam_mm, lc.mask_scope)
        drawn_world = joints_world if drawn is joints_cam_mm else camera_to_world(drawn, R, t)
        pts, target = mask_loss.cross_view_points(drawn_world, K, R, t, self.image_size,
                                                  cross_view=lc.cross_view)             # (B, Cs, Ct, L, 2)
        b, cs, ct, l, _ = pts.shape
        m_skel = self.renderer(pts.reshape(-1, l, 2), sigma2).view(b, cs, ct, lc.render_size, lc.render_size)
        mask_views = mask_loss.downsample(batch["mask"], lc.render_size)                 # (B, C, R, R)
        geo_full = batch["geodesic"] if lc.geodesic else torch.ones_like(batch["mask"])
        geo_views = mask_loss.downsample(geo_full, lc.render_size)
        return Renders(batch=batch, joints_cam_mm=joints_cam_mm, xy_norm=xy_norm, joints_world_mm=joints_world,
                       points_norm=pts, m_skel=m_skel, mask=mask_views[:, target],
                       geo=geo_views[:, target], mask_views=mask_views, geo_views=geo_views, target=target,
                       physique=physique, physique_on=physique_on, extras={}, sigma2=sigma2)

    def mask_terms(self, batch: dict[str, Tensor], joints_cam_mm: Tensor, xy_norm: Tensor, *, sigma2: float,
                   physique: nn.Module | None = None, physique_on: bool = False) -> dict[str, Tensor]:
        """The label-free loss: {"loss": weighted sum (with graph), "loss_<term>": detached term,
        "m_skel" / "m_phys": detached renders (B, Cs, Ct, R, R)}. Reads no joint labels."""
        r = self.render(batch, joints_cam_mm, xy_norm, sigma2=sigma2, physique=physique,
                        physique_on=physique_on)
        loss = joints_cam_mm.new_zeros(())       # 0 + x == x: the sum is bit-identical to a plain one
        out: dict[str, Tensor] = {"m_skel": r.m_skel.detach()}
        for term in self.active_terms(has_physique=physique is not None, multi_view=r.multi_view):
            value = term.fn(r, self.cfg, self)
            out[f"loss_{term.name}"] = value.detach()
            loss = loss + getattr(self.cfg, term.weight) * value
        out.update(r.extras)
        out["loss"] = loss
        return out

    def supervised_physique(self, batch: dict[str, Tensor], physique: nn.Module, *, sigma2: float) -> Tensor:
        """USES 2D LABELS (pseudo images): ψ learns the body around the exact skeleton.

        The own-view skeleton mask of ``batch['joints_2d_norm']`` (B, C, J, 2) goes through ψ
        and is compared with the mask, G-weighted as the physique term: ψ starts stage 2
        calibrated instead of untrained. Gradients reach ψ only. () >= 0."""
        gt = batch["joints_2d_norm"]
        b, c, j, _ = gt.shape
        if j != self.renderer.num_landmarks:
            raise ValueError(f"supervised ψ needs one landmark per joint (L = {j}), the renderer draws "
                             f"{self.renderer.num_landmarks}")
        size = self.cfg.render_size
        with torch.no_grad():
            m_skel = self.renderer(gt.flatten(0, 1), sigma2)                         # (B·C, R, R)
        mask = mask_loss.downsample(batch["mask"], size).flatten(0, 1)
        geo = (mask_loss.downsample(batch["geodesic"], size).flatten(0, 1) if self.cfg.geodesic
               else torch.ones_like(mask))
        return mask_loss.weighted_mse(mask, physique(m_skel), geo)

    @staticmethod
    def supervised_terms(batch: dict[str, Tensor], joints_cam_mm: Tensor) -> Tensor:
        """USES 3D LABELS: L1 between root-relative camera joints (B, C, ≥J, 3) and
        ``batch['joints_cam_mm']`` (B, C, J, 3), in metres. () >= 0."""
        gt = batch["joints_cam_mm"]
        pred = joints_cam_mm[:, :, :NUM_JOINTS]
        rel = lambda x: x - x[:, :, ROOT:ROOT + 1]                                      # noqa: E731
        return (rel(pred) - rel(gt)).abs().mean() / SUPERVISED_SCALE_MM
