"""An optional pose discriminator for stage 2 of the two-stage recipe (``recipe.discriminator_weight``).

The authors' stage 2 (``config/HM36_Multi_SurS2.yaml``, ``modules/model.py``) adds a GCN pose
discriminator at weight 0.5 against the SMPL poses of their pseudo images. What their code
really does (docs/method.md §6):

* the generator term feeds the predictions **detached** (0.7 of it): no gradient reaches the
  detector from it; only a randomly rotated copy (0.3) passes gradient;
* the generator term sees world-space poses in metres, while the discriminator's own update
  sees crop-normalised poses: the two halves of the game look at different coordinates.

Decided here (and measured in docs/method-notes.md): one frame for both halves and a gradient
that reaches the detector. Every pose, real or predicted, is made **root-relative, in metres,
and turned by a random rotation** (uniform over SO(3)) before the discriminator, so it judges
articulation, not orientation or frame (camera-frame predictions and world-frame real poses
then look alike). The game is least-squares (LSGAN, as theirs):

* discriminator: 0.5·mean((D(real) − 1)²) + 0.5·mean(D(fake)²) with the fakes detached;
* generator: mean((D(fake) − 1)²), evaluated with the discriminator's parameters detached,
  so it moves the detector only.

Both are added to the one loss and take one backward and one optimiser step (simultaneous
gradient descent): each half's gradient reaches only its own parameters, DDP synchronises
both, and a resumed run restores both through the one optimiser state.

The real poses are the pseudo batch's 3D labels (other subjects' motion, never the target's):
an unpaired prior ("UP" in Table 1's sense); hence the discriminator needs stage 2's pseudo
stream. Shapes: N poses, J = 17 joints.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from maskpose_core.skeleton import NUM_JOINTS, ROOT

Tensor = torch.Tensor
WIDTH = 128


class PoseDiscriminator(nn.Module):
    """MLP: prepared poses (N, J, 3) -> logits (N,). Input from :func:`prepare`."""

    def __init__(self, joints: int = NUM_JOINTS, width: int = WIDTH):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(joints * 3, width), nn.LeakyReLU(0.2),
                                 nn.Linear(width, width), nn.LeakyReLU(0.2), nn.Linear(width, 1))

    def forward(self, poses: Tensor) -> Tensor:
        return self.net(poses.flatten(1)).squeeze(-1)


def random_rotations(n: int, *, device=None, dtype=torch.float32) -> Tensor:
    """(n, 3, 3) rotations drawn uniformly over SO(3) (QR of a Gaussian matrix, signs fixed)."""
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, device=device, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    sign = torch.sign(torch.linalg.det(q))                      # a reflection: flip the last column
    return torch.cat([q[..., :2], q[..., 2:] * sign[:, None, None]], dim=-1)


def prepare(joints_mm: Tensor) -> Tensor:
    """(N, ≥J, 3) mm in any frame -> (N, J, 3) root-relative metres, randomly rotated."""
    if joints_mm.ndim != 3 or joints_mm.shape[1] < NUM_JOINTS or joints_mm.shape[2] != 3:
        raise ValueError(f"poses must be (N, >= {NUM_JOINTS}, 3) mm, got {tuple(joints_mm.shape)}")
    rel = (joints_mm[:, :NUM_JOINTS] - joints_mm[:, ROOT:ROOT + 1]) / 1000.0
    rot = random_rotations(rel.shape[0], device=rel.device, dtype=rel.dtype)
    return rel @ rot.transpose(1, 2)


def adversarial_terms(disc: PoseDiscriminator, fake_mm: Tensor, real_mm: Tensor) -> tuple[Tensor, Tensor]:
    """(generator term, discriminator term): fake (N, ≥J, 3) predictions, real (M, ≥J, 3) poses,
    mm. The generator term's gradient reaches ``fake_mm`` only; the discriminator term's
    reaches ``disc`` only. Both () >= 0."""
    fake, real = prepare(fake_mm), prepare(real_mm)
    frozen = {k: v.detach() for k, v in disc.named_parameters()}
    generator = ((functional_call(disc, frozen, (fake,)) - 1.0) ** 2).mean()
    discriminator = 0.5 * ((disc(real) - 1.0) ** 2).mean() + 0.5 * (disc(fake.detach()) ** 2).mean()
    return generator, discriminator
