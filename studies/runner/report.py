"""A study's table from its runs: ``reports/<study>.md`` / ``.csv`` / ``.png``.

The picked runs (:func:`studies.runner.runs.pick_runs`: one MLflow run per config hash) → one
line per planned row × seed (``<study>_runs.csv``: run id, status, metrics) → one line per row
(``<study>.csv``: mean, std, n finished / N planned, the paper's value, run ids) → markdown. Rules:

- a missing or failed seed is counted (``n/N``) and listed, never dropped; means use
  ``skipna=False``, so a finished run that lacks a metric shows ``n/a``, not a smaller mean;
- the paper's numbers sit in their own ``paper …`` columns, never mixed with ours;
- every file is written to a temporary name and renamed into place after everything has been
  computed, so an interrupted or failed study never leaves a half table over a good one.
"""
from __future__ import annotations

import datetime
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from studies.runner.plan import Planned, Study, hashed_config, planned_seeds, study_layers

PAPER_COLUMNS = ("table", "group", "method", "up", "template", "supervised_flip", "joint", "mse_2d_pct",
                 "mpjpe_mm", "n_mpjpe_mm", "p_mpjpe_mm", "pck", "auc", "mpjpe_cm",
                 "ambiguity_ratio_pct", "note")
KIND_LABELS = {"train": "ours", "reference": "REFERENCE (supervised, uses 3D labels)",
               "baseline": "BASELINE (mean training pose, uses 3D labels)", "unavailable": "not run"}


def default_paper_csv() -> Path:
    import maskpose_core
    return Path(maskpose_core.__file__).resolve().parent / "assets" / "paper_tables.csv"


def load_paper_table(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The paper's numbers (strings; '' = not reported). A missing column raises naming it."""
    path = Path(path) if path else default_paper_csv()
    if not path.is_file():
        raise FileNotFoundError(f"paper table {path} does not exist")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in PAPER_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"paper table {path}: missing column(s) {missing}; expected {list(PAPER_COLUMNS)}")
    return df


def paper_value(paper: pd.DataFrame, table: str, method: str, column: str) -> float:
    hit = paper[(paper["table"] == table) & (paper["method"] == method)]
    if not method or not column or hit.empty or hit.iloc[0][column] == "":
        return math.nan
    return float(hit.iloc[0][column])


def gather(study: Study, plan: list[Planned], picked: pd.DataFrame,
           failed: dict[str, str] | None = None, *, profile: str = "", overrides: dict | None = None) -> pd.DataFrame:
    """One line per planned row × seed: status, run id, error, and the study's metrics (ours,
    already scaled, read on ``study.split``) — NaN unless the run FINISHED."""
    lines = []
    for p in plan:
        run = picked.loc[p.hash] if p.hash in picked.index else None
        status = "unavailable" if p.action == "unavailable" else ("missing" if run is None else run["status"])
        line = {"row": p.row.name, "group": p.row.group, "kind": p.row.kind, "view": p.row.view,
                "seed": p.seed, "config_hash": p.hash, "status": status,
                "run_id": "" if run is None else run["run_id"],
                "seconds": _seconds(run) if run is not None and status == "FINISHED" else math.nan,
                "error": (failed or {}).get(p.hash) or (failed or {}).get(p.train_hash, ""),
                **recorded_identity(study, p, profile=profile, overrides=overrides or {})}
        for m in study.metrics:
            col = f"metrics.{m.logged_key(p.row.view, study.split)}"
            ok = run is not None and status == "FINISHED" and col in run.index
            line[m.label] = float(run[col]) * m.scale if ok else math.nan
        lines.append(line)
    return pd.DataFrame(lines)


def recorded_identity(study: Study, p: Planned, *, profile: str, overrides: dict) -> dict[str, str]:
    """What the staleness check (``studies/runner/staleness.py``) needs to replan this run with
    today's defaults, without the tracking store: ``recipe`` (JSON: the profile, the layers of
    overrides the study put on it, the row's overrides, evaluate_on, the action and seed) and
    ``config`` (JSON: the hashed fields of the training config and of the evaluation data)."""
    if p.cfg is None:
        return {"recipe": "", "config": ""}
    recipe = {"profile": profile, "layers": study_layers(study, profile, overrides),
              "row": dict(p.row.overrides), "evaluate_on": dict(p.row.evaluate_on or {}),
              "kind": p.row.kind, "action": p.action, "seed": p.seed}
    config = hashed_config(p.cfg, p.eval_data)
    return {"recipe": json.dumps(recipe, sort_keys=True, default=str),
            "config": json.dumps(config, sort_keys=True, default=str)}


def paper_metrics(study: Study) -> list:
    """The metrics with a paper column (none when the study has no paper table)."""
    return [m for m in study.metrics if m.paper] if study.paper_table else []


def _kind(p: Planned) -> str:
    if p.row.kind == "train" and p.row.view == "spp":
        return "ours + SPP (θ uses 3D labels)"
    return KIND_LABELS[p.row.kind]


def _seconds(run: pd.Series) -> float:
    return (run["end_time"] - run["start_time"]).total_seconds() if pd.notna(run["end_time"]) else math.nan


def _flags(p: Planned) -> tuple[str, str, str]:
    if p.cfg is None or p.row.kind == "baseline":
        return "–", "–", "–"
    yes = {True: "yes", False: "no"}
    template = p.cfg.model.uses_template or p.cfg.loss.uses_template
    # UP: the mean-pose init prior, or stage 2's pose discriminator (its real poses: other subjects')
    unpaired = p.cfg.model.uses_unpaired_prior or p.cfg.recipe.discriminator_weight > 0
    return yes[unpaired], yes[template], yes[p.row.view == "flip"]


def summarise(study: Study, plan: list[Planned], runs: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """One line per row: flags, n / N, mean and std of each metric (skipna=False), paper values."""
    lines = []
    for row in study.rows:
        mine = runs[runs["row"] == row.name]
        first = next(p for p in plan if p.row.name == row.name)
        done = mine[mine["status"] == "FINISHED"]
        up, t, sf = _flags(first)
        line = {"row": row.name, "group": row.group, "kind": _kind(first), "UP": up, "T": t,
                "SF": sf, "n": len(done), "N": 0 if first.action == "unavailable" else planned_seeds(plan, row)}
        for m in study.metrics:
            values = done[m.label]
            line[f"{m.label} mean"] = values.mean(skipna=False) if len(done) else math.nan
            line[f"{m.label} std"] = values.std(skipna=False) if len(done) > 1 else math.nan
        for m in paper_metrics(study):
            if m.paper:
                line[f"paper {m.label}"] = paper_value(paper, study.paper_table, row.paper, m.paper)
        line["run_ids"] = ";".join(r for r in mine["run_id"] if r)
        line["note"] = first.row.note
        lines.append(line)
    return pd.DataFrame(lines)


# ---------------------------------------------------------------- markdown

@dataclass(frozen=True)
class ReportContext:
    """What the header says besides the study: how and when the table was made."""
    command: str
    profile: str
    dataset: str
    overrides: dict
    tracking_uri: str
    git_commit: str
    git_dirty: str
    wall_s: float
    trained: int
    skipped: int
    date: str = ""


def _cell(mean: float, std: float, n: int, total: int, digits: int) -> str:
    if total == 0:
        return "—"
    if n == 0:
        return f"— (0/{total})"
    if math.isnan(mean):
        return f"n/a ({n}/{total})"
    spread = f" ± {std:.{digits}f}" if n > 1 else ""
    return f"{mean:.{digits}f}{spread} ({n}/{total})"


def _paper_cell(value: float, digits: int) -> str:
    return "" if math.isnan(value) else f"{value:.{digits}f}"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{seconds / 60:.1f} min"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = [[str(c).replace("|", "\\|") for c in r] for r in [header] + rows]
    lines = ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in esc[1:]])


def render_markdown(study: Study, summary: pd.DataFrame, runs: pd.DataFrame, paper: pd.DataFrame,
                    ctx: ReportContext) -> str:
    planned, done = len(runs[runs["status"] != "unavailable"]), int((runs["status"] == "FINISHED").sum())
    extra = ", ".join(f"{k}={v}" for k, v in {**study.profile_base.get(ctx.profile, {}), **study.base}.items())
    head = [f"# {study.title}", "",
            f"- command: `{ctx.command}`",
            f"- data set: {ctx.dataset}",
            f"- split the numbers are on: {study.split}" + (" (choices were made on val)" if study.split == "test"
                                                            else " (the split choices are made on)"),
            f"- paper's numbers: {study.paper_dataset or 'none'} (their data set and budget; separate "
            "`paper …` columns, not comparable one-to-one)" if study.paper_table else "- paper's numbers: none",
            f"- profile: {ctx.profile}; study overrides: {extra or 'none'}; command-line overrides: "
            f"{', '.join(f'{k}={v}' for k, v in ctx.overrides.items()) or 'none'}",
            f"- seeds: per row, see n/N ({', '.join(sorted({str(n) for n in summary['N'] if n}))} planned)",
            f"- git commit: {ctx.git_commit}" + (" (uncommitted changes)" if ctx.git_dirty == "true" else ""),
            f"- date: {ctx.date or datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- runs: {planned} planned, {done} finished, {planned - done} missing or failed; "
            f"tracking: `{ctx.tracking_uri}`",
            f"- wall time of the command: {_duration(ctx.wall_s)} ({ctx.trained} trained or evaluated, "
            f"{ctx.skipped} found finished and skipped); MLflow time of the table's runs: "
            f"{_duration(runs.drop_duplicates('run_id')['seconds'].sum())} summed", "",
            "Ours: mean ± std over seeds (n finished / N planned). UP = unpaired pose prior, T = template, "
            "SF = supervised flip († metrics: the better of a prediction and its left-right mirror). "
            f"Run ids of every number: `{study.name}.csv`, per seed: `{study.name}_runs.csv`.", ""]
    metric_cols = [m.label for m in study.metrics]
    paper_cols = [f"paper {m.label}" for m in paper_metrics(study)]
    header = ["row", "group", "kind", "UP", "T", "SF"] + metric_cols + paper_cols
    body = []
    for _, s in summary.iterrows():
        cells = [_cell(s[f"{m.label} mean"], s[f"{m.label} std"], s["n"], s["N"], m.digits) for m in study.metrics]
        papers = [_paper_cell(s[f"paper {m.label}"], m.digits) for m in paper_metrics(study)]
        body.append([s["row"], s["group"], s["kind"], s["UP"], s["T"], s["SF"]] + cells + papers)
    out = head + [_md_table(header, body), "", f"![per-row bars]({study.name}.png)", ""]
    out += _problems(runs, summary)
    out += _gap_section(study, summary)
    if study.paper_table:
        out += _paper_section(study, paper)
    notes = [f"- {n}" for n in study.notes]
    notes += [f"- {s['row']}: {s['note']}" for _, s in summary.iterrows() if s["N"] > 0 and s["note"]]
    if notes:
        out += ["## Notes", ""] + notes + [""]
    return "\n".join(out)


# Not pose errors: the mean pose has a low Ambiguity Ratio by construction (every view predicts the
# same pose), and mask IoU has no baseline value — a "gap" between them means nothing.
GAP_EXCLUDED = ("ambiguity_ratio_pct", "mask_iou")


def _gap_section(study: Study, summary: pd.DataFrame) -> list[str]:
    """Share of the gap between the mean-pose baseline and the supervised reference that each
    trained row closes, per metric: (baseline − row) / (baseline − reference) × 100 %, from the
    means above (0 % = no better than the mean pose, 100 % = as good as 3D supervision)."""
    kinds = dict(zip(summary["kind"], summary.index))
    if KIND_LABELS["baseline"] not in kinds or KIND_LABELS["reference"] not in kinds:
        return []
    base, ref = summary.loc[kinds[KIND_LABELS["baseline"]]], summary.loc[kinds[KIND_LABELS["reference"]]]
    metrics = [m for m in study.metrics
               if m.key not in GAP_EXCLUDED and all(math.isfinite(x[f"{m.label} mean"]) for x in (base, ref))
               and abs(base[f"{m.label} mean"] - ref[f"{m.label} mean"]) > 1e-9]
    def closed(row: pd.Series, label: str) -> str:
        b, r, x = base[f"{label} mean"], ref[f"{label} mean"], row[f"{label} mean"]
        return f"{round(100 * (b - x) / (b - r))} %" if math.isfinite(x) else "—"

    rows = [[s["row"]] + [closed(s, m.label) for m in metrics]
            for _, s in summary.iterrows() if s["kind"].startswith(KIND_LABELS["train"])]
    if not metrics or not rows:
        return []
    return ["## Gap closed between the mean-pose baseline and the supervised reference", "",
            "(baseline − row) / (baseline − reference) from the means above: 0 % = no better than "
            "the mean pose, 100 % = as good as the same network trained on 3D labels.", "",
            _md_table(["row"] + [m.label for m in metrics], rows), ""]


def _problems(runs: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    bad = runs[~runs["status"].isin(["FINISHED", "unavailable"])]
    out = []
    if not bad.empty:
        out += ["## Missing or failed runs", ""]
        out += [f"- {r['row']} seed={r['seed']}: {r['status']}" + (f" (run {r['run_id']})" if r["run_id"] else "")
                + (f" — {r['error']}" if r["error"] else "") for _, r in bad.iterrows()] + [""]
    skipped = summary[summary["N"] == 0]
    if not skipped.empty:
        out += ["## Rows not run", ""] + [f"- {r['row']}: {r['note']}" for _, r in skipped.iterrows()] + [""]
    return out


def _paper_section(study: Study, paper: pd.DataFrame) -> list[str]:
    rows = paper[paper["table"] == study.paper_table]
    cols = ["group", "method", "up", "template", "supervised_flip"] + [m.paper for m in study.metrics if m.paper]
    cols = [c for c in dict.fromkeys(cols) if (rows[c] != "").any()] + ["note"]
    return [f"## The paper's Table {study.paper_table} as published ({study.paper_dataset})", "",
            _md_table(cols, rows[cols].values.tolist()), ""]


# ---------------------------------------------------------------- files

def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def atomic_write_text(path: Path, text: str) -> None:
    tmp = _tmp(path)
    tmp.write_text(text)
    os.replace(tmp, path)


def append_section(reports_dir: Path, name: str, heading: str, section) -> None:
    """Append ``section(runs)`` (markdown lines; ``runs`` = ``<name>_runs.csv``) to ``<name>.md``,
    replacing an older section that starts with ``heading``. Atomic; nothing when either is missing."""
    md, csv = Path(reports_dir) / f"{name}.md", Path(reports_dir) / f"{name}_runs.csv"
    if not (md.is_file() and csv.is_file()):
        return
    text = md.read_text().split(f"\n{heading}")[0].rstrip("\n")
    atomic_write_text(md, text + "\n" + "\n".join(section(pd.read_csv(csv))) + "\n")


def plot_png(study: Study, summary: pd.DataFrame) -> bytes:
    """Per-row bars (mean ± std) per metric, the paper's values as diamonds; PNG bytes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary[summary["n"] > 0]
    fig, axes = plt.subplots(1, len(study.metrics), figsize=(4.2 * len(study.metrics), 0.9 + 0.33 * max(len(rows), 1)),
                             squeeze=False)
    for ax, m in zip(axes[0], study.metrics):
        y = range(len(rows))
        colors = ["0.6" if k != "ours" else "tab:blue" for k in rows["kind"]]
        ax.barh(list(y), rows[f"{m.label} mean"].fillna(0), xerr=rows[f"{m.label} std"].fillna(0),
                color=colors, capsize=3)
        if m in paper_metrics(study):
            ax.scatter(rows[f"paper {m.label}"], list(y), marker="D", color="tab:red", zorder=3,
                       label=f"paper ({study.paper_dataset})")
            ax.legend(loc="lower right", fontsize=7)
        ax.set_yticks(list(y), rows["row"], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(m.label, fontsize=9)
    fig.suptitle(study.title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_study_reports(study: Study, plan: list[Planned], picked: pd.DataFrame, paper: pd.DataFrame,
                        ctx: ReportContext, reports_dir: Path, failed: dict[str, str] | None = None) -> list[Path]:
    """Compute everything, then write md, csv, runs csv and png atomically; returns the paths."""
    runs = gather(study, plan, picked, failed, profile=ctx.profile, overrides=ctx.overrides)
    summary = summarise(study, plan, runs, paper)
    contents: dict[str, bytes] = {
        f"{study.name}.md": render_markdown(study, summary, runs, paper, ctx).encode(),
        f"{study.name}.csv": summary.to_csv(index=False).encode(),
        f"{study.name}_runs.csv": runs.to_csv(index=False).encode(),
        f"{study.name}.png": plot_png(study, summary),
    }
    reports_dir.mkdir(parents=True, exist_ok=True)
    paths = [reports_dir / name for name in contents]
    for path in paths:
        _tmp(path).write_bytes(contents[path.name])
    for path in paths:
        os.replace(_tmp(path), path)
    return paths
