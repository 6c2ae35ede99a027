"""The README's results block is written from the reports, between its markers only."""
from __future__ import annotations

import pandas as pd
import pytest

from studies.runner.readme_results import END, START, write_readme_results


def _report(folder, name="table3_shape"):
    summary = pd.DataFrame([
        {"row": "Full", "kind": "ours", "n": 3, "N": 3, "MPJPE † (mm) mean": 224.66, "MPJPE † (mm) std": 2.71},
        {"row": "mean-pose baseline", "kind": "BASELINE (mean training pose)", "n": 1, "N": 1,
         "MPJPE † (mm) mean": 250.3, "MPJPE † (mm) std": float("nan")},
        {"row": "supervised reference", "kind": "REFERENCE (supervised)", "n": 0, "N": 1,
         "MPJPE † (mm) mean": float("nan"), "MPJPE † (mm) std": float("nan")}])
    summary.to_csv(folder / f"{name}.csv", index=False)
    (folder / f"{name}.md").write_text("# Table 3 — shape\n\n- profile: quick; study overrides: none\n"
                                       "- split the numbers are on: test (choices were made on val)\n"
                                       "- date: 2026-12-03 10:00 UTC\n")


def test_the_block_is_generated_from_the_reports_and_nothing_else_changes(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    _report(reports)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{START}\nold typed table\n{END}\nafter\n")
    assert write_readme_results(readme, reports)
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert "old typed table" not in text
    line = next(line for line in text.splitlines() if line.startswith("| [Table 3]"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1:6] == ["test", "quick", "2026-12-03", "—", "MPJPE † (mm)"]       # no runs csv: "—"
    assert cells[6:] == ["250.3 (1/1)", "— (0/1)", "Full 224.7 ± 2.7 (3/3)"]
    assert not write_readme_results(readme, reports)                               # idempotent


def test_a_readme_without_markers_is_refused(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n")
    with pytest.raises(ValueError, match="no '<!-- results:start -->'"):
        write_readme_results(readme, tmp_path)
