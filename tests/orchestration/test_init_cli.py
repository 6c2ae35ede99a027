"""`maskpose train` with model.init / model.weights files that cannot start the run: one line
naming the file (and the first keys), status 2, no storage folder and no tracking store."""
from __future__ import annotations

from maskpose_core.config import apply_overrides, profile_config, to_dict
from maskpose_core.model.net import MaskPoseNet
from maskpose_core.train.checkpoint import save_checkpoint
from orchestration import cli


def _checkpoint(path, **over):
    cfg = apply_overrides(profile_config("smoke"), over)
    net = MaskPoseNet(cfg.model, cfg.loss, image_size=cfg.data.image_size)
    return save_checkpoint(path, {"config": to_dict(cfg), "model": net.state_dict()})


def _train(capsys, tmp_path, tracking_uri, *overrides):
    store = tmp_path / "store"
    code = cli.main(["train", "--profile", "smoke", "--workers", "0", "--storage", str(store),
                     "--tracking-uri", tracking_uri, *overrides])
    err = capsys.readouterr().err
    created = store.exists() or (tmp_path / "mlflow.db").exists()
    return code, err, created


def test_model_init_of_another_architecture_is_refused_before_anything_is_created(capsys, tmp_path, tracking_uri):
    wide = _checkpoint(tmp_path / "wide.pt", **{"model.width": 16})
    code, err, created = _train(capsys, tmp_path, tracking_uri, f"model.init={wide}")
    assert code == 2 and not created and "Traceback" not in err
    assert f"maskpose train: error: model.init {wide} does not fit this network (another architecture?): shape " \
           "['detector.backbone.body.0.0.weight (16, 6, 3, 3) vs (8, 6, 3, 3)'" in err
    code, err, created = _train(capsys, tmp_path, tracking_uri, f"model.init={tmp_path / 'none.pt'}")
    assert code == 2 and not created and f"model.init: checkpoint {tmp_path / 'none.pt'} does not exist" in err


def test_a_maskpose_checkpoint_as_model_weights_is_refused_naming_model_init(capsys, tmp_path, tracking_uri):
    ckpt = _checkpoint(tmp_path / "state.pt")
    code, err, created = _train(capsys, tmp_path, tracking_uri, f"model.weights={ckpt}")
    assert code == 2 and not created and "Traceback" not in err
    assert f"model.weights {ckpt} is a maskpose checkpoint, not a backbone weight file; to start a run from its " \
           f"detector (and ψ), use model.init={ckpt}" in err
