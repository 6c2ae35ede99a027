"""Checkpoint format: ``torch.save`` of plain state dicts + the config dict.

Loaded with ``weights_only=True`` (no pickled code). Keys:
format, config (nested dict), model, optimizer, step, epoch, rng_torch, spp (or None),
plus whatever an orchestrator adds (e.g. ``mlflow_run_id``).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from maskpose_core.config import ExperimentConfig, config_hash, from_dict

FORMAT = "maskpose-checkpoint-v1"


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves a torn checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save({**state, "format": FORMAT}, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt or foreign file
        raise ValueError(f"checkpoint {path} cannot be read: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} is not a maskpose checkpoint (format {FORMAT})")
    return state


def config_of(state: dict) -> ExperimentConfig:
    return from_dict(state["config"])


def model_from_checkpoint(state: dict, *, expect: ExperimentConfig | None = None):
    """Rebuild the network (eval mode) and its config from a checkpoint state.

    With ``expect``, the checkpoint must come from the same model/loss config
    (its hash over those groups), else ``ValueError`` naming both hashes.
    """
    from maskpose_core.model.net import MaskPoseNet
    cfg = config_of(state)
    if expect is not None:
        mine, theirs = config_hash(expect.model), config_hash(cfg.model)
        if mine != theirs:
            raise ValueError(f"checkpoint was trained with model config {theirs}, expected {mine}")
    net = MaskPoseNet(cfg.model, cfg.loss, image_size=cfg.data.image_size)
    net.load_state_dict(state["model"])
    net.eval()
    return net, cfg
