"""Checkpoint format: ``torch.save`` of plain state dicts + the config dict.

Loaded with ``weights_only=True`` (no pickled code). Keys:
format, config (nested dict), model, optimizer, step, epoch, rng_torch, spp (or None),
plus whatever an orchestrator adds (e.g. ``mlflow_run_id``).
"""
from __future__ import annotations

import itertools
import os
import zipfile
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


ZIP_MAGIC = b"PK\x03\x04"        # torch.save's archive format (PyTorch >= 1.6)
PICKLE_MAGIC = b"\x80"           # torch.save's legacy format starts with a pickle protocol byte


def load_checkpoint(path: str | Path) -> dict:
    """The state of a maskpose checkpoint file. Each way a path can be wrong is its own
    one-line error: missing (``FileNotFoundError``), a folder (its ``*.pt`` files listed), not a
    PyTorch file at all, a PyTorch file that is corrupt or truncated, or one that is not
    maskpose's (``ValueError``)."""
    path = Path(path)
    if path.is_dir():
        found = sorted(str(p.relative_to(path)) for p in itertools.islice(path.rglob("*.pt"), 9))
        listing = (f"; *.pt files in it: {', '.join(found[:8])}{', ...' if len(found) > 8 else ''}"
                   if found else "; it holds no *.pt file")
        raise ValueError(f"checkpoint {path} is a folder, not a checkpoint file{listing}")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(len(ZIP_MAGIC))
    if size == 0:
        raise ValueError(f"checkpoint {path} is empty (0 bytes)")
    if not (head.startswith(ZIP_MAGIC) or head.startswith(PICKLE_MAGIC)):
        raise ValueError(f"checkpoint {path} is not a PyTorch checkpoint (it starts with {head!r}, "
                         f"not a torch.save archive)")
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            raise ValueError(f"checkpoint {path} is a corrupt or truncated PyTorch checkpoint "
                             f"({size} bytes; its zip archive has no readable index)") from None
        if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            raise ValueError(f"checkpoint {path} is a zip file but not a PyTorch checkpoint (no data.pkl)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt or foreign file
        text = str(exc).strip()
        reason = text.split(". ")[0].splitlines()[0][:200] if text else type(exc).__name__
        raise ValueError(f"checkpoint {path} is a PyTorch file that cannot be read as a checkpoint "
                         f"(corrupt, truncated or holding code, not plain tensors): {reason}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} is a PyTorch file but not a maskpose checkpoint (format {FORMAT})")
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
    net = MaskPoseNet(cfg.model, cfg.loss, image_size=cfg.data.image_size,
                      discriminator_weight=cfg.recipe.discriminator_weight)
    net.load_state_dict(state["model"])
    net.set_precision(cfg.train.precision)       # evaluated as it was trained
    net.eval()
    return net, cfg
