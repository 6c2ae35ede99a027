"""MaskPoseNet: φ + skeleton mask + ψ + losses in one module, so DDP sees one forward.

``forward(batch, sigma2=..., physique_on=...)`` takes a multi-view batch (B moments × C
views, see ``data/packed.py``) and returns the loss, its terms and the predictions.
Inference is monocular: ``predict(image, K, root_cam_mm)`` per view.
"""
from __future__ import annotations

import torch
from torch import nn

from maskpose_core.config import ExperimentConfig
from maskpose_core.geometry import camera_to_world, normalized_to_pixels, triangulate_dlt, world_to_camera
from maskpose_core.loss import mask_loss, structure
from maskpose_core.model.detector import Detector
from maskpose_core.model.physique import PhysiqueUNet
from maskpose_core.render.skeleton_mask import SkeletonMaskRenderer
from maskpose_core.skeleton import EXTREMITY_JOINTS, NUM_JOINTS, ROOT
from maskpose_core.train.init_prior import TEMPLATE_MM

Tensor = torch.Tensor
SUPERVISED_SCALE_MM = 1000.0  # the supervised reference's L1 is in metres


class MaskPoseNet(nn.Module):
    def __init__(self, cfg: ExperimentConfig):
        super().__init__()
        self.cfg = cfg
        self.image_size = cfg.data.image_size
        self.detector = Detector(cfg.model, cfg.data.image_size)
        self.physique = PhysiqueUNet(cfg.model.physique_width) if cfg.model.physique else None
        lc = cfg.loss
        self.register_buffer("template_mm", torch.tensor(TEMPLATE_MM), persistent=False)
        self.renderer = SkeletonMaskRenderer(num_landmarks=cfg.model.num_landmarks, delta=lc.delta,
                                             size=lc.render_size, combine=lc.combine,
                                             arm_sigma_factor=lc.arm_sigma_factor, primitive=lc.primitive)

    # ------------------------------------------------------------------ inference
    def root_camera(self, batch: dict[str, Tensor], xy_norm: Tensor) -> Tensor:
        """Root in every camera (B, C, 3) mm: the data set's, or triangulated from the
        predicted 2D roots of the views (label-free; needs C >= 2)."""
        R, t = batch["R"], batch["t_mm"]
        c = R.shape[1]
        if self.cfg.model.root == "dataset":
            root_world = batch["root_world_mm"]
        elif c < 2:
            raise ValueError("model.root='triangulated' needs at least 2 views per moment")
        else:
            uv = normalized_to_pixels(xy_norm[:, :, ROOT].detach(), self.image_size)     # (B, C, 2)
            root_world = triangulate_dlt(uv.double(), batch["K"].double(), R.double(), t.double()).float()
        return world_to_camera(root_world[:, None, None, :].expand(-1, c, 1, 3), R, t).squeeze(-2)

    def predict(self, image: Tensor, K: Tensor, root_cam_mm: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        """Monocular: image (N, 3, S, S), K (N, 3, 3), root (N, 3) [, mask (N, S, S)]
        -> joints_cam_mm (N, L, 3), xy_norm (N, L, 2)."""
        out = self.detector(image, mask)
        out["joints_cam_mm"] = self.detector.lift(out["xy_norm"], out["z_norm"], K, root_cam_mm[:, 2],
                                                  self.image_size)
        return out

    # ------------------------------------------------------------------ training
    def forward(self, batch: dict[str, Tensor], *, sigma2: float, physique_on: bool,
                extra: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """The training loss of a multi-view batch, plus (``extra``) the mask-only loss of a
        batch of single views of a second data set, weighted by ``loss.extra_weight``. Both in
        one forward, so DDP sees one forward per backward."""
        joints_cam, xy = self._joints(batch)
        out = {"joints_cam_mm": joints_cam, "xy_norm": xy,
               "spread_mm": structure.spread_mm(joints_cam.detach())}
        if self.cfg.loss.mode == "supervised_reference":
            out.update(self._supervised_terms(batch, joints_cam))
        else:
            out.update(self._mask_terms(batch, joints_cam, xy, sigma2, physique_on))
        if extra is not None:   # fit refuses extra data with the supervised reference
            e_cam, e_xy = self._joints(extra)
            e = self._mask_terms(extra, e_cam, e_xy, sigma2, physique_on)
            out["loss_extra"] = e["loss"].detach()
            out["loss"] = out["loss"] + self.cfg.loss.extra_weight * e["loss"]
        return out

    def _joints(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Every view's prediction: joints_cam_mm (B, C, L, 3) and xy_norm (B, C, L, 2)."""
        img = batch["image"]
        if img.ndim != 5:
            raise ValueError(f"batch['image'] must be (B, C, 3, S, S), got {tuple(img.shape)}")
        b, c = img.shape[:2]
        det = self.detector(img.flatten(0, 1), batch["mask"].flatten(0, 1))
        xy = det["xy_norm"].view(b, c, -1, 2)
        root_cam = self.root_camera(batch, xy)                                    # (B, C, 3)
        joints_cam = self.detector.lift(det["xy_norm"], det["z_norm"], batch["K"].flatten(0, 1),
                                        root_cam.flatten(0, 1)[:, 2], self.image_size).view(b, c, -1, 3)
        return joints_cam, xy

    def _supervised_terms(self, batch, joints_cam):
        """REFERENCE ONLY (uses 3D labels): L1 on root-relative camera joints, in metres."""
        gt = batch["joints_cam_mm"]
        pred = joints_cam[:, :, :NUM_JOINTS]
        rel = lambda x: x - x[:, :, ROOT:ROOT + 1]                                  # noqa: E731
        loss = (rel(pred) - rel(gt)).abs().mean() / SUPERVISED_SCALE_MM
        terms = {"loss": loss, "loss_supervised": loss.detach()}
        if self.physique is not None:   # keep ψ in the graph so DDP sees every parameter
            terms["loss"] = loss + 0.0 * sum(p.sum() for p in self.physique.parameters())
        return terms

    def _mask_terms(self, batch, joints_cam, xy_norm, sigma2, physique_on):
        """The unsupervised loss of predictions joints_cam_mm (B, C, L, 3) whose own-view 2D is
        xy_norm (B, C, L, 2)."""
        lc = self.cfg.loss
        R, t, K = batch["R"], batch["t_mm"], batch["K"]
        joints_world = camera_to_world(joints_cam, R, t)                            # (B, C, L, 3)
        pts, target = mask_loss.cross_view_points(joints_world, K, R, t, self.image_size,
                                                  cross_view=lc.cross_view)        # (B, Cs, Ct, L, 2)
        b, cs, ct, l, _ = pts.shape
        m_skel = self.renderer(pts.reshape(-1, l, 2), sigma2).view(b, cs, ct, lc.render_size, lc.render_size)
        mask_views = mask_loss.downsample(batch["mask"], lc.render_size)            # (B, C, R, R)
        geo_views = mask_loss.downsample(batch["geodesic"] if lc.geodesic else torch.ones_like(batch["mask"]),
                                         lc.render_size)
        mask, geo = mask_views[:, target], geo_views[:, target]                     # (B, Cs, Ct, R, R)
        valid = (m_skel.detach() > lc.skeleton_clip).float() if lc.skeleton_clip > 0 else None
        l_skel = mask_loss.weighted_mse(mask, m_skel, geo, valid)
        terms = {"loss_skeleton": l_skel.detach(), "m_skel": m_skel.detach()}
        loss = lc.lambda_s * l_skel
        if lc.coverage_weight > 0:
            d2 = self.renderer.nearest_dist2(pts.reshape(-1, l, 2)).view_as(m_skel)
            l_cov = mask_loss.coverage(mask, d2, geo, lc.coverage_eps)
            terms["loss_coverage"] = l_cov.detach()
            loss = loss + lc.coverage_weight * l_cov
        if lc.extremity_weight > 0:
            tips = mask_loss.tip_weight(mask_views, geo_views, lc.extremity_threshold)[:, target]
            ends = pts[..., list(EXTREMITY_JOINTS), :]                                  # (B, Cs, Ct, E, 2)
            l_ext = mask_loss.extremity(ends.reshape(-1, len(EXTREMITY_JOINTS), 2),
                                        tips.reshape(-1, lc.render_size, lc.render_size), lc.coverage_eps)
            terms["loss_extremity"] = l_ext.detach()
            loss = loss + lc.extremity_weight * l_ext
        if self.physique is not None:
            # Warm-up: ψ learns the body around the (detached) skeleton; then its gradient
            # also flows into the joints (coarse-to-fine stage 2).
            src = m_skel if physique_on else m_skel.detach()
            m_phys = self.physique(src.flatten(0, 2)).view_as(m_skel)
            l_phys = mask_loss.weighted_mse(mask, m_phys, geo)
            terms.update(loss_physique=l_phys.detach(), m_phys=m_phys.detach())
            loss = loss + lc.lambda_p * l_phys
        joints = joints_cam[:, :, :NUM_JOINTS]
        if lc.symmetry_weight > 0:
            l_sym = structure.symmetry_loss(joints)
            terms["loss_symmetry"] = l_sym.detach()
            loss = loss + lc.symmetry_weight * l_sym
        if lc.limb_ratio_weight > 0:
            l_ratio = structure.limb_ratio_loss(joints)
            terms["loss_limb_ratio"] = l_ratio.detach()
            loss = loss + lc.limb_ratio_weight * l_ratio
        if lc.template_weight > 0:
            l_tpl = structure.template_loss(joints, self.template_mm)
            terms["loss_template"] = l_tpl.detach()
            loss = loss + lc.template_weight * l_tpl
        multi_view = joints.shape[1] > 1    # single views: no triangulation, no consistency
        if lc.triangulation_weight > 0 and multi_view:
            l_tri = structure.triangulation_loss(joints, xy_norm[:, :, :NUM_JOINTS], K, R, t, self.image_size,
                                                 cap_mm=lc.triangulation_cap_mm)
            terms["loss_triangulation"] = l_tri.detach()
            loss = loss + lc.triangulation_weight * l_tri
        if lc.consistency_weight > 0 and multi_view:
            l_cons = structure.consistency_loss(joints_world)
            terms["loss_consistency"] = l_cons.detach()
            loss = loss + lc.consistency_weight * l_cons
        terms["loss"] = loss
        return terms
