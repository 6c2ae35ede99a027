"""``reports/README.md``: every report in the folder with its header fields, every study script of
the explicit list (``studies.SCRIPTS``) with its docstring's first line and its cluster commands,
nothing else from ``studies/``; a listed script that is missing is named."""
from __future__ import annotations

import pytest

from studies import SCRIPTS
from studies.runner.index import HEADER_FIELDS, render_index, write_index


def _report(path, title: str, **fields: str) -> None:
    path.write_text("\n".join([f"# {title}", ""] + [f"- {k.replace('_', ' ')}: {v}" for k, v in fields.items()]))


def test_the_index_lists_each_report_and_each_listed_script(tmp_path):
    studies, reports = tmp_path / "studies", tmp_path / "reports"
    studies.mkdir(), reports.mkdir()
    (studies / "alpha.py").write_text('"""Alpha — the first table.\n\nMore text."""\n')
    (studies / "beta.py").write_text('"""Beta."""\n')
    (studies / "helper.py").write_text('"""Not a study: not listed."""\n')
    _report(reports / "alpha.md", "Alpha table", command="`python studies/alpha.py`", data_set="cmu-mv4 (x); y",
            profile="smoke; study overrides: none", date="2026-01-01", wall_time_of_the_command="1.0 min")
    assert {"command", "data set", "profile", "date", "wall time of the command"} == set(HEADER_FIELDS)
    text = render_index(reports, studies, scripts=("alpha", "beta"))
    assert ("| [alpha.md](alpha.md) | Alpha table | cmu-mv4 (x) | smoke | 2026-01-01 | 1.0 min | "
            "`python studies/alpha.py` |") in text
    assert "| alpha | Alpha — the first table. | `python studies/alpha.py` |" in text
    assert "| beta | Beta. | `python studies/beta.py` |" in text
    assert "helper" not in text
    assert text.count("ray submit orchestration/cluster/aws-gpu.yaml studies/") == 2


def test_a_listed_script_that_is_missing_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="gamma.py"):
        render_index(tmp_path, tmp_path, scripts=("gamma",))


def test_the_project_index_lists_every_study(tmp_path):
    path = write_index(tmp_path / "reports")
    text = path.read_text()
    assert all(f"`python studies/{name}.py`" in text for name in SCRIPTS)
    assert "studies/benchmarks.py" not in text                    # a benchmark, not a study of runs
