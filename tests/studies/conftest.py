"""Study test set-up: the smoke data sets built once per session, one MLflow store shared by the
smoke-study tests of a module (identical rows of different studies share runs, as in real use),
and ``run_study``: a study script's real ``__main__`` run in this process (``runpy``)."""
from __future__ import annotations

import runpy
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

STUDIES = Path(__file__).resolve().parents[2] / "studies"


@dataclass
class Store:
    """Where a study run writes: tracking URI, checkpoints, built data, reports."""
    uri: str
    storage: Path
    data_root: Path
    reports: Path

    def args(self, *extra: str, profile: str = "smoke", seeds: int | None = 1) -> list[str]:
        out = ["--profile", profile, "--tracking-uri", self.uri, "--storage", str(self.storage),
               "--data-root", str(self.data_root), "--reports-dir", str(self.reports)]
        return out + (["--seeds", str(seeds)] if seeds else []) + list(extra)

    def runs(self):
        from studies.runner.runs import runs_frame
        return runs_frame(self.uri)


def make_store(root: Path, data_root: Path) -> Store:
    return Store(f"sqlite:///{root / 'mlflow.db'}", root / "ck", data_root, root / "reports")


@pytest.fixture
def store(tmp_path, smoke_data_root) -> Store:
    return make_store(tmp_path, smoke_data_root)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory, smoke_data_root) -> Store:
    return make_store(tmp_path_factory.mktemp("store"), smoke_data_root)


@pytest.fixture
def run_study(monkeypatch):
    """``run_study(name, argv)``: ``python studies/<name>.py <argv>`` in this process → exit status."""
    def run(name: str, argv: list[str]) -> int:
        script = STUDIES / f"{name}.py"
        monkeypatch.setattr(sys, "argv", [str(script), *argv])
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as done:
            return int(done.code or 0)
        raise AssertionError(f"{script} did not exit")
    return run


@pytest.fixture(scope="session")
def load_study():
    """``load_study(name)``: the globals of a study script (``STUDY`` / ``build``), not run."""
    return lambda name: runpy.run_path(str(STUDIES / f"{name}.py"), run_name=f"study_{name}")
