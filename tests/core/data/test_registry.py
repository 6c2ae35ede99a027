"""load_data: DataConfig -> DataBundle for every data set, default roots, refused fields."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from fixtures import toy_split, write_3dhp, write_h36m, write_wild
from maskpose_core.data.configs import DataConfig
from maskpose_core.data.packed import DataBundle, write_packed
from maskpose_core.data.registry import default_data_root, load_data

S = 32


def test_default_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("MASKPOSE_DATA", str(tmp_path / "elsewhere"))
    assert default_data_root() == tmp_path / "elsewhere"
    monkeypatch.delenv("MASKPOSE_DATA")
    project = Path(__file__).resolve().parents[3]
    assert (project / "pyproject.toml").is_file() and default_data_root() == project / "data"


def test_h36m_val_is_the_test_subjects(tmp_path):
    raw = write_h36m(tmp_path)
    cfg = DataConfig(dataset="h36m", root=str(raw), image_size=S, train_frames=0, val_frames=0)
    bundle = load_data(cfg, root=tmp_path / "prepared", workers=1, progress=False)
    assert isinstance(bundle, DataBundle) and bundle.name == "h36m" and bundle.num_views == 4
    assert bundle.folder.parent == tmp_path / "prepared" and bundle.val.split == "test"
    assert set(bundle.train.subject) == {"S1"} and set(bundle.val.subject) == {"S9"}
    assert len(bundle.train) == 3 and bundle.train[0]["mask"].shape == (4, S, S)


def test_3dhp_and_frame_caps(tmp_path):
    raw = write_3dhp(tmp_path / "raw")
    cfg = DataConfig(dataset="3dhp", root=str(raw), image_size=S, train_frames=2, val_frames=1)
    bundle = load_data(cfg, root=tmp_path / "prepared", workers=1, progress=False)
    assert (len(bundle.train), len(bundle.val), bundle.num_views) == (2, 1, 5)
    assert set(bundle.val.subject) == {"S7"}


def test_wild_train_is_val(tmp_path):
    raw = write_wild(tmp_path / "wild")
    bundle = load_data(DataConfig(dataset="wild", root=str(raw), image_size=S), root=tmp_path / "prepared",
                       workers=1, progress=False)
    assert bundle.train.split == bundle.val.split == "train" and len(bundle.val) == 3
    assert not bundle.train.has_labels


def test_prepared_cache_goes_to_default_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKPOSE_DATA", str(tmp_path / "env_root"))
    raw = write_wild(tmp_path / "wild")
    bundle = load_data(DataConfig(dataset="wild", root=str(raw), image_size=S), workers=1, progress=False)
    assert bundle.folder.parent == tmp_path / "env_root"


@pytest.mark.parametrize("dataset", ["h36m", "3dhp", "wild"])
def test_missing_raw_root_is_named(tmp_path, dataset):
    cfg = DataConfig(dataset=dataset, root=str(tmp_path / "not_there"), image_size=S)
    with pytest.raises(FileNotFoundError, match="not_there"):
        load_data(cfg, root=tmp_path, workers=1, progress=False)


def test_refused_fields(tmp_path):
    with pytest.raises(ValueError, match="DataConfig.root"):
        load_data(DataConfig(dataset="h36m", image_size=S), root=tmp_path)
    with pytest.raises(ValueError, match="mask_noise"):
        load_data(DataConfig(dataset="wild", root=str(tmp_path), mask_noise=0.3, image_size=S), root=tmp_path)


@pytest.mark.parametrize("dataset", ["cmu-mv4", "cmu-3dhp-rig"])
def test_synthetic_sets_go_to_cmu_builder(tmp_path, monkeypatch, dataset):
    calls = []

    def fake_build(cfg, *, root, workers, progress):      # the contract of cmu_mv4.build_cmu_mv4
        calls.append((cfg, root, workers, progress))
        splits = {"all": toy_split()} if cfg.split_all else {"train": toy_split(2), "val": toy_split(1, subject="v")}
        return write_packed(Path(root) / f"{cfg.dataset}-toy", {"num_views": 1}, splits)

    fake = types.ModuleType("maskpose_core.data.cmu_mv4")
    fake.build_cmu_mv4 = fake_build
    monkeypatch.setitem(sys.modules, "maskpose_core.data.cmu_mv4", fake)
    cfg = DataConfig(dataset=dataset)
    bundle = load_data(cfg, root=tmp_path, workers=2, progress=False)
    assert calls == [(cfg, tmp_path, 2, False)]
    assert (bundle.name, len(bundle.train), len(bundle.val), bundle.val.split) == (dataset, 2, 1, "val")
    cfg = DataConfig(dataset=dataset, root=str(tmp_path / "built"), poses="x.npz", split_all=True)
    bundle = load_data(cfg, root=tmp_path, workers=None)
    assert calls[-1][1] == tmp_path / "built" and bundle.train.split == bundle.val.split == "all"
