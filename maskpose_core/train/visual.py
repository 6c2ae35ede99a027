"""The per-run figure: a few val samples as image | GT mask | M_skel | M_phys | joints."""
from __future__ import annotations

import numpy as np
import torch

from maskpose_core.config import ExperimentConfig
from maskpose_core.figures import draw_samples
from maskpose_core.skeleton import NUM_JOINTS
from maskpose_core.train.evaluate import predict_split

VIEW = 0  # the figure shows every sample from its first camera


@torch.no_grad()
def val_figure(net, split, cfg: ExperimentConfig) -> np.ndarray | None:
    n = min(cfg.train.figure_samples, len(split))
    if n == 0:
        return None
    pred = predict_split(net, split, max_samples=n)
    idx = np.unique(np.linspace(0, len(split) - 1, n).round().astype(int))
    images = torch.stack([split[int(i)]["image"][VIEW] for i in idx])
    masks = torch.stack([split[int(i)]["mask"][VIEW] for i in idx])
    xy = pred["xy_norm"][:, VIEW]
    was = net.training
    net.eval()
    m_skel = net.renderer(xy, cfg.loss.sigma2)
    m_phys = net.physique(m_skel) if net.physique is not None else None
    net.train(was)
    gt_2d = pred["gt_2d_norm"][:, VIEW]
    if not torch.isfinite(gt_2d).all():       # unlabelled data: draw the prediction only
        gt_2d = xy[:, :NUM_JOINTS]
    return draw_samples(images.numpy(), masks.numpy(), m_skel.numpy(),
                        None if m_phys is None else m_phys.numpy(), xy[:, :NUM_JOINTS].numpy(), gt_2d.numpy())
