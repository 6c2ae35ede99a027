"""studies/benchmarks.py at the smoke profile without Ray: the report is written whole, with the
header fields the reports index reads, and its measured ratios are positive numbers."""
from __future__ import annotations

import re
import runpy
from pathlib import Path

from studies.runner.index import HEADER_FIELDS

STUDIES = Path(__file__).resolve().parents[2] / "studies"


def test_benchmarks_smoke_report(tmp_path, smoke_data_root, monkeypatch):
    monkeypatch.setenv("MASKPOSE_DATA", str(smoke_data_root))
    out = tmp_path / "benchmarks.md"
    main = runpy.run_path(str(STUDIES / "benchmarks.py"))["main"]
    main(["--profile", "smoke", "--skip-ray", "--skip-compile", "--out", str(out)])
    text = out.read_text()
    for field in HEADER_FIELDS:
        assert f"- {field}: " in text, field
    assert "- command: `python studies/benchmarks.py --profile smoke --skip-ray --skip-compile`" in text
    share = float(re.search(r"/ training step \| ([0-9.]+) %", text).group(1))
    assert share > 0
    speedups = [float(v) for v in re.findall(r"speed-up fast / loop \(target ≥ 20×\) \| ([0-9.]+)×", text)]
    assert len(speedups) == 2 and all(v > 0 for v in speedups)
    err = float(re.search(r"max \|fast − loop\| \| ([0-9.e+-]+)", text).group(1))
    assert err < 1e-5                      # the fast render draws the loop's masks
    speed = float(re.search(r"training speed-up bf16 / fp32 \(target ≥ 1.5×\) \| ([0-9.]+)×", text).group(1))
    assert speed > 0                       # fp32 and bf16 measured side by side
    for row in ("large-conv peak fp32 / bf16", "evaluation images/s fp32 / bf16",
                "top 8 ops by self CPU time, fp32", "top 8 ops by self CPU time, bf16"):
        assert row in text, row
    assert "Orchestration" not in text     # --skip-ray leaves the Ray section out
    assert "compiled" not in text          # --skip-compile leaves the torch.compile rows out
    assert not list(tmp_path.glob("*.tmp"))
