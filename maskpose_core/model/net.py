"""MaskPoseNet: φ + ψ + the objective in one module, so DDP sees one forward.

``MaskPoseNet(model_cfg, loss_cfg, image_size=S)`` knows its own configs only (the model's
and the loss's), not the experiment's. ``forward(batch, sigma2=..., physique_on=..., aux=...)``
takes a multi-view batch (B moments × C views, see ``data/packed.py``), predicts every view and
hands the predictions to :class:`~maskpose_core.loss.objective.MaskObjective`, which returns
the loss and its terms; ``aux`` adds the batches of the auxiliary data streams
(``train/streams.py``), each by its kind and weight. Inference is monocular:
``predict(image, K, root_cam_mm)`` per view.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

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
AUX_KINDS = ("mask", "supervised")


class AuxBatch(NamedTuple):
    """One auxiliary data stream's batch in a training step (``train/streams.py``).

    name    its loss is reported as ``loss_<name>``
    kind    "mask": the label-free mask terms (a batch of single views, C = 1);
            "supervised": the 3D-label loss (the two-stage recipe's labelled pseudo images;
            also the pose discriminator's real poses when the network has one)
    weight  the stream's weight in the loss
    batch   the batch itself, on the network's device
    """
    name: str
    kind: str
    weight: float
    batch: dict[str, Tensor]


class MaskPoseNet(nn.Module):
    def __init__(self, model_cfg: ModelConfig, loss_cfg: LossConfig, *, image_size: int,
                 discriminator_weight: float = 0.0):
        super().__init__()
        self.model_cfg, self.loss_cfg = model_cfg, loss_cfg
        self.image_size = image_size
        self.detector = Detector(model_cfg, image_size)
        self.physique = PhysiqueUNet(model_cfg.physique_width) if model_cfg.physique else None
        self.objective = MaskObjective(loss_cfg, image_size=image_size, num_landmarks=model_cfg.num_landmarks)
        # stage 2's optional pose discriminator (recipe.discriminator_weight, loss/discriminator.py);
        # absent at weight 0
        self.discriminator_weight = discriminator_weight
        self.discriminator = PoseDiscriminator() if discriminator_weight > 0 else None

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
                aux: Sequence[AuxBatch] = ()) -> dict[str, Tensor]:
        """The training loss of a multi-view batch, plus each auxiliary stream's loss (``aux``, in
        order) times its weight: a "mask" stream's label-free terms, a "supervised" stream's
        3D-label loss (and, with a pose discriminator, its generator term against that stream's
        real poses). All in one forward, so DDP sees one forward per backward. Each stream goes
        through φ in its own forward after the target batch: BatchNorm normalises each with its
        own batch statistics, and its running statistics (used at evaluation) follow every stream."""
        hyps, xy = self.predict_views(batch)
        joints_cam = hyps[0]
        out = {"joints_cam_mm": joints_cam, "xy_norm": xy,
               "spread_mm": structure.spread_mm(joints_cam.detach())}
        if self.loss_cfg.mode == "supervised_reference":
            out.update(self._min_over(hyps, lambda j: self._supervised_terms(batch, j, sigma2)))
        else:
            out.update(self._min_over(hyps, lambda j: self._mask_terms(batch, j, xy, sigma2, physique_on)))
        for stream in aux:
            a_hyps, a_xy = self.predict_views(stream.batch)
            if stream.kind == "mask":          # fit refuses a mask stream beside the supervised reference
                a = self._min_over(a_hyps, lambda j: self._mask_terms(stream.batch, j, a_xy, sigma2, physique_on))
                loss = a["loss"]
            elif stream.kind == "supervised":
                loss, _ = min_over_hypotheses([self.objective.supervised_terms(stream.batch, j) for j in a_hyps])
            else:
                raise ValueError(f"aux stream {stream.name!r}: kind must be one of {AUX_KINDS}, got {stream.kind!r}")
            out[f"loss_{stream.name}"] = loss.detach()
            out["loss"] = out["loss"] + stream.weight * loss
            if stream.kind == "supervised" and self.discriminator is not None:   # real poses: other subjects
                gen, disc = adversarial_terms(self.discriminator, joints_cam.flatten(0, 1),
                                              stream.batch["joints_world_mm"])
                out.update(loss_gen=gen.detach(), loss_disc=disc.detach())
                out["loss"] = out["loss"] + self.discriminator_weight * gen + disc
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
