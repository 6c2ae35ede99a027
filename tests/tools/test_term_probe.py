"""tools/term_probe.py at smoke on a small built set: every symmetric, label-consistent term is 0
at the truth (symmetry, triangulation and multi-view consistency of the exact skeleton:
hand-derived: the renderer keeps bones symmetric), each mask term is reported at both, and the tables are printed."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from maskpose_core.config import profile_config, to_dict
from maskpose_core.data.registry import load_data
from maskpose_core.train.checkpoint import save_checkpoint
from maskpose_core.train.fit import build_model

TOOL = Path(__file__).resolve().parents[2] / "tools" / "term_probe.py"


def test_terms_at_the_truth_and_at_an_untrained_prediction(smoke_data_root, tmp_path, capsys):
    cfg = profile_config("smoke")
    net = build_model(cfg, load_data(cfg.data, root=smoke_data_root, progress=False))
    ckpt = save_checkpoint(tmp_path / "net.pt", {"config": to_dict(cfg), "model": net.state_dict()})
    out = runpy.run_path(str(TOOL))["main"](["--checkpoint", str(ckpt), "--profile", "smoke", "--samples", "4",
                                            "--data-root", str(smoke_data_root)])
    truth, pred = out["at_truth"], out["at_prediction"]
    assert {"skeleton", "coverage", "extremity", "physique", "symmetry", "triangulation"} <= set(truth)
    for name in ("symmetry", "triangulation", "consistency"):
        assert truth[name] == pytest.approx(0.0, abs=1e-6), name   # the exact skeleton agrees with itself
    assert truth["coverage"] < pred["coverage"] and truth["extremity"] < pred["extremity"]
    text = capsys.readouterr().out
    assert "samples preferring the truth" in text and "| head_top |" in text
