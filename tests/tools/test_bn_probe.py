"""tools/bn_probe.py at smoke: stage 1 is trained once into the cache and reused, and
each way evaluates with its own BatchNorm running statistics."""
from __future__ import annotations

import runpy
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "bn_probe.py"


def test_three_ways_from_one_stage1(smoke_data_root, tmp_path):
    lines = runpy.run_path(str(TOOL))["main"](["--profile", "smoke", "--batches", "3", "--store", str(tmp_path),
                                              "--data-root", str(smoke_data_root)])
    assert [d["way"] for d in lines] == ["stage 1", "target stats", "mixed stats"]
    assert len(list(tmp_path.glob("stage1-*.pt"))) == 1                      # trained once, then reused
    assert len({d["bn_mean_abs"] for d in lines}) == 3                       # each way has its own statistics
    for d in lines:
        assert set(d["val"]) == {"mpjpe_flip_mm", "p_mpjpe_mm", "err2d_flip_pct", "mask_iou"}
