"""Mixed precision: bf16 for the convolution trunks, fp32 for everything numerically delicate.

``train.precision = fp32 | bf16``. Under ``bf16`` exactly two places run in
``torch.autocast(dtype=torch.bfloat16)`` (CPU and CUDA alike):

* the detector's backbone and its integral head (the convolutions and deconvolutions that are
  ≈ 80 % of a step's FLOPs), whose logits are cast back to fp32 **before** the softmax over the
  (D, H, W) volume and the soft-argmax sums (a bf16 softmax over 8·32·32 bins would lose the
  low-probability tail that the expectation needs; bf16 keeps 8 bits of mantissa);
* the physique U-Net ψ's convolutions, whose output is cast to fp32 before the sigmoid.

Always fp32: the init prior, the softmax and soft-argmax, the lift to camera millimetres,
the skeleton-mask render, G and every loss term, BatchNorm's running statistics (autocast
keeps batch_norm in fp32), the optimiser's master weights, and the metrics. Gradients flow
back through the casts, so AdamW updates fp32 weights.

The config default stays fp32 (a config hash must mean the same numbers on every machine);
``train.precision`` is hash-neutral at that default. On a CPU without native bf16
(no ``avx512_bf16`` / ``amx_bf16`` flag) bf16 is emulated and slower: :func:`check_precision`
warns.
"""
from __future__ import annotations

import contextlib
import logging
import platform
from pathlib import Path

import torch

PRECISIONS = ("fp32", "bf16")
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")

log = logging.getLogger(__name__)


def autocast(device: torch.device | str, precision: str):
    """The context the conv trunks run in: bf16 autocast, or nothing for fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    kind = torch.device(device).type
    return torch.autocast(device_type=kind, dtype=torch.bfloat16)


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool | None:
    """Whether this CPU computes bf16 natively (Linux x86 flags); None when it cannot be told."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        if platform.system() != "Linux" or not path.is_file():
            return None
        cpuinfo = path.read_text(errors="replace")
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), None)
    if flags is None:
        return None
    return any(f in flags for f in CPU_BF16_FLAGS)


def check_precision(precision: str, device: str, *, cpuinfo: str | None = None) -> str | None:
    """The warning (also logged) when ``precision`` will be slow on ``device``, else None."""
    if precision != "bf16":
        return None
    if device == "cuda":
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        msg = None if ok else "train.precision=bf16: this GPU has no native bf16; it will be slow or fail"
    else:
        native = cpu_has_native_bf16(cpuinfo)
        msg = None if native else ("train.precision=bf16: this CPU has no native bf16 (no avx512_bf16 or "
                                   "amx_bf16 flag); bf16 is emulated and likely slower than fp32")
    if msg:
        log.warning(msg)
    return msg
