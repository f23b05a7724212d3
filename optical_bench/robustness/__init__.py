r"""Robustness measures of MTEB results, and their place in MTEB result files.

- :mod:`optical_bench.robustness.measures`: the measures as small named values
  (``DomainShiftDrop``, ``OracleGap``, ...), :func:`parse_measure`, :func:`compute_measure`;
- :mod:`optical_bench.robustness.summary`: :func:`robustness_summary` (every measure the
  tasks allow), :func:`write_robustness` (``optical_bench/robustness.json`` and the
  ``robustness_<key>`` entries of the MTEB result files), :class:`RobustnessConfig`;
- :mod:`optical_bench.robustness.curves`: :func:`learning_curve_points`.

The reader of MTEB results folders lives in :mod:`optical_bench.results`; its names are
re-exported here for now (``from optical_bench.robustness import load_runs``), but new
code imports them from :mod:`optical_bench.results`.
"""

from optical_bench.results import ROBUSTNESS_FILE, RUN_PROVENANCE_FILE, RunResults, is_task_result, load_runs, pick_split, read_run
from optical_bench.robustness.curves import learning_curve_points
from optical_bench.robustness.measures import (
    MEASURES,
    DomainShiftDrop,
    LanguageSpread,
    LearningCurveArea,
    OracleGap,
    RobustnessMeasure,
    TransferRatio,
    WorstLanguage,
    compute_measure,
    default_measures,
    learning_curve_area,
    parse_measure,
    worst_language,
)
from optical_bench.robustness.summary import (
    DEFAULT_METRICS,
    LEARNING_CURVES_FILE,
    MTEB_KEY_PREFIX,
    RobustnessConfig,
    robustness_summary,
    strip_robustness_entries,
    write_robustness,
)

__all__ = [
    "DEFAULT_METRICS",
    "DomainShiftDrop",
    "LEARNING_CURVES_FILE",
    "LanguageSpread",
    "LearningCurveArea",
    "MEASURES",
    "MTEB_KEY_PREFIX",
    "OracleGap",
    "ROBUSTNESS_FILE",
    "RUN_PROVENANCE_FILE",
    "RobustnessConfig",
    "RobustnessMeasure",
    "RunResults",
    "TransferRatio",
    "WorstLanguage",
    "compute_measure",
    "default_measures",
    "is_task_result",
    "learning_curve_area",
    "learning_curve_points",
    "load_runs",
    "parse_measure",
    "pick_split",
    "read_run",
    "robustness_summary",
    "strip_robustness_entries",
    "worst_language",
    "write_robustness",
]
