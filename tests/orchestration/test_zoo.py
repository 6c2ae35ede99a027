"""The model zoo: a smoke build of one entry reproduces its manifest's stage key (and, on one
machine, its bytes); a stage that the zoo holds is loaded from it (log line), never trained; a
changed, truncated or stale entry is refused by name; bad input leaves nothing half-written."""
from __future__ import annotations

import json
import logging
import os
import stat

import pytest

from maskpose_core.train.recipe import CheckpointStore, stage_key, stages
from maskpose_core.train.zoo import Zoo
from maskpose_core.train.zoo_catalog import entry_plan
from orchestration import cli
from orchestration.zoo import build

STEPS = {"stage1": 80, "reference": 80}      # smoke: 1 epoch of its 4 steps


@pytest.fixture(scope="module")
def built(tmp_path_factory, smoke_data_root):
    folder = tmp_path_factory.mktemp("zoo")
    entries = build(["stage1-seed0"], steps=STEPS, folder=folder, profile="smoke", data_root=str(smoke_data_root))
    return folder, entries[0]


def test_a_built_entry_carries_its_stage_key_and_verifies(built):
    folder, entry = built
    plan = entry_plan("stage1", 0, steps=80, profile="smoke")
    assert entry.stage_key == stage_key(plan.train) and entry.kind == "stage1" and entry.seed == 0
    assert entry.command == "maskpose zoo build --entries stage1-seed0 --steps stage1=80"
    assert {"val/mpjpe_flip_mm", "test/mpjpe_flip_mm", "test/p_mpjpe_mm"} <= set(entry.metrics)
    assert Zoo(folder).verify() == {"stage1-seed0": []}
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "stage1-seed0.pt"]   # nothing left over


def test_a_rebuild_reproduces_the_manifest_and_keeps_the_old_entry_until_done(built, smoke_data_root, tmp_path):
    folder, entry = built
    again = build(["stage1-seed0"], steps=STEPS, folder=tmp_path, profile="smoke", data_root=str(smoke_data_root))[0]
    assert again.stage_key == entry.stage_key
    assert again.sha256 == entry.sha256          # CPU training is deterministic: the same bytes


def test_stage2_of_a_seed_starts_from_the_zoo_entry_of_that_seed(built, caplog, tmp_path):
    folder, entry = built
    row = entry_plan("stage1", 0, steps=80, profile="smoke").target
    store = CheckpointStore(tmp_path / "store", zoo=Zoo(folder))
    with caplog.at_level(logging.INFO, logger="maskpose_core.train.recipe"):
        path = store.ensure(stages(row)[0], make=lambda: pytest.fail("a zoo stage must not be trained"))
    assert path == folder / "stage1-seed0.pt"
    assert f"stage1: from the zoo, entry stage1-seed0 ({path}, stage key {entry.stage_key})" in caplog.text
    other_seed = entry_plan("stage1", 1, steps=80, profile="smoke").target
    assert Zoo(folder).find(stages(other_seed)[0]) is None


def test_a_stopped_build_resumes_from_its_last_epoch(smoke_data_root, tmp_path, monkeypatch, caplog):
    # a 2-epoch smoke entry stopped before its second epoch, built again: it continues from the
    # saved first epoch and gives the bytes of a build that never stopped
    from maskpose_core.train import hooks as hooks_module
    steps, root = {"reference": 160}, str(smoke_data_root)
    whole = build(["reference-seed0"], steps=steps, folder=tmp_path / "whole", profile="smoke", data_root=root)[0]

    def stop_at_epoch_1(epoch):
        if epoch == 1:
            raise KeyboardInterrupt("the session ended")

    real = hooks_module.TrainHooks
    monkeypatch.setattr(hooks_module, "TrainHooks", lambda **kw: real(on_epoch_start=stop_at_epoch_1, **kw))
    resume_dir = tmp_path / "partial"
    with pytest.raises(KeyboardInterrupt):
        build(["reference-seed0"], steps=steps, folder=tmp_path / "z", profile="smoke", data_root=root,
              resume_dir=str(resume_dir))
    assert not (tmp_path / "z" / "manifest.json").exists()                     # no entry from a stopped build
    assert [p.name for p in resume_dir.iterdir()] == [f"reference-seed0-{whole.stage_key}.pt"]
    from maskpose_core.train.checkpoint import load_checkpoint
    first_try_s = load_checkpoint(next(resume_dir.iterdir()))["build_seconds"]       # the stopped try's time
    assert first_try_s > 0
    monkeypatch.setattr(hooks_module, "TrainHooks", real)
    with caplog.at_level(logging.INFO, logger="orchestration.zoo"):
        again = build(["reference-seed0"], steps=steps, folder=tmp_path / "z", profile="smoke", data_root=root,
                      resume_dir=str(resume_dir))[0]
    assert "zoo build reference-seed0: resuming from" in caplog.text and "after epoch 1 of 2" in caplog.text
    # its progress lines: only the second epoch ran again
    assert "zoo entry reference-seed0: epoch 2/2 " in caplog.text and "epoch 1/2 " not in caplog.text
    assert again.sha256 == whole.sha256 and not list(resume_dir.iterdir())      # the partial state is gone
    assert again.minutes > first_try_s / 60                                      # both tries' time counted


def _copy_zoo(folder, tmp_path):
    import shutil
    dst = tmp_path / "zoo"
    shutil.copytree(folder, dst)
    return dst


def test_a_changed_truncated_or_stale_entry_is_refused_by_name(built, tmp_path):
    folder, _ = built
    zoo = _copy_zoo(folder, tmp_path)
    data = (zoo / "stage1-seed0.pt").read_bytes()
    (zoo / "stage1-seed0.pt").write_bytes(data[: len(data) // 2])                       # truncated
    with pytest.raises(ValueError, match=r"zoo entry stage1-seed0: .* has sha256 .*, the manifest says"):
        Zoo(zoo).path("stage1-seed0")
    (zoo / "stage1-seed0.pt").write_bytes(data)
    manifest = json.loads((zoo / "manifest.json").read_text())
    manifest["entries"]["stage1-seed0"]["stage_key"] = "0123456789ab"                   # stale
    (zoo / "manifest.json").write_text(json.dumps(manifest))
    assert Zoo(zoo).verify()["stage1-seed0"][0].startswith("zoo entry stage1-seed0: stage key 0123456789ab in the "
                                                           "manifest")
    (zoo / "stage1-seed0.pt").unlink()                                                  # missing
    with pytest.raises(FileNotFoundError, match=r"zoo entry stage1-seed0: its file .* is missing"):
        Zoo(zoo).path("stage1-seed0")
    with pytest.raises(ValueError, match=r"no entry 'stage1-seed9'; entries are \['stage1-seed0'\]"):
        Zoo(zoo).path("stage1-seed9")


def test_cli_verify_list_and_bad_input(built, tmp_path, capsys):
    folder, entry = built
    assert cli.main(["zoo", "verify", "--folder", str(folder)]) == 0
    assert "every entry current" in capsys.readouterr().out
    assert cli.main(["zoo", "list", "--json", "--folder", str(folder)]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert listed[0]["name"] == "stage1-seed0" and listed[0]["sha256"] == entry.sha256
    # an entry that is not in the catalog at these budgets, a read-only folder: rc 2, nothing written
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, stat.S_IRUSR | stat.S_IXUSR)
    try:
        code = cli.main(["zoo", "build", "--profile", "smoke", "--steps", "stage1=80", "--folder", str(locked / "z")])
        err = capsys.readouterr().err
        if os.geteuid() != 0:                       # root writes anywhere: the check cannot refuse it
            assert code == 2 and f"zoo folder {locked / 'z'} is not writable" in err and not list(locked.iterdir())
    finally:
        os.chmod(locked, stat.S_IRWXU)
    code = cli.main(["zoo", "build", "--profile", "smoke", "--steps", "stage1=80", "--entries", "stage1-seed9",
                     "--folder", str(tmp_path / "z2")])
    assert code == 2 and "zoo build: no entry ['stage1-seed9']" in capsys.readouterr().err
    assert not (tmp_path / "z2").exists()


def test_the_staleness_check_covers_the_zoo(built, tmp_path, monkeypatch):
    from maskpose_core.train import zoo as zoo_module
    from studies.runner.staleness import zoo_verdict

    folder, _ = built
    monkeypatch.setattr(zoo_module, "ZOO_DIR", folder)
    monkeypatch.setattr(zoo_module.Zoo.__init__, "__defaults__", (folder,))
    assert zoo_verdict().text == "current"
    copy = _copy_zoo(folder, tmp_path)
    (copy / "stage1-seed0.pt").write_bytes(b"PK\x03\x04 not the entry")
    monkeypatch.setattr(zoo_module.Zoo.__init__, "__defaults__", (copy,))
    verdict = zoo_verdict()
    assert verdict.stale and verdict.reasons[0].startswith("zoo entry stage1-seed0: ")


def test_adopt_takes_a_finished_run_of_the_entrys_config_and_refuses_any_other(built, tmp_path, capsys):
    import torch

    folder, entry = built
    run = folder / "stage1-seed0.pt"             # a finished run of stage1-seed0's own config (weights only)
    code = cli.main(["zoo", "adopt", "stage1-seed0", str(run), "--profile", "smoke", "--steps", "stage1=80",
                     "--folder", str(tmp_path / "z")])
    assert code == 0
    adopted = Zoo(tmp_path / "z").entry("stage1-seed0")
    assert adopted.sha256 == entry.sha256 and adopted.stage_key == entry.stage_key     # the same bytes
    assert adopted.metrics == entry.metrics and adopted.source.startswith(f"adopted from {run}")
    assert adopted.command == entry.command and entry.source == "maskpose zoo build" and entry.minutes > 0
    capsys.readouterr()
    # another seed's entry: refused naming the key that differs; nothing written
    code = cli.main(["zoo", "adopt", "stage1-seed1", str(run), "--profile", "smoke", "--steps", "stage1=80",
                     "--folder", str(tmp_path / "z1")])
    err = capsys.readouterr().err
    assert code == 2 and "zoo adopt stage1-seed1: " in err and "seed: 0 (entry: 1)" in err
    assert not (tmp_path / "z1").exists()
    # an unfinished run (its last epoch not reached)
    state = torch.load(run, weights_only=True)
    torch.save({**state, "epoch": -1}, tmp_path / "early.pt")
    code = cli.main(["zoo", "adopt", "stage1-seed0", str(tmp_path / "early.pt"), "--profile", "smoke", "--steps",
                     "stage1=80", "--folder", str(tmp_path / "z2")])
    assert code == 2 and "stopped after epoch 0 of the entry's 1 (an unfinished run)" in capsys.readouterr().err
    assert not (tmp_path / "z2").exists()


def test_a_reference_the_zoo_holds_is_evaluated_from_it_never_trained(smoke_data_root, tmp_path, caplog):
    # the final stage itself is an entry (a REFERENCE at its plateau): the run evaluates the entry's
    # weights on the target and gives the manifest's own metrics, with no training step
    from maskpose_core.train.recipe import fit_stage, run_stages
    folder = tmp_path / "zoo"
    entry = build(["reference-seed0"], steps={"reference": 80}, folder=folder, profile="smoke",
                  data_root=str(smoke_data_root))[0]
    row = entry_plan("reference", 0, steps=80, profile="smoke").target
    seen = []

    def run_one(stage, init):
        seen.append((stage.name, stage.trains, stage.zoo_entry, init))
        assert not stage.trains, "a stage the zoo holds must not be trained"
        return fit_stage(stage, init, root=smoke_data_root)
    with caplog.at_level(logging.INFO, logger="maskpose_core.train.recipe"):
        out = run_stages(row, run_one, CheckpointStore(tmp_path / "store", zoo=Zoo(folder)))
    assert seen == [("train", False, "reference-seed0", folder / "reference-seed0.pt")]
    assert "train: from the zoo, entry reference-seed0" in caplog.text
    for key in ("val/mpjpe_flip_mm", "test/mpjpe_flip_mm", "test/p_mpjpe_mm"):
        assert out.metrics[key] == pytest.approx(entry.metrics[key], abs=1e-3)
    assert not any(k.startswith("pseudo_val/") for k in out.metrics)   # trained on the target: no pseudo split
    # another seed has no entry: it trains as before
    other = entry_plan("reference", 1, steps=80, profile="smoke").target
    assert Zoo(folder).find(stages(other)[-1]) is None
