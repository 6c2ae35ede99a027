"""cmu-mv4: the embedded synthetic multi-view benchmark (docs/method.md §2), and its 3DHP-rig twin.

Real CMU motion rendered as a volumetric body with randomised proportions, seen by 4
Human3.6M-like cameras (``cmu-mv4``) or 5 MPI-INF-3DHP-like cameras in a green studio
(``cmu-3dhp-rig``): shaded RGB crops, exact and noisy masks, geodesic weights G, and all
ground truth, packed by :mod:`maskpose_core.data.packed`.

Public API: :func:`build_cmu_mv4`, :class:`GeneratorConfig`, :func:`generator_config`,
:func:`render_moment`, :func:`preview`, :func:`quality_report`.
"""
from maskpose_core.data.cmu_mv4.build import build_cmu_mv4
from maskpose_core.data.cmu_mv4.config import GeneratorConfig, generator_config
from maskpose_core.data.cmu_mv4.review import preview, quality_report
from maskpose_core.data.cmu_mv4.moment import render_moment

__all__ = ["build_cmu_mv4", "GeneratorConfig", "generator_config", "render_moment", "preview",
           "quality_report"]
