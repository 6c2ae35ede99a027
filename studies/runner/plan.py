"""Studies as data: rows × seeds → config hashes, checked before any work.

A ``Study`` is a name, rows (``Row``: dotted overrides of one base config, with flags for the
mean-pose baseline, the supervised reference, evaluation on another data set and which metrics
the row reads), seeds, a data set, a profile and the split its table reads (``val``). ``plan_study``
turns it into ``Planned`` runs, each with the hash that is its identity in MLflow (tag
``config_hash``); unknown override keys, rows or data sets fail there, before any work.
:mod:`studies.runner.runs` finds the finished ones in MLflow, :mod:`studies.runner.execute`
runs the rest, :mod:`studies.runner.report` writes the tables and :mod:`studies.runner.cli` is
the command line every ``studies/*.py`` script shares.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from maskpose_core.config import ExperimentConfig, apply_overrides, flatten, hashed_fields, profile_config
from maskpose_core.data.configs import DATASETS, DataConfig
from maskpose_core.data.registry import SYNTHETIC
from maskpose_core.metrics import METRIC_KEYS
from maskpose_core.metrics_oracle import ORACLE_KEYS

KINDS = ("train", "baseline", "reference", "unavailable")
VIEWS = ("plain", "flip", "spp")      # <split>/<key>, <split>/<key † version> (SF), <split>_spp/<key>
SPLITS = ("val", "test", "pseudo_val")   # the metric prefixes a run logs at its end (pseudo_val: pseudo only's
                                         # stage 1 on the pseudo set's own val split)
# raw data sets whose loader has no test split: their evaluation split is ``val`` (3dhp: the
# held-out subjects; wild: the images themselves), so a study that reports on test reads val there
NO_TEST_SPLIT = ("3dhp", "wild")
LABEL_FREE_KEYS = ("mask_iou", "loss_skeleton")
# The registry's SYNTHETIC are built in (no raw folder; data.root is not hashed). Of them,
# "pseudo" is the two-stage recipe's labelled render source, which the core loads beside a
# target (recipe.stages): it is no study's data set. SYNTHETIC_RIGS are the synthetic
# benchmarks a study trains on or evaluates on.
PSEUDO = "pseudo"
SYNTHETIC_RIGS = tuple(d for d in SYNTHETIC if d != PSEUDO)
STUDY_DATASETS = tuple(d for d in DATASETS if d != PSEUDO)
UNLABELLED = ("wild",)                # data sets without 3D labels (no mean-pose baseline)
REF = "@"                             # override value "@loss.sigma2": copy that key's value
_SLUG = {"ψ": "psi", "Δ": "Delta", "σ": "sigma", "²": "2", "†": "flip", "λ": "lambda", "+": "plus"}


def digest(payload: Any) -> str:
    """12 hex digits of the SHA-256 of ``payload`` as sorted JSON (eval and baseline run identities)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def hashed_config(cfg: ExperimentConfig, eval_data: DataConfig | None) -> dict[str, Any]:
    """What a run's identity is computed from, by key: the training config's hashed fields and
    the evaluation data's under ``eval.data.*`` (the staleness check names changed keys from it)."""
    return {**hashed_fields(cfg), **({f"eval.data.{k}": v for k, v in hashed_fields(eval_data).items()}
                                     if eval_data is not None else {})}


def run_identity(cfg: ExperimentConfig, eval_data: DataConfig | None, *, baseline: bool = False) -> str:
    """The hash that identifies a planned run: the training config's own hash; for an evaluation
    of it on ``eval_data``, or the mean-pose baseline, a digest of what they are computed from."""
    if baseline:
        return digest({"kind": "mean_pose", "train_data": hashed_fields(cfg.data),
                       "eval_data": hashed_fields(eval_data or cfg.data)})
    if eval_data is not None:
        return digest({"kind": "eval", "train": cfg.hash, "eval_data": hashed_fields(eval_data)})
    return cfg.hash


@dataclass(frozen=True)
class Metric:
    """A table column: our metric ``key`` (metrics.py) × ``scale``, beside paper column ``paper``."""
    key: str
    label: str
    paper: str = ""        # column of paper_tables.csv ("" = the paper has none)
    scale: float = 1.0     # ours × scale (mm → cm: 0.1)
    digits: int = 1
    split: str = ""        # "" = the study's split; "test" / "val": this column reads that split

    def __post_init__(self):
        if self.key not in METRIC_KEYS + LABEL_FREE_KEYS + ORACLE_KEYS:
            raise ValueError(f"Metric.key {self.key!r} is not a logged metric; choose one of "
                             f"{METRIC_KEYS + LABEL_FREE_KEYS + ORACLE_KEYS}")
        if self.split and self.split not in SPLITS:
            raise ValueError(f"Metric.split must be '' or one of {SPLITS}, got {self.split!r}")

    def logged_key(self, view: str, split: str = "val") -> str:
        """The MLflow key a row with ``view`` reads on ``split``: ``<split>/…``, its † version,
        or ``<split>_spp/…`` (``val``: ``val/mpjpe_mm``, ``val/mpjpe_flip_mm``, ``val_spp/mpjpe_mm``);
        a metric with its own ``split`` reads that one."""
        split = self.split or split
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        key = self.key
        if view == "flip" and key in METRIC_KEYS:
            stem, unit = key.rsplit("_", 1)
            key = f"{stem}_flip_{unit}" if f"{stem}_flip_{unit}" in METRIC_KEYS else key
        return f"{split}_spp/{key}" if view == "spp" else f"{split}/{key}"


@dataclass(frozen=True, kw_only=True)
class Row:
    """One table row: a variant of the study's base config, run for ``seeds`` seeds.

    kind  train (the method) | reference (``loss.mode=supervised_reference``, uses 3D labels) |
          baseline (the mean training pose, computed, no training) | unavailable (cannot run
          honestly yet; ``note`` says which feature is missing — shown, never faked)
    view  which metrics of the runs fill the row: plain, flip († = supervised flip, SF), spp
    evaluate_on  ``data.*`` overrides: evaluate the trained checkpoints on that data set (own runs)
    """
    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    seeds: int | None = None          # None = the study's default
    kind: str = "train"
    view: str = "plain"
    evaluate_on: Mapping[str, Any] | None = None
    group: str = ""
    paper: str = ""                   # method name in paper_tables.csv (the study's table)
    note: str = ""

    def __post_init__(self):
        if not self.name.strip():
            raise ValueError("Row.name must not be empty")
        if self.kind not in KINDS:
            raise ValueError(f"Row {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.view not in VIEWS:
            raise ValueError(f"Row {self.name!r}: view must be one of {VIEWS}, got {self.view!r}")
        if self.seeds is not None and self.seeds < 1:
            raise ValueError(f"Row {self.name!r}: seeds must be >= 1, got {self.seeds}")
        if self.kind == "unavailable" and not self.note:
            raise ValueError(f"Row {self.name!r}: an unavailable row must say why (Row.note)")
        bad = [k for k in (self.evaluate_on or {}) if not k.startswith("data.")]
        if bad:
            raise ValueError(f"Row {self.name!r}: evaluate_on takes data.* keys only, got {bad}")

    @property
    def slug(self) -> str:
        """ASCII name for run names and folders (``wo ψ,G`` → ``wo-psi-G``)."""
        text = "".join(_SLUG.get(ch, ch) for ch in self.name)
        return re.sub(r"[^A-Za-z0-9.=]+", "-", text).strip("-") or "row"


@dataclass(frozen=True, kw_only=True)
class Study:
    """A table: rows × seeds on one data set and profile (see the module docstring)."""
    name: str                          # MLflow experiment and reports/<name>.md
    title: str
    rows: tuple[Row, ...]
    metrics: tuple[Metric, ...]
    seeds: int = 1                     # default seeds of a row
    dataset: str = "cmu-mv4"           # training data set
    profile: str = "quick"
    base: Mapping[str, Any] = field(default_factory=dict)            # every row, every profile
    profile_base: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # budget per profile
    paper_table: str = ""              # "1" | "2" | "3" | "" (paper_tables.csv ``table``)
    paper_dataset: str = ""            # the data set of the paper's numbers
    budget_hours: float = 0.0          # warn when the estimate exceeds it (0 = none)
    split: str = "val"                 # the metrics every row reads: <split>/… (Metric.logged_key)
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ValueError(f"Study.name must be a plain file name, got {self.name!r}")
        if not self.rows or not self.metrics:
            raise ValueError(f"Study {self.name!r} needs at least one row and one metric")
        names = [r.name for r in self.rows]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"Study {self.name!r}: duplicate row names {dup}")
        if self.seeds < 1:
            raise ValueError(f"Study.seeds must be >= 1, got {self.seeds}")
        if self.dataset not in STUDY_DATASETS:
            raise ValueError(f"Study.dataset must be one of {STUDY_DATASETS}, got {self.dataset!r}")
        if self.split not in SPLITS:
            raise ValueError(f"Study.split must be one of {SPLITS}, got {self.split!r}")

    def select(self, names: list[str] | None) -> "Study":
        """Only the rows named (``--rows``); an unknown name raises listing the valid ones."""
        if not names:
            return self
        known = {r.name for r in self.rows} | {r.slug for r in self.rows}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown row(s) {unknown} in study {self.name!r}; rows are "
                             f"{[r.name for r in self.rows]}")
        return replace(self, rows=tuple(r for r in self.rows if r.name in names or r.slug in names))


@dataclass(frozen=True)
class Planned:
    """One row × seed. ``hash`` identifies the run whose metrics fill the table: the training
    config's hash, or for eval rows / the baseline a hash of what they are computed from."""
    row: Row
    seed: int
    cfg: ExperimentConfig | None       # the training config (None: unavailable row)
    hash: str
    train_hash: str = ""               # eval rows: the training run they evaluate
    eval_data: DataConfig | None = None

    @property
    def action(self) -> str:
        """train | eval | baseline | unavailable: what producing this run takes."""
        if self.row.kind in ("baseline", "unavailable"):
            return self.row.kind
        return "eval" if self.eval_data is not None else "train"


# ---------------------------------------------------------------- planning

STUDY_LAYERS = 2       # the first layers of study_layers that the study defines (budget, base)


def study_layers(study: Study, profile: str, overrides: Mapping[str, Any] | None = None) -> list[dict]:
    """The override layers over the profile, in order: the study's budget for that profile, its
    base, the data set, then the command line's overrides (last word). The runs csv records
    them; the staleness check swaps in today's first :data:`STUDY_LAYERS`."""
    return [dict(study.profile_base.get(profile, {})), dict(study.base), {"data.dataset": study.dataset},
            dict(overrides or {})]


def base_config(study: Study, *, profile: str, overrides: Mapping[str, Any] | None = None,
                raw_root: str = "") -> ExperimentConfig:
    """Profile sizes, then :func:`study_layers`."""
    cfg = profile_config(profile)
    for layer in study_layers(study, profile, overrides):
        cfg = apply_overrides(cfg, dict(layer))
    return replace(cfg, data=_with_raw_root(cfg.data, raw_root))


def _with_raw_root(data: DataConfig, raw_root: str) -> DataConfig:
    """Real data sets read their raw folder from ``data.root`` (part of the hash); synthetic
    ones are built under the runner's ``--data-root`` (not part of the hash)."""
    if data.dataset in SYNTHETIC:
        return data
    root = data.root or raw_root
    if not root:
        raise ValueError(f"data set {data.dataset!r} is not built in: give its raw folder with "
                         f"--raw-root DIR (DataConfig.root)")
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"data set {data.dataset!r}: raw folder {path} does not exist")
    return replace(data, root=str(path))


def row_config(base: ExperimentConfig, row: Row, seed: int) -> ExperimentConfig:
    """``base`` + the row's overrides + the seed; ``"@key"`` values copy another key's value."""
    plain = {k: v for k, v in row.overrides.items() if not (isinstance(v, str) and v.startswith(REF))}
    refs = {k: v[len(REF):] for k, v in row.overrides.items() if k not in plain}
    try:
        flat = {**flatten(base), **plain}
        missing = [v for v in refs.values() if v not in flat]
        if missing:
            raise ValueError(f"override reference(s) {[REF + m for m in missing]} name no config key")
        cfg = apply_overrides(base, {**plain, **{k: flat[v] for k, v in refs.items()}, "seed": seed})
    except ValueError as err:
        raise ValueError(f"row {row.name!r}: {err}") from None
    supervised = cfg.loss.mode == "supervised_reference"
    if supervised != (row.kind == "reference"):
        raise ValueError(f"row {row.name!r}: loss.mode={cfg.loss.mode!r} needs kind="
                         f"{'reference' if supervised else 'train'} (3D-label rows are REFERENCE rows)")
    return cfg


def eval_data_config(cfg: ExperimentConfig, row: Row, raw_root: str) -> DataConfig | None:
    if not row.evaluate_on:
        return None
    data = replace(cfg.data, root="", extra="", extra_root="")    # evaluation has no extra data set
    try:
        for key, value in row.evaluate_on.items():
            data = apply_overrides(replace(cfg, data=data), {key: value}).data
    except ValueError as err:
        raise ValueError(f"row {row.name!r} evaluate_on: {err}") from None
    return _with_raw_root(data, raw_root)


def plan_study(study: Study, *, profile: str | None = None, seeds: int | None = None,
               overrides: Mapping[str, Any] | None = None, raw_root: str = "") -> list[Planned]:
    """Every row × seed of ``study``; ``seeds`` (``--seeds K``) replaces every row's count."""
    if seeds is not None and seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    base = base_config(study, profile=profile or study.profile, overrides=overrides, raw_root=raw_root)
    out: list[Planned] = []
    for row in study.rows:
        if row.kind == "unavailable":
            out.append(Planned(row, 0, None, f"unavailable:{row.slug}"))
            continue
        if row.kind == "baseline":
            out.append(_plan_baseline(base, row, raw_root))
            continue
        for seed in range(seeds or row.seeds or study.seeds):
            cfg = row_config(base, row, seed)
            eval_data = eval_data_config(cfg, row, raw_root)
            if eval_data is None:
                out.append(Planned(row, seed, cfg, cfg.hash))
            else:
                h = run_identity(cfg, eval_data)
                out.append(Planned(row, seed, cfg, h, train_hash=cfg.hash, eval_data=eval_data))
    return out


def _plan_baseline(base: ExperimentConfig, row: Row, raw_root: str) -> Planned:
    """The mean training pose on the evaluation split: deterministic, one 'seed'."""
    cfg = row_config(base, row, 0)
    eval_data = eval_data_config(cfg, row, raw_root) or cfg.data
    if eval_data.dataset in UNLABELLED:
        return Planned(replace(row, kind="unavailable", note=f"{eval_data.dataset} has no 3D labels"),
                       0, None, f"unavailable:{row.slug}")
    h = run_identity(cfg, eval_data, baseline=True)
    return Planned(row, 0, cfg, h, eval_data=eval_data)


def training_runs(plan: list[Planned]) -> list[tuple[str, Planned]]:
    """(training hash, planned) for every distinct training the plan needs, seed-major (seed 0
    of every row first: an interrupted study then has every row)."""
    seen: dict[str, Planned] = {}
    for p in sorted(plan, key=lambda q: q.seed):
        if p.action in ("train", "eval"):
            seen.setdefault(p.train_hash or p.hash, p)
    return list(seen.items())


def planned_seeds(plan: list[Planned], row: Row) -> int:
    return sum(1 for p in plan if p.row.name == row.name)
