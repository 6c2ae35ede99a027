"""Is a committed report still what its study would produce today? (the staleness check)

The tracking store is not committed, so the check reads only ``reports/<study>_runs.csv``:
every run line records its config hash, how it was planned (``recipe``: the profile, the
study's layers of overrides, the row's overrides, evaluate_on, the seed) and what was hashed
(``config``). The check replans each line with **today's** defaults and, when the study is
known (:func:`todays_studies`, every script of :data:`studies.SCRIPTS`), today's study budget
(``profile_base``, ``base``) and today's row overrides (``plan.row_config``, the same code the
runner uses); the data set and command-line layers stay as recorded. Then:

* equal for every line, and every row of today's study in the report: the report is current;
* a hash differs: the report is **STALE**, naming the config keys whose values changed
  (today's value against the recorded one);
* a row of today's study is missing from the report, or a reported row left the study: STALE,
  naming the row;
* a report older than these columns cannot be replanned: STALE, "predates recorded configs".

It only shows, never blocks: ``python -m studies.runner.staleness`` prints one line per
report (and one for the model zoo: :func:`zoo_verdict`) and marks each report's header (a ``> **STALE** …`` line under its title, removed
again once current); the reports index (``reports/README.md``, :mod:`studies.runner.index`)
has a column for it, and ``python -m studies.runner.readme_results`` does all three at once.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from maskpose_core.config import apply_overrides, profile_config
from studies.runner.plan import (STUDY_LAYERS, Row, Study, eval_data_config, hashed_config, row_config, run_identity,
                                 study_layers)

MARK = "> **STALE**"
MAX_KEYS_SHOWN = 8


@dataclass
class Staleness:
    """The verdict on one report: ``stale`` and why (changed keys, or another reason)."""
    report: str
    stale: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "current" if not self.stale else "STALE: " + "; ".join(self.reasons)


def replan(recipe: dict) -> tuple[str, dict]:
    """(today's hash, today's hashed config) of one recorded run line's ``recipe``."""
    cfg = profile_config(recipe["profile"])
    for layer in recipe["layers"]:
        cfg = apply_overrides(cfg, layer)
    kind = recipe["kind"] if recipe["kind"] in ("train", "reference", "baseline") else "train"
    row = Row(name="replanned", kind=kind, overrides=recipe["row"], evaluate_on=recipe["evaluate_on"] or None)
    run = row_config(cfg, row, int(recipe["seed"]))
    eval_data = eval_data_config(run, row, raw_root="")
    return run_identity(run, eval_data, baseline=recipe["action"] == "baseline"), hashed_config(run, eval_data)


def todays_studies() -> dict[str, Study]:
    """{study name: Study} of every study script (:data:`studies.SCRIPTS`) as defined today; a
    script that writes two reports (the ablation also writes Table 3) gives both."""
    import importlib

    from studies import SCRIPTS
    out: dict[str, Study] = {}
    for name in SCRIPTS:
        module = importlib.import_module(f"studies.{name}")
        for value in vars(module).values():
            if isinstance(value, Study):
                out.setdefault(value.name, value)
    return out


def _as_today(recipe: dict, study: Study, row: Row) -> dict:
    """A recorded ``recipe`` with today's study layers and today's row (data set and command
    line as recorded)."""
    layers = [dict(layer) for layer in recipe["layers"]]
    if len(layers) == len(study_layers(study, recipe["profile"])):
        layers[:STUDY_LAYERS] = study_layers(study, recipe["profile"])[:STUDY_LAYERS]
    return {**recipe, "layers": layers, "row": dict(row.overrides), "kind": row.kind,
            "evaluate_on": dict(row.evaluate_on) if row.evaluate_on else {}}


def _changed_keys(recorded: dict, today: dict) -> list[str]:
    keys = sorted(k for k in set(recorded) | set(today) if recorded.get(k, "∅") != today.get(k, "∅"))
    return [f"{k}: {recorded.get(k, '∅')} → {today.get(k, '∅')}" for k in keys]


def check_runs_csv(path: Path, study: Study | None = None) -> Staleness:
    """The verdict on one ``<study>_runs.csv``; with ``study`` (today's definition of the study
    that wrote it) its budgets and rows are replanned too, and its rows must all be reported."""
    runs = pd.read_csv(path, keep_default_na=False, dtype=str)
    name = path.name.removesuffix("_runs.csv")
    if "recipe" not in runs.columns:
        return Staleness(name, True, ["predates recorded configs (regenerate it with its study command)"])
    changed: dict[str, None] = {}
    rows_today = {r.name: r for r in study.rows} if study is not None else {}
    if study is not None:
        reported = set(runs["row"])
        for row in study.rows:
            if row.name not in reported and row.kind != "unavailable":
                changed[f"row {row.name}: in today's study, not in the report"] = None
    for _, line in runs.iterrows():
        if not line["recipe"]:
            continue                                   # an unavailable row: nothing was planned
        recipe = json.loads(line["recipe"])
        if study is not None:
            if line["row"] not in rows_today:
                changed[f"row {line['row']}: no longer in the study"] = None
                continue
            recipe = _as_today(recipe, study, rows_today[line["row"]])
        try:
            today_hash, today_cfg = replan(recipe)
        except (ValueError, FileNotFoundError) as err:  # a key or a raw data set that no longer exists
            changed[f"row {line['row']}: cannot be replanned today ({err})"] = None
            continue
        if today_hash != line["config_hash"]:
            keys = _changed_keys(json.loads(line["config"]), {k: _jsonable(v) for k, v in today_cfg.items()})
            changed.update({k: None for k in keys or [f"row {line['row']}: hash {line['config_hash']} → {today_hash}"]})
    reasons = list(changed)
    if len(reasons) > MAX_KEYS_SHOWN:
        reasons = reasons[:MAX_KEYS_SHOWN] + [f"… {len(changed) - MAX_KEYS_SHOWN} more"]
    return Staleness(name, bool(changed), reasons)


def _jsonable(v):
    return json.loads(json.dumps(v, default=str))


def check_reports(reports_dir: Path, studies: dict[str, Study] | None = None) -> dict[str, Staleness]:
    """{study name: verdict} for every ``*_runs.csv`` in ``reports_dir``, each against today's
    study of that name (``studies``, default :func:`todays_studies`; none: defaults only)."""
    studies = todays_studies() if studies is None else studies
    paths = sorted(Path(reports_dir).glob("*_runs.csv"))
    return {v.report: v for v in (check_runs_csv(p, studies.get(p.name.removesuffix("_runs.csv")))
                                  for p in paths)}


def mark_report(md_path: Path, verdict: Staleness) -> bool:
    """Put (or remove) the STALE line under the report's title; True when the file changed."""
    text = md_path.read_text()
    lines = [line for line in text.splitlines() if not line.startswith(MARK)]
    if verdict.stale:
        at = next((i + 1 for i, line in enumerate(lines) if line.startswith("# ")), 0)
        lines[at:at] = ["", f"{MARK} — made with other defaults than today's: {'; '.join(verdict.reasons)}"]
    new = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + ("\n" if text.endswith("\n") else "")
    if new != text:
        tmp = md_path.with_name(f".{md_path.name}.tmp")
        tmp.write_text(new)
        tmp.replace(md_path)
        return True
    return False


def mark_reports(reports_dir: Path, studies: dict[str, Study] | None = None) -> dict[str, Staleness]:
    """Check every report in ``reports_dir`` and mark (or unmark) its header; the verdicts."""
    verdicts = check_reports(reports_dir, studies)
    for name, verdict in verdicts.items():
        md = Path(reports_dir) / f"{name}.md"
        if md.is_file():
            mark_report(md, verdict)
    return verdicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports-dir", default=str(Path(__file__).resolve().parents[2] / "reports"))
    args = ap.parse_args(argv)
    for name, verdict in mark_reports(Path(args.reports_dir)).items():
        print(f"{name}: {verdict.text}")
    print(f"zoo: {zoo_verdict().text}")
    return 0


def zoo_verdict() -> Staleness:
    """The model zoo as the reports are checked: every entry's file of its sha256 and its stage
    key the one today's code computes (``maskpose zoo verify``)."""
    from maskpose_core.train.zoo import Zoo
    problems = [p for found in Zoo().verify().values() for p in found]
    return Staleness("zoo", bool(problems), problems)


if __name__ == "__main__":
    sys.exit(main())
