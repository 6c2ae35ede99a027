"""``studies.SCRIPTS`` is the explicit list of study scripts: it names every script in ``studies/``
that runs through the study runner, and only those (the package's modules and the benchmarks
script are not studies), so a new study cannot be left out of the reports index by mistake."""
from __future__ import annotations

import ast
from pathlib import Path

import studies
from studies import SCRIPTS

STUDIES = Path(studies.__file__).resolve().parent
NOT_STUDIES = {"__init__", "definitions", "benchmarks"}      # the package itself, shared rows, performance


def _runs_the_study_cli(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    imports = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    main_guard = any(isinstance(n, ast.If) and "__main__" in ast.unparse(n.test) for n in tree.body)
    return "studies.runner.cli" in imports and main_guard


def test_the_list_names_every_study_script_and_only_those():
    scripts = {p.stem for p in STUDIES.glob("*.py")} - NOT_STUDIES
    assert set(SCRIPTS) == scripts
    assert len(SCRIPTS) == len(set(SCRIPTS))
    assert all(_runs_the_study_cli(STUDIES / f"{name}.py") for name in SCRIPTS)
    assert not any(_runs_the_study_cli(STUDIES / f"{name}.py") for name in NOT_STUDIES)
