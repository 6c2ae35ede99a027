"""The study runner: rows × seeds planned into config hashes, the missing runs run through the
engine (:mod:`orchestration.train`), the table written from MLflow.

- :mod:`studies.runner.plan` — the data model (``Metric``, ``Row``, ``Study``, ``Planned``) and
  planning: which configs a study needs and the hash that is each run's identity;
- :mod:`studies.runner.runs` — the study's runs in MLflow: which one stands for a hash, which
  are finished (and so skipped), how long a training of a size took here;
- :mod:`studies.runner.execute` — run what is missing (trainings, evaluations, the baseline);
- :mod:`studies.runner.report` — ``reports/<study>.md`` / ``.csv`` / ``.png``;
- :mod:`studies.runner.index` — ``reports/README.md``;
- :mod:`studies.runner.cli` — the command line every ``studies/<study>.py`` script shares.

Nothing here knows a paper's table: those are in :mod:`studies.definitions` and the scripts.
"""
