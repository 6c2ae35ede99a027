"""What an experiment shows in MLflow's UI: the runs table's ``pose`` view, the chart its compare view
opens on, and the rounded display copies both show (docs/stack.md, "MLflow 3.17 UI").

Pure data and page paths (no mlflow import): :mod:`orchestration.tracking` writes the view when it
creates an experiment, :mod:`orchestration.ui` (``maskpose ui``) refreshes it and logs the copies.

What MLflow 3.17.2's UI lets an experiment carry (read in the installed bundle,
``mlflow/server/js/build/static/js``): a *shared view* is the JSON of experiment tag
``mlflow.sharedViewState.<key>``, opened by ``?viewStateShareKey=<key>`` unless the link also
carries a search facet (``orderByKey``, ``searchFilter``, ...); from it the page takes the search
facets and the UI state ``selectedColumns``, ``columnOrder``, ``columnWidths``, ``runsHiddenMode``,
``compareRunCharts``, ``compareRunSections``, ``isAccordionReordered``, ``hideEmptyCharts`` (and
more). Column ids are ``<attributes|params|metrics|tags>.`<name>```; the run-name column is
``attributes.`Run Name``` and the pinned "Created" column ``runDateAndNestInfo``.

The runs table prints a user metric's float as it is (its value formatters are keyed by metric
name and the open-source registry of them is empty), so a column shows ``273.8786059711895``.
Numbers are kept to one decimal by *display copies*: for each source metric below, a metric
named for people (MLflow refuses ``†``, ``%`` and parentheses in names) holding
``round(source × scale, 1)``. The source metric, which every report reads, is never touched.

The "Compare" button's page cannot be set by an experiment (its parallel-coordinates plot takes
the first three sorted params whose values differ among the runs: React state, no URL or tag),
so maskpose's compare link is the experiment page's chart mode, which the shared view carries.
"""
from __future__ import annotations

from dataclasses import dataclass

VIEW_PARAM = "viewStateShareKey"
POSE_VIEW_KEY = "pose"
VIEW_TAG_PREFIX = "mlflow.sharedViewState."
POSE_VIEW_TAG = VIEW_TAG_PREFIX + POSE_VIEW_KEY
# MLflow 3.17 opens every experiment on its GenAI view unless the link says so (docs/stack.md)
TRAINING_VIEW = "workflowType=machine_learning"
DISPLAY_DECIMALS = 1
HEADER_PX_PER_CHAR, HEADER_PADDING_PX = 8, 10
RUN_NAME_WIDTH_PX = 200          # "mean-pose-baseline/seed=0/ba…": the row and seed stay readable


@dataclass(frozen=True)
class DisplayMetric:
    """A rounded copy of ``source`` for the runs table: ``round(value × scale, DISPLAY_DECIMALS)``."""

    key: str            # the copy's MLflow metric key, which the table shows as the column header
    source: str         # the metric it is made from (the truth; reports read only this one)
    label: str          # chart title (free text)
    scale: float = 1.0  # 100 turns a fraction into a percentage

    @property
    def width_px(self) -> int:
        """A column as wide as its header: MLflow's 13 px header font takes <= 8 px a character
        (measured on a 1440 px screenshot), plus 10 px of padding."""
        return HEADER_PX_PER_CHAR * len(self.key) + HEADER_PADDING_PX


DISPLAY_METRICS = (
    DisplayMetric("test MPJPE flip mm", "test/mpjpe_flip_mm", "test MPJPE † (mm)"),
    DisplayMetric("test P-MPJPE mm", "test/p_mpjpe_mm", "test P-MPJPE (mm)"),
    DisplayMetric("test 2D flip pct", "test/err2d_flip_pct", "test 2D † (% of the crop)"),
    DisplayMetric("val MPJPE flip mm", "val/mpjpe_flip_mm", "val MPJPE † (mm)"),
    DisplayMetric("val P-MPJPE mm", "val/p_mpjpe_mm", "val P-MPJPE (mm)"),
    DisplayMetric("val 2D flip pct", "val/err2d_flip_pct", "val 2D † (% of the crop)"),
    DisplayMetric("val mask IoU pct", "val/mask_iou", "val mask IoU (%)", scale=100.0),
)


def display_value(metric: DisplayMetric, value: float) -> float:
    """The number the table shows for ``value`` of ``metric.source``."""
    return round(float(value) * metric.scale, DISPLAY_DECIMALS)


def display_copies(metrics: dict[str, float]) -> dict[str, float]:
    """The display copies of the source metrics among ``metrics`` (copy key -> rounded value)."""
    return {m.key: display_value(m, metrics[m.source]) for m in DISPLAY_METRICS if m.source in metrics}


def column_id(kind: str, name: str) -> str:
    """MLflow's runs-table column id, e.g. ``metrics.`test/mpjpe_flip_mm```."""
    return f"{kind}.`{name}`"


RUN_NAME_COLUMN = column_id("attributes", "Run Name")
CREATED_COLUMN = "runDateAndNestInfo"
OTHER_COLUMNS = (column_id("tags", "row"), column_id("params", "seed"), column_id("params", "profile"),
                 column_id("attributes", "Dataset"))

# The compare view (the experiment page's chart mode) opens on this section: one bar per run of
# each test metric, then the generated sections, folded (the UI adds a chart per metric there).
CHART_SECTION = "maskpose-pose"
CHARTS = DISPLAY_METRICS[:3]
FOLDED_SECTIONS = ("test", "val", "train", "time", "Model metrics", "System metrics")


def _chart(metric: DisplayMetric) -> dict:
    # the experiment's chart mode titles a chart by its metric key (3.17.2 passes
    # useMetricDisplayName=false there) and labels bars with two decimals: "286.20"
    return {"uuid": f"maskpose-{metric.source.replace('/', '-')}", "type": "BAR", "runsCountToCompare": 10,
            "metricSectionId": CHART_SECTION, "deleted": False, "isGenerated": False,
            "displayName": f"{metric.label}, per run", "metricKey": metric.key}


def _section(uuid: str, name: str, *, display: bool) -> dict:
    return {"uuid": uuid, "name": name, "display": display, "isReordered": True, "deleted": False,
            "isGenerated": False}


_METRIC_COLUMNS = [column_id("metrics", m.key) for m in DISPLAY_METRICS]
POSE_VIEW = {
    # search facets
    "orderByKey": "attributes.start_time", "orderByAsc": False,
    # the runs table: the display copies first (test MPJPE †, P-MPJPE, 2D †), then who made the run
    "selectedColumns": _METRIC_COLUMNS + list(OTHER_COLUMNS),
    "columnOrder": [RUN_NAME_COLUMN, CREATED_COLUMN] + _METRIC_COLUMNS + list(OTHER_COLUMNS),
    "columnWidths": {RUN_NAME_COLUMN: RUN_NAME_WIDTH_PX,
                     **{c: m.width_px for c, m in zip(_METRIC_COLUMNS, DISPLAY_METRICS)}},
    # the chart mode: every run drawn (MLflow's default draws the first 10), the pose charts first
    "runsHiddenMode": "SHOW_ALL",
    "hideEmptyCharts": True,
    "isAccordionReordered": True,
    "compareRunSections": [_section(CHART_SECTION, "pose (one decimal)", display=True)]
                          + [_section(f"maskpose-{n.replace(' ', '-')}", n, display=False)
                             for n in FOLDED_SECTIONS],
    "compareRunCharts": [_chart(m) for m in CHARTS],
}


def runs_page(experiment_id: str) -> str:
    """The runs table on the training view with the ``pose`` columns (a hash route of the UI)."""
    return f"#/experiments/{experiment_id}/runs?{VIEW_PARAM}={POSE_VIEW_KEY}&{TRAINING_VIEW}"


def charts_page(experiment_id: str) -> str:
    """The experiment's compare view (chart mode) opening on the pose charts of :data:`POSE_VIEW`."""
    return (f"#/experiments/{experiment_id}/runs?{VIEW_PARAM}={POSE_VIEW_KEY}&compareRunsMode=CHART"
            f"&{TRAINING_VIEW}")


def run_page(experiment_id: str, run_id: str) -> str:
    return f"#/experiments/{experiment_id}/runs/{run_id}?{TRAINING_VIEW}"
