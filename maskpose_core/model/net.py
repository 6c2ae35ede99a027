"""MaskPoseNet: φ + ψ + the objective in one module, so DDP sees one forward.

``MaskPoseNet(model_cfg, loss_cfg, image_size=S)`` knows its own configs only (the model's
and the loss's), not the experiment's. ``forward(batch, sigma2=..., physique_on=...)`` takes
a multi-view batch (B moments × C views, see ``data/packed.py``), predicts every view and
hands the predictions to :class:`~maskpose_core.loss.objective.MaskObjective`, which returns
the loss and its terms. Inference is monocular: ``predict(image, K, root_cam_mm)`` per view.
"""
from __future__ import annotations

import torch
from torch import nn

from maskpose_core.geometry import normalized_to_pixels, triangulate_dlt, world_to_camera
from maskpose_core.loss import structure
from maskpose_core.loss.config import LossConfig
from maskpose_core.loss.discriminator import PoseDiscriminator, adversarial_terms
from maskpose_core.loss.objective import MaskObjective
from maskpose_core.model.config import ModelConfig
from maskpose_core.model.detector import Detector
from maskpose_core.model.hypotheses import min_over_hypotheses
from maskpose_core.model.physique import PhysiqueUNet
from maskpose_core.model.precision import PRECISIONS
from maskpose_core.skeleton import ROOT

Tensor = torch.Tensor


class MaskPoseNet(nn.Module):
    def __init__(self, model_cfg: ModelConfig, loss_cfg: LossConfig, *, image_size: int):
        super().__init__()
        self.model_cfg, self.loss_cfg = model_cfg, loss_cfg
        self.image_size = image_size
        self.detector = Detector(model_cfg, image_size)
        self.physique = PhysiqueUNet(model_cfg.physique_width) if model_cfg.physique else None
        self.objective = MaskObjective(loss_cfg, image_size=image_size, num_landmarks=model_cfg.num_landmarks)
        # stage 2's optional pose discriminator (loss/discriminator.py); absent at weight 0
        self.discriminator = PoseDiscriminator() if loss_cfg.discriminator_weight > 0 else None

    def set_precision(self, precision: str) -> "MaskPoseNet":
        """Run the detector's and ψ's convolutions in ``fp32`` or ``bf16`` (model/precision.py)."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.detector.precision = precision
        if self.physique is not None:
            self.physique.precision = precision
        return self

    def compile_backbone(self) -> "MaskPoseNet":
        """``torch.compile`` the detector's backbone in place (``nn.Module.compile``: the
        parameter names, hence checkpoints, stay those of the eager module). Shapes are static
        (``dynamic=False``); train and eval mode are two graphs, each compiled on first use.
        Only the backbone: it is most of a step's FLOPs, and the head's softmax, the lift and
        the losses keep their eager fp32 code. Measured in ``reports/benchmarks.md``."""
        self.detector.backbone.compile(dynamic=False)
        return self

    @property
    def renderer(self):
        """The skeleton-mask renderer of the objective (figures and probes draw with it)."""
        return self.objective.renderer

    # ------------------------------------------------------------------ inference
    def root_camera(self, batch: dict[str, Tensor], xy_norm: Tensor) -> Tensor:
        """Root in every camera (B, C, 3) mm: the data set's, or triangulated from the
        predicted 2D roots of the views (label-free; needs C >= 2)."""
        R, t = batch["R"], batch["t_mm"]
        c = R.shape[1]
        if self.model_cfg.root == "dataset":
            root_world = batch["root_world_mm"]
        elif c < 2:
            raise ValueError("model.root='triangulated' needs at least 2 views per moment")
        else:
            uv = normalized_to_pixels(xy_norm[:, :, ROOT].detach(), self.image_size)     # (B, C, 2)
            root_world = triangulate_dlt(uv.double(), batch["K"].double(), R.double(), t.double()).float()
        return world_to_camera(root_world[:, None, None, :].expand(-1, c, 1, 3), R, t).squeeze(-2)

    def predict(self, image: Tensor, K: Tensor, root_cam_mm: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        """Monocular: image (N, 3, S, S), K (N, 3, 3), root (N, 3) [, mask (N, S, S)]
        -> joints_cam_mm (N, L, 3), xy_norm (N, L, 2); with K > 1 depth hypotheses also
        hypotheses_cam_mm (N, K, L, 3), whose hypothesis 0 is joints_cam_mm."""
        out = self.detector(image, mask)
        out["joints_cam_mm"] = self.detector.lift(out["xy_norm"], out["z_norm"], K, root_cam_mm[:, 2],
                                                  self.image_size)
        if "z_hyp_norm" in out:
            out["hypotheses_cam_mm"] = torch.stack(
                [self.detector.lift(out["xy_norm"], z, K, root_cam_mm[:, 2], self.image_size)
                 for z in out["z_hyp_norm"].unbind(-1)], dim=1)
        return out

    # ------------------------------------------------------------------ training
    def forward(self, batch: dict[str, Tensor], *, sigma2: float, physique_on: bool,
                extra: dict[str, Tensor] | None = None,
                pseudo: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """The training loss of a multi-view batch, plus (``extra``) the mask-only loss of a
        batch of single views of a second data set, weighted by ``loss.extra_weight``, plus
        (``pseudo``, the two-stage recipe's stage 2) the supervised loss of a labelled
        pseudo-image batch, weighted by ``loss.pseudo_weight``. All in one forward, so DDP sees
        one forward per backward. The pseudo batch goes through φ after the target batch, in
        its own forward: BatchNorm normalises each with its own batch statistics, and its
        running statistics (used at evaluation) follow both streams."""
        hyps, xy = self.predict_views(batch)
        joints_cam = hyps[0]
        out = {"joints_cam_mm": joints_cam, "xy_norm": xy,
               "spread_mm": structure.spread_mm(joints_cam.detach())}
        if self.loss_cfg.mode == "supervised_reference":
            out.update(self._min_over(hyps, lambda j: self._supervised_terms(batch, j, sigma2)))
        else:
            out.update(self._min_over(hyps, lambda j: self._mask_terms(batch, j, xy, sigma2, physique_on)))
        if extra is not None:   # fit refuses extra data with the supervised reference
            e_hyps, e_xy = self.predict_views(extra)
            e = self._min_over(e_hyps, lambda j: self._mask_terms(extra, j, e_xy, sigma2, physique_on))
            out["loss_extra"] = e["loss"].detach()
            out["loss"] = out["loss"] + self.loss_cfg.extra_weight * e["loss"]
        if pseudo is not None:
            p_hyps, _ = self.predict_views(pseudo)
            l_pseudo, _ = min_over_hypotheses([self.objective.supervised_terms(pseudo, j) for j in p_hyps])
            out["loss_pseudo"] = l_pseudo.detach()
            out["loss"] = out["loss"] + self.loss_cfg.pseudo_weight * l_pseudo
            if self.discriminator is not None:   # real poses: the pseudo batch's (other subjects)
                gen, disc = adversarial_terms(self.discriminator, joints_cam.flatten(0, 1), pseudo["joints_world_mm"])
                out.update(loss_gen=gen.detach(), loss_disc=disc.detach())
                out["loss"] = out["loss"] + self.loss_cfg.discriminator_weight * gen + disc
        return out

    @staticmethod
    def _min_over(hyps: list[Tensor], terms) -> dict[str, Tensor]:
        """``terms(joints)`` of the hypothesis pose with the smallest loss (per batch,
        model/hypotheses.py); the one pose itself when K = 1."""
        if len(hyps) == 1:
            return terms(hyps[0])
        every = [terms(j) for j in hyps]
        _, best = min_over_hypotheses([t["loss"] for t in every])
        return every[best]

    def predict_views(self, batch: dict[str, Tensor]) -> tuple[list[Tensor], Tensor]:
        """Every view's prediction: the K hypothesis poses, each joints_cam_mm (B, C, L, 3)
        (one pose when K = 1; pose 0 is the prediction), and xy_norm (B, C, L, 2)."""
        img = batch["image"]
        if img.ndim != 5:
            raise ValueError(f"batch['image'] must be (B, C, 3, S, S), got {tuple(img.shape)}")
        b, c = img.shape[:2]
        det = self.detector(img.flatten(0, 1), batch["mask"].flatten(0, 1))
        xy = det["xy_norm"].view(b, c, -1, 2)
        root_cam = self.root_camera(batch, xy)                                    # (B, C, 3)
        depths = det["z_hyp_norm"].unbind(-1) if "z_hyp_norm" in det else (det["z_norm"],)
        hyps = [self.detector.lift(det["xy_norm"], z, batch["K"].flatten(0, 1), root_cam.flatten(0, 1)[:, 2],
                                   self.image_size).view(b, c, -1, 3) for z in depths]
        return hyps, xy

    def _supervised_terms(self, batch, joints_cam, sigma2):
        """USES LABELS (the REFERENCE, or stage 1 on pseudo images): L1 on root-relative camera
        joints, in metres; with ``loss.physique_supervised`` also ψ on the exact skeletons."""
        loss = self.objective.supervised_terms(batch, joints_cam)
        terms = {"loss": loss, "loss_supervised": loss.detach()}
        if self.physique is not None and self.loss_cfg.physique_supervised:
            l_phys = self.objective.supervised_physique(batch, self.physique, sigma2=sigma2)
            terms.update(loss=loss + self.loss_cfg.lambda_p * l_phys, loss_physique=l_phys.detach())
        elif self.physique is not None:   # keep ψ in the graph so DDP sees every parameter
            terms["loss"] = loss + 0.0 * sum(p.sum() for p in self.physique.parameters())
        return terms

    def _mask_terms(self, batch, joints_cam, xy_norm, sigma2, physique_on):
        return self.objective.mask_terms(batch, joints_cam, xy_norm, sigma2=sigma2, physique=self.physique,
                                         physique_on=physique_on)
