"""A study's runs in MLflow: which exist, which one stands for a hash, which are finished, and
how long a training of a given size took here.

A run's identity is its ``config_hash`` tag (:mod:`studies.runner.plan`). ``runs_frame`` reads
every run that carries one in a single query; ``pick_runs`` keeps one per hash (the newest
FINISHED, else the newest of any status); ``finished_ids`` is what the runner skips. A run is
*finished* when MLflow says FINISHED — a FAILED, KILLED or RUNNING one is re-run (a training
resumes from its checkpoint in the same MLflow run, :func:`orchestration.train.run_training`).
"""
from __future__ import annotations

import statistics

import pandas as pd

from maskpose_core.config import ExperimentConfig

RESULT_KINDS = ("eval", "baseline")      # runs without training that hold a table's numbers


def runs_frame(uri: str) -> pd.DataFrame:
    """Every run with a ``config_hash`` tag, in every experiment (one query)."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    df = mlflow.search_runs(search_all_experiments=True, filter_string="tags.config_hash != ''")
    if df.empty:
        return pd.DataFrame(columns=["run_id", "status", "start_time", "end_time", "tags.config_hash"])
    # a training carries its flattened config as params; evals/baselines say their kind. Others
    # tagged with a config hash (a sweep's parent run) hold no result of that config.
    kind = df["tags.kind"] if "tags.kind" in df else pd.Series("", index=df.index)
    trained = df["params.profile"].notna() if "params.profile" in df else False
    return df[kind.isin(RESULT_KINDS) | trained].reset_index(drop=True)


def pick_runs(df: pd.DataFrame) -> pd.DataFrame:
    """One run per hash: the newest FINISHED one, else the newest of any status; indexed by hash."""
    if df.empty:
        return df.set_index("tags.config_hash")
    ranked = df.assign(_done=df["status"].eq("FINISHED")).sort_values(["_done", "start_time"],
                                                                      ascending=[False, False])
    return ranked.drop_duplicates("tags.config_hash").set_index("tags.config_hash")


def finished_ids(picked: pd.DataFrame) -> dict[str, str]:
    """{hash: run id} of the hashes that have a FINISHED run."""
    done = picked[picked["status"] == "FINISHED"] if not picked.empty else picked
    return {h: str(r["run_id"]) for h, r in done.iterrows()}

def finished_runs(uri: str) -> dict[str, str]:
    """{hash: run id} of every hash with a FINISHED run in the store at ``uri``."""
    return finished_ids(pick_runs(runs_frame(uri)))


# ---------------------------------------------------------------- how long a training takes here

# Fallback estimate when MLflow has no finished run of the same size: seconds per training
# step and fixed seconds per run (start-up, the compile's warm-up, final evaluation on val and
# test, figure, checkpoint), measured on this project's 2-core CPU machine with the compiled
# backbone (`python studies/ablation.py` from nothing, 2026-12-04: Full's 80-step runs took
# 83–96 s, ≈ 0.88 s per step + ≈ 20 s; the rows without ψ 60–66 s).
STEP_S = {"smoke": 0.5, "quick": 0.88}
FIXED_S = {"smoke": 4.0, "quick": 20.0}
# An evaluation of a zoo entry (full val and test splits, no step): 16-20 s each on 2 cores
# (studies/recipe.py's pseudo-only and REFERENCE rows, 2026-12-08).
ZOO_EVAL_S = {"smoke": 4.0, "quick": 18.0}
# Stage 2 of the two-stage recipe also runs the pseudo-image batch through φ each step: its
# 240-step runs took 324 s (masks off) and 356 s (Full) in the same run, ≤ 1.6× the mask-only
# step. Stage 1 (supervised on the pseudo set, ψ supervised beside φ, no evaluation of its own)
# took ≈ 115 s for 240 steps, ≈ 0.4 s per step; the supervised REFERENCE 144 s for 240 steps with
# its evaluations, ≈ 0.52 s per step. A pseudo-only row only evaluates stage 1 (≈ 20 s).
STAGE2_STEP_FACTOR = 1.6
SUPERVISED_STEP_FACTOR = {True: 0.40 / 0.88, False: 0.52 / 0.88}    # keyed by loss.physique_supervised
# train.precision=bf16: the quick step took 0.714 s against 1.268 s in fp32 (reports/benchmarks.md, 2026-12-03)
BF16_STEP_FACTOR = 0.714 / 1.268
SIZE_PARAMS = ("train.epochs", "train.steps_per_epoch", "data.train_frames", "optim.batch_size",
               "model.backbone", "data.image_size", "train.device", "recipe.stages")


def _steps(cfg: ExperimentConfig) -> int:
    per_epoch = cfg.train.steps_per_epoch or max(cfg.data.train_frames // cfg.optim.batch_size, 1)
    return cfg.train.epochs * per_epoch


def estimate_run_s(frame, cfg: ExperimentConfig) -> tuple[float | None, str]:
    """Seconds one training of ``cfg``'s size takes here: the median of finished runs of the same
    profile and size in ``frame`` (:func:`runs_frame`), else the measured per-step fallback (None for unknown)."""
    if not frame.empty and "tags.profile" in frame:
        kind = frame["tags.kind"].fillna("train") if "tags.kind" in frame else "train"
        same = frame[(frame["status"] == "FINISHED") & (frame["tags.profile"] == cfg.profile) & (kind == "train")]
        flat = {"train.epochs": cfg.train.epochs, "train.steps_per_epoch": cfg.train.steps_per_epoch,
                "data.train_frames": cfg.data.train_frames, "optim.batch_size": cfg.optim.batch_size,
                "model.backbone": cfg.model.backbone, "data.image_size": cfg.data.image_size,
                "train.device": cfg.train.device, "recipe.stages": cfg.recipe.stages}
        for key in SIZE_PARAMS:
            col = f"params.{key}"
            same = same[same[col] == str(flat[key])] if col in same else same.iloc[0:0]
        if len(same):
            secs = [(e - s).total_seconds() for s, e in zip(same["start_time"], same["end_time"])]
            return statistics.median(secs), f"median of {len(secs)} finished {cfg.profile} runs of this size here"
    if cfg.profile in STEP_S:
        if cfg.recipe.evaluates_only:
            return FIXED_S[cfg.profile], f"evaluation only, {FIXED_S[cfg.profile]:.0f} s (2-core fallback)"
        kind = STAGE2_STEP_FACTOR if cfg.recipe.trains_beside_pseudo else \
            SUPERVISED_STEP_FACTOR[cfg.loss.physique_supervised] if cfg.loss.mode == "supervised_reference" else 1.0
        step = STEP_S[cfg.profile] * kind * (BF16_STEP_FACTOR if cfg.train.precision == "bf16" else 1.0)
        return FIXED_S[cfg.profile] + step * _steps(cfg), \
            f"{_steps(cfg)} steps × {step:.2g} s + {FIXED_S[cfg.profile]:.0f} s (2-core fallback)"
    return None, f"no estimate for profile {cfg.profile!r} (no finished run of this size yet)"


def estimate_plan_s(frame, cfgs: list[ExperimentConfig], *, stage1_done=lambda cfg: False,
                    final_in_zoo=lambda cfg: False) -> tuple[float | None, str]:
    """Seconds to train every config of ``cfgs`` here: each run's own estimate
    (:func:`estimate_run_s`; an evaluation when ``final_in_zoo(cfg)``: the zoo holds the run's
    final stage, a REFERENCE at its plateau), plus each distinct stage 1 of the recipe rows once
    unless ``stage1_done(cfg)`` (its checkpoint is cached). None when one of them has no estimate."""
    from maskpose_core.train.recipe import stages
    total, sources, stage1 = 0.0, {}, {}
    for cfg in cfgs:
        if cfg.recipe.has_stage1 and not stage1_done(cfg):
            s1 = stages(cfg)[0]
            stage1.setdefault(s1.key, s1.cfg)
    for cfg in [*cfgs, *stage1.values()]:
        if final_in_zoo(cfg) and cfg.profile in ZOO_EVAL_S:
            secs, source = ZOO_EVAL_S[cfg.profile], f"evaluation of a zoo entry, {ZOO_EVAL_S[cfg.profile]:.0f} s"
        else:
            secs, source = estimate_run_s(frame, cfg)
        if secs is None:
            return None, source
        total += secs
        sources[source] = sources.get(source, 0) + 1
    detail = "; ".join(f"{n} × {src}" for src, n in sources.items())
    return total, (f"{len(cfgs)} runs + {len(stage1)} stage-1 runs: " if stage1 else f"{len(cfgs)} runs: ") + detail
