"""Table 3 — shape-reconstruction ablation: wo ψ,G,Δ / wo ψ,G / wo G / Full (MPJPE, Ambiguity Ratio).

    python studies/table3_shape.py [--profile quick] [--seeds 3] [--dataset cmu-mv4] [--dry-run]

Rows as in the paper: ``wo ψ,G,Δ`` = ``model.physique=false loss.geodesic=false loss.delta=false``,
``wo ψ,G`` = ``model.physique=false loss.geodesic=false``, ``wo G`` = ``loss.geodesic=false`` (each
row without G also sets ``loss.extremity_weight=0``: the silhouette tips come from G),
``Full`` = the base config (3 seeds each); plus the mean-pose baseline and the supervised
reference. The paper's numbers (Human3.6M) stand in their own columns. The study is defined in
``studies.definitions.TABLE3_STUDY`` because ``python studies/ablation.py`` writes this
report too, from the same runs.
"""
from __future__ import annotations

import sys

from studies.definitions import TABLE3_STUDY
from studies.runner.cli import main

if __name__ == "__main__":
    sys.exit(main(TABLE3_STUDY, description=__doc__))
