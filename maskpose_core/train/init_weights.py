"""Starting a run from trained weights: ``model.init=<maskpose checkpoint file>``.

``model.init`` names a checkpoint that ``fit`` wrote (a stage 1, a REFERENCE, any run's
``state.pt``): the whole detector (and ψ where both have it) is loaded from it, with
``weights_only`` (plain tensors, no pickled code), before the first step; the init prior is not
applied over it (its buffers come with the weights) and the optimiser starts fresh. The config
hash holds the file's sha256, not its path (``config.hashed_fields``), so a moved file keeps the
run's identity and a changed file does not.

``model.weights`` is another thing: a *backbone* file in torchvision's layout (e.g. ImageNet
ResNet-50), loaded by ``backbones.load_backbone_weights``; a maskpose checkpoint given there is
refused, naming ``model.init``.

Shapes: a state dict {name: tensor}; :func:`check_fits` compares names and shapes only, so it
works on a network built on the meta device (the preflight's, before any run exists).
"""
from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)
OPTIONAL_PREFIXES = ("discriminator.",)      # a stage-2 discriminator starts fresh beside loaded weights
SHOWN = 5


def init_state(path: str) -> dict:
    """The checkpoint state ``model.init`` names (``train/checkpoint.load_checkpoint``'s errors:
    missing, a folder, not PyTorch, truncated, not maskpose's)."""
    from maskpose_core.train.checkpoint import load_checkpoint
    try:
        return load_checkpoint(path)
    except (ValueError, FileNotFoundError) as err:
        raise type(err)(f"model.init: {err}") from None


def fitting_weights(net: nn.Module, weights: dict[str, torch.Tensor], *, where: str,
                    fresh: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """``weights`` as ``net`` takes them (ψ's dropped for a network without ψ; the ``fresh``
    prefixes dropped and left at ``net``'s own seeded values), or ``ValueError`` naming ``where``
    and the first keys that are missing, unexpected or of another shape."""
    if getattr(net, "physique", None) is None:
        weights = {k: v for k, v in weights.items() if not k.startswith("physique.")}
    if fresh:
        weights = {k: v for k, v in weights.items() if not k.startswith(fresh)}
    own = net.state_dict()
    missing = [k for k in own if k not in weights and not k.startswith(OPTIONAL_PREFIXES + fresh)]
    unexpected = [k for k in weights if k not in own]
    shapes = [f"{k} {tuple(weights[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in weights and tuple(weights[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{name} {items[:SHOWN]}{' …' if len(items) > SHOWN else ''}"
                 for name, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)) if items]
        raise ValueError(f"{where} does not fit this network (another architecture?): {'; '.join(parts)}")
    return weights


def load_init(net: nn.Module, state: dict, *, where: str, fresh: tuple[str, ...] = ()) -> int:
    """Load a checkpoint state's weights into ``net`` (see :func:`fitting_weights`); the number of
    tensors loaded."""
    weights = fitting_weights(net, state["model"], where=where, fresh=fresh)
    net.load_state_dict(weights, strict=False)
    return len(weights)


def check_fits(net: nn.Module, path: str) -> None:
    """Preflight: ``model.init``'s file exists, is a maskpose checkpoint and fits ``net``
    (names and shapes; ``net`` may live on the meta device)."""
    fitting_weights(net, init_state(path)["model"], where=f"model.init {path}")
