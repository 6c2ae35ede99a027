"""The studies: the paper's tables as data, and the runner that fills them from MLflow runs.

    python studies/<study>.py [--profile smoke|quick|paper] [--seeds K] [--dataset D] [--dry-run] ...

Why a package of its own, beside ``orchestration`` rather than inside it: the import direction
is ``studies → orchestration → maskpose_core`` (docs/style.md). ``orchestration`` is the engine
that runs *one* training or sweep (Ray Train, Ray Tune, MLflow, the ``maskpose`` command);
a study is a table built from *many* runs, and the runner that plans, runs and reports it
(:mod:`studies.runner`) needs the engine, never the other way round. The rows, metrics and
budgets that the paper's tables share (:mod:`studies.definitions`) and the list of study
scripts (:data:`SCRIPTS`) are paper-specific, so they live here, beside the scripts, and the
engine knows nothing of Table 3. Keeping runner and definitions in one package lets the
reports index import the list of scripts without an import running upward.

Layout:

- ``studies/runner/`` — the machinery: ``plan`` (the data model: Metric, Row, Study, and the
  planning of rows × seeds into config hashes), ``runs`` (finding a study's runs in MLflow and
  deciding which are finished), ``execute`` (running what is missing), ``report`` (tables,
  csv, png), ``index`` (``reports/README.md``), ``cli`` (the command line every script shares);
- ``studies/definitions.py`` — what several studies share (Table 3's rows, the mean-pose
  baseline, the supervised reference, the quick budget, common metrics);
- ``studies/<study>.py`` — one script per table (listed in :data:`SCRIPTS`), and
  ``studies/benchmarks.py`` (performance figures, not a table of runs).
"""

# The study scripts (studies/<name>.py run through studies.runner.cli), in the order the
# reports index lists them. An explicit list: a new study is a script and a line here
# (tests/studies/test_catalog.py checks the two agree).
SCRIPTS = ("ablation", "convergence", "in_the_wild", "precision", "recipe", "table1_h36m", "table2_3dhp", "table3_shape",
           "tune_lambdas")
