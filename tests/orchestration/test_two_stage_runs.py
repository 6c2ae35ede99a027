"""The two-stage recipe through the tracked runs: stage 1 trained once as its own run and
stored, reused by the next row (log line), a pseudo-only row evaluated on target test."""
import logging

from orchestration import tracking
from orchestration.train import STAGE1_EXPERIMENT, LaunchOptions, run_training, stage_store

from maskpose_core.train.recipe import CheckpointStore, stages

from maskpose_core.config import apply_overrides, profile_config

RECIPE = {"model.init_prior": "none", "loss.template_weight": 0.0, "train.val_samples": 8,
          "train.steps_per_epoch": 2, "recipe.stage1_steps_per_epoch": 2}


def test_stage1_is_one_cached_run_shared_by_the_recipe_rows(smoke_data_root, tmp_path, tracking_uri, caplog):
    base = apply_overrides(profile_config("smoke"), RECIPE)
    opts = LaunchOptions(study="recipe", storage_path=str(tmp_path / "store"), tracking_uri=tracking_uri,
                         data_root=str(smoke_data_root), system_metrics=False)
    full = run_training(apply_overrides(base, {"recipe.stages": "two_stage"}), opts)
    full_cfg = apply_overrides(base, {"recipe.stages": "two_stage"})
    cached = CheckpointStore(stage_store(tmp_path / "store")).path(stages(full_cfg)[0])
    assert cached.is_file()
    with caplog.at_level(logging.INFO, logger="maskpose_core.train.recipe"):
        only = run_training(apply_overrides(base, {"recipe.stages": "pseudo_only"}), opts)
        off = run_training(apply_overrides(full_cfg, {"loss.lambda_s": 0.0, "loss.lambda_p": 0.0}), opts)
    assert caplog.text.count(f"stage1: reusing {cached}") == 2
    client = tracking.client(tracking_uri)
    stage1_runs = client.search_runs([client.get_experiment_by_name(STAGE1_EXPERIMENT).experiment_id])
    assert len(stage1_runs) == 1 and stage1_runs[0].info.status == "FINISHED"
    for outcome in (full, only, off):
        run = client.get_run(outcome.run_id)
        assert run.info.status == "FINISHED" and run.data.tags["stage1_checkpoint"] == str(cached)
        assert "test/mpjpe_flip_mm" in run.data.metrics
        # the stage-1 (pseudo-image) data set under a prefix of its own, the same in every row
        assert run.data.params["stage1.data.dataset"] == "pseudo"
        assert run.data.params["stage1.data.pseudo_rig"] == run.data.params["data.pseudo_rig"] == "overhead"
    inputs = {d.dataset.name for d in client.get_run(full.run_id).inputs.dataset_inputs}
    assert {"cmu-mv4/train", "cmu-mv4/val", "cmu-mv4/test", "pseudo/train"} <= inputs
    assert "train/loss_pseudo" in full.metrics and "train/loss" not in only.metrics
    # pseudo only also reports its stage 1 on the pseudo set's own val split, as trained
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.checkpoint import load_checkpoint
    from maskpose_core.train.checkpoint_eval import evaluate_checkpoint
    s1 = stages(full_cfg)[0]
    direct = evaluate_checkpoint(load_checkpoint(cached), load_data(s1.cfg.data, root=smoke_data_root).val,
                                 cfg=s1.cfg, name="pseudo_val")
    logged = client.get_run(only.run_id).data.metrics
    assert logged["pseudo_val/mpjpe_flip_mm"] == direct["pseudo_val/mpjpe_flip_mm"]
    assert "pseudo_val/mpjpe_flip_mm" not in client.get_run(full.run_id).data.metrics
