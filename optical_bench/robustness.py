r"""Robustness measures as small named values, and their place in MTEB result files.

A measure is a small declarative value (like ``ir_measures``): a frozen dataclass with a
``NAME``, a docstring that states its formula, and parameters with defaults. It knows
nothing about how it is computed; the computation lives in :func:`compute_measure` (one
function per measure class), and :func:`robustness_summary` decides which measures the
available tasks allow, using the task cards' ``kind`` and ``oracle_of``:

=======================  ==================================  =====================================
measure                  needs                               key(s)
=======================  ==================================  =====================================
``DomainShiftDrop``      an ``in-domain`` and a              ``domain_shift_drop``,
                         ``domain-shift`` task               ``domain_shift_drop_relative``
``OracleGap``            an ``oracle`` task and the task     ``oracle_gap``
                         it is the ``oracle_of``
``TransferRatio``        the same                            ``transfer_ratio``
``WorstLanguage``        a task with >= 2 subsets            ``worst_language``
``LanguageSpread``       the same                            ``language_spread``,
                                                             ``language_spread_std``
``LearningCurveArea``    (bitext size, score) points of      ``learning_curve_area``
                         one configuration
=======================  ==================================  =====================================

Measures are parsed from strings: ``parse_measure("DomainShiftDrop(relative)")``,
``parse_measure("LanguageSpread(stat=std)")`` or the plain keys
``parse_measure("domain_shift_drop_relative")``.

:func:`write_robustness` writes, for every ``<org>__<model>/<revision>`` folder of a
results folder (MTEB's layout), a ``robustness.json`` next to the task files and adds the
measures as ``robustness_<key>`` entries to the per-subset score dicts of the MTEB result
files, so anyone reading them with ``mteb.results.TaskResult.from_disk`` sees them next to
``main_score``::

    result = TaskResult.from_disk(path)
    result.get_score(getter=lambda scores: scores["robustness_domain_shift_drop"])

This module also holds the tolerant reader of MTEB results folders
(:func:`load_runs`) that :mod:`optical_bench.report` and :mod:`optical_bench.submit` use.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import re
from dataclasses import dataclass, field
from functools import singledispatch
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from optical_bench.io import atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)

__all__ = [
    "DomainShiftDrop",
    "LanguageSpread",
    "LearningCurveArea",
    "MEASURES",
    "OracleGap",
    "RobustnessConfig",
    "RobustnessMeasure",
    "RunResults",
    "TransferRatio",
    "WorstLanguage",
    "compute_measure",
    "default_measures",
    "learning_curve_area",
    "learning_curve_points",
    "load_runs",
    "parse_measure",
    "robustness_summary",
    "write_robustness",
]

ROBUSTNESS_FILE = "optical_bench/robustness.json"  # a subfolder: mteb reads every */*/*.json as a task result
LEARNING_CURVES_FILE = "learning_curves.json"
MTEB_KEY_PREFIX = "robustness_"
PROVENANCE_FILE = "optical_bench/provenance.json"
DEFAULT_METRICS = ("ndcg_at_10", "mrr_at_10", "recall_at_1")


# =========================================================================== definitions


@dataclass(frozen=True)
class RobustnessMeasure:
    """Base of every robustness measure: a name, parameters with defaults, a key.

    Subclasses are frozen dataclasses whose fields are the parameters. ``str(measure)``
    gives the canonical name (``DomainShiftDrop(relative)``), ``measure.key`` the snake-case
    key used in result files (``domain_shift_drop_relative``).
    """

    NAME: ClassVar[str] = ""
    KEY: ClassVar[str] = ""
    HIGHER_IS_BETTER: ClassVar[bool] = True

    @property
    def key(self) -> str:
        return self.KEY

    @property
    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def with_params(self, **params: Any) -> "RobustnessMeasure":
        return dataclasses.replace(self, **params)

    @property
    def description(self) -> str:
        return (type(self).__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")

    def __str__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            parts.append(f.name if value is True else f"{f.name}={value}")
        return f"{self.NAME}({', '.join(parts)})" if parts else self.NAME


@dataclass(frozen=True)
class DomainShiftDrop(RobustnessMeasure):
    r"""Drop of the score from the in-domain task to a domain-shift task.

    .. math::
        \Delta_{\text{abs}} = s_{\text{in}} - s_{\text{shift}}, \qquad
        \Delta_{\text{rel}} = \frac{s_{\text{in}} - s_{\text{shift}}}{s_{\text{in}}}

    with :math:`s` the mean score over a task's subsets. Lower is more robust; the relative
    drop is NaN when :math:`s_{\text{in}} = 0`.

    Args:
        relative: report :math:`\Delta_{\text{rel}}` instead of :math:`\Delta_{\text{abs}}`.
    """

    NAME: ClassVar[str] = "DomainShiftDrop"
    HIGHER_IS_BETTER: ClassVar[bool] = False
    relative: bool = False

    @property
    def key(self) -> str:
        return "domain_shift_drop_relative" if self.relative else "domain_shift_drop"


@dataclass(frozen=True)
class OracleGap(RobustnessMeasure):
    r"""Gap between the English-twin oracle and the cross-lingual score.

    .. math:: g = s_{\text{oracle}} - s_{\text{xl}}

    where the oracle task gives the teacher the English twin of each query (the upper
    bound). Lower is better.
    """

    NAME: ClassVar[str] = "OracleGap"
    KEY: ClassVar[str] = "oracle_gap"
    HIGHER_IS_BETTER: ClassVar[bool] = False


@dataclass(frozen=True)
class TransferRatio(RobustnessMeasure):
    r"""Share of the oracle's score that the cross-lingual model keeps.

    .. math:: r = \frac{s_{\text{xl}}}{s_{\text{oracle}}}

    1 means no loss from crossing languages; NaN when the oracle scores 0.
    """

    NAME: ClassVar[str] = "TransferRatio"
    KEY: ClassVar[str] = "transfer_ratio"


@dataclass(frozen=True)
class WorstLanguage(RobustnessMeasure):
    r"""Score of the worst subset (language pair) of a multi-language task.

    .. math:: w = \min_{\ell \in L} s_\ell
    """

    NAME: ClassVar[str] = "WorstLanguage"
    KEY: ClassVar[str] = "worst_language"


@dataclass(frozen=True)
class LanguageSpread(RobustnessMeasure):
    r"""Spread of the scores across the subsets (languages) of a multi-language task.

    .. math::
        \text{range} = \max_\ell s_\ell - \min_\ell s_\ell, \qquad
        \text{std} = \sqrt{\tfrac{1}{|L| - \text{ddof}} \textstyle\sum_\ell (s_\ell - \bar s)^2}

    Lower is more even.

    Args:
        stat: ``"range"`` (max - min) or ``"std"``.
        ddof: delta degrees of freedom of the standard deviation (0: population).
    """

    NAME: ClassVar[str] = "LanguageSpread"
    HIGHER_IS_BETTER: ClassVar[bool] = False
    stat: str = "range"
    ddof: int = 0

    def __post_init__(self) -> None:
        if self.stat not in ("range", "std"):
            raise ValueError(f"LanguageSpread(stat={self.stat!r}): use stat=range or stat=std.")

    @property
    def key(self) -> str:
        return "language_spread" if self.stat == "range" else "language_spread_std"


@dataclass(frozen=True)
class LearningCurveArea(RobustnessMeasure):
    r"""Area under the score vs :math:`\log_2`(bitext size) curve, as a mean score.

    With points :math:`(n_i, s_i)` sorted by size and :math:`x_i = \log_2 n_i`, the
    trapezoid rule normalised by the log-range:

    .. math::
        A = \frac{1}{x_k - x_1} \sum_{i=1}^{k-1} (x_{i+1} - x_i)\,\frac{s_i + s_{i+1}}{2}

    so :math:`A` is the mean score over the (log-scaled) range of bitext sizes, comparable
    with the scores themselves. Scores at the same size (several seeds) are averaged first;
    sizes :math:`\le 0` have no logarithm and are left out. Needs two distinct sizes.

    Args:
        base: logarithm base (the normalised area does not depend on it).
        normalize: divide by the log-range (``False``: the raw area, score x log-size).
    """

    NAME: ClassVar[str] = "LearningCurveArea"
    KEY: ClassVar[str] = "learning_curve_area"
    base: float = 2.0
    normalize: bool = True


MEASURES: dict[str, type[RobustnessMeasure]] = {
    cls.NAME: cls for cls in (DomainShiftDrop, OracleGap, TransferRatio, WorstLanguage, LanguageSpread, LearningCurveArea)
}


def default_measures() -> list[RobustnessMeasure]:
    """Every measure :func:`robustness_summary` computes by default (the learning curve is
    computed across models, by :func:`learning_curve_points` and :func:`write_robustness`)."""
    return [
        DomainShiftDrop(),
        DomainShiftDrop(relative=True),
        OracleGap(),
        TransferRatio(),
        WorstLanguage(),
        LanguageSpread(),
        LanguageSpread(stat="std"),
    ]


def _aliases() -> dict[str, RobustnessMeasure]:
    measures = default_measures() + [LearningCurveArea()]
    aliases = {measure.key: measure for measure in measures}
    aliases["language_std"] = LanguageSpread(stat="std")
    aliases["oracle_transfer_ratio"] = TransferRatio()
    return aliases


_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$")


def _coerce(value: str, default: Any) -> Any:
    value = value.strip().strip("'\"")
    if isinstance(default, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean, got {value!r}")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def parse_measure(text: str | RobustnessMeasure) -> RobustnessMeasure:
    """Parse ``"DomainShiftDrop(relative)"``, ``"LanguageSpread(stat=std)"`` or a key such as
    ``"domain_shift_drop_relative"`` into a measure.

    >>> str(parse_measure("domain_shift_drop_relative"))
    'DomainShiftDrop(relative)'
    >>> parse_measure("LanguageSpread(stat=std)").key
    'language_spread_std'
    """
    if isinstance(text, RobustnessMeasure):
        return text
    aliases = _aliases()
    if text.strip() in aliases:
        return aliases[text.strip()]
    match = _CALL.match(text)
    if not match or match.group(1) not in MEASURES:
        import difflib

        known = list(MEASURES) + list(aliases)
        hints = difflib.get_close_matches(text.strip(), known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(hints)}?" if hints else ""
        raise ValueError(f"Unknown robustness measure {text!r}.{hint} Known: {', '.join(known)}.")
    cls = MEASURES[match.group(1)]
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    params: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in (match.group(2) or "").split(","))):
        name, equals, value = part.partition("=")
        name = name.strip()
        if name not in defaults:
            raise ValueError(f"{cls.NAME} has no parameter {name!r}; parameters: {', '.join(defaults) or 'none'}.")
        try:
            params[name] = _coerce(value, defaults[name]) if equals else True  # a bare name is a flag: relative
        except ValueError as error:
            raise ValueError(f"{cls.NAME}({part}): {error}.") from None
    return cls(**params)


# =========================================================================== computation


def _finite_mean(values: Iterable[float]) -> float:
    values = [float(v) for v in values]
    return float(np.mean(values)) if values else math.nan


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0 or math.isnan(denominator) or math.isnan(numerator):
        return math.nan
    return numerator / denominator


@singledispatch
def compute_measure(measure: RobustnessMeasure, **inputs: Any) -> float:
    """Compute ``measure`` from its inputs (keyword arguments, per measure class):

    - ``DomainShiftDrop``: ``in_domain``, ``domain_shift`` (scores);
    - ``OracleGap`` / ``TransferRatio``: ``oracle``, ``cross_lingual`` (scores);
    - ``WorstLanguage`` / ``LanguageSpread``: ``scores`` ({subset: score});
    - ``LearningCurveArea``: ``points`` ([(bitext_size, score), ...]).
    """
    raise TypeError(f"No computation registered for {type(measure).__name__}.")


@compute_measure.register
def _(measure: DomainShiftDrop, *, in_domain: float, domain_shift: float) -> float:
    drop = float(in_domain) - float(domain_shift)
    return _ratio(drop, float(in_domain)) if measure.relative else drop


@compute_measure.register
def _(measure: OracleGap, *, oracle: float, cross_lingual: float) -> float:
    return float(oracle) - float(cross_lingual)


@compute_measure.register
def _(measure: TransferRatio, *, oracle: float, cross_lingual: float) -> float:
    return _ratio(float(cross_lingual), float(oracle))


@compute_measure.register
def _(measure: WorstLanguage, *, scores: Mapping[str, float]) -> float:
    if not scores:
        return math.nan
    return float(min(float(v) for v in scores.values()))


@compute_measure.register
def _(measure: LanguageSpread, *, scores: Mapping[str, float]) -> float:
    values = np.asarray([float(v) for v in scores.values()], dtype=float)
    if values.size == 0 or values.size <= measure.ddof:
        return math.nan
    if measure.stat == "range":
        return float(values.max() - values.min())
    return float(values.std(ddof=measure.ddof))


@compute_measure.register
def _(measure: LearningCurveArea, *, points: Iterable[tuple[float, float]]) -> float:
    return learning_curve_area(points, base=measure.base, normalize=measure.normalize)


def worst_language(scores: Mapping[str, float]) -> tuple[str | None, float]:
    """The subset with the lowest score, and that score (ties: the first in sorted order)."""
    if not scores:
        return None, math.nan
    subset = min(sorted(scores), key=lambda name: float(scores[name]))
    return subset, float(scores[subset])


def learning_curve_area(points: Iterable[tuple[float, float]], base: float = 2.0, normalize: bool = True) -> float:
    r"""Trapezoid area under score vs :math:`\log_{\text{base}}` size (see :class:`LearningCurveArea`).

    >>> learning_curve_area([(250, 0.2), (1000, 0.4), (4000, 0.6)])
    0.4
    """
    by_size: dict[float, list[float]] = {}
    for size, score in points:
        if size is None or float(size) <= 0:
            continue
        by_size.setdefault(float(size), []).append(float(score))
    if len(by_size) < 2:
        return math.nan
    sizes = sorted(by_size)
    x = np.log(np.asarray(sizes)) / math.log(base)
    y = np.asarray([np.mean(by_size[size]) for size in sizes])
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))
    return round(area / float(x[-1] - x[0]), 12) if normalize else area


# =========================================================================== the summary


@dataclass
class RobustnessConfig:
    """Which measures to compute and how tasks play their roles.

    Args:
        measures: measures or their names (default: :func:`default_measures`).
        task_kinds: task -> kind, overriding/adding to the task cards (e.g. for tasks
            of other benchmarks: ``{"MyInDomain": "in-domain"}``).
        oracle_of: oracle task -> cross-lingual task, overriding/adding to the cards.
        min_languages: a task needs this many subsets to count as multi-language.
        cards_folder: folder of task cards (default: the bundled cards and ``$OPTICAL_BENCH_TASKS``).
    """

    measures: Sequence[RobustnessMeasure | str] | None = None
    task_kinds: Mapping[str, str] = field(default_factory=dict)
    oracle_of: Mapping[str, str] = field(default_factory=dict)
    min_languages: int = 2
    cards_folder: Path | None = None

    def resolved_measures(self) -> list[RobustnessMeasure]:
        return [parse_measure(m) for m in (self.measures or default_measures())]

    def roles(self) -> tuple[dict[str, str], dict[str, str]]:
        """(task -> kind, oracle task -> cross-lingual task) from the cards plus overrides."""
        kinds: dict[str, str] = {}
        oracles: dict[str, str] = {}
        try:
            from optical_bench.tasks import load_cards

            for name, card in load_cards(self.cards_folder).items():
                kinds[name] = card.kind
                if card.oracle_of:
                    oracles[name] = card.oracle_of
        except Exception as error:  # cards are optional: overrides still work
            logger.warning("Could not read the task cards (%s); using only the given task kinds.", error)
        kinds.update(self.task_kinds)
        oracles.update(self.oracle_of)
        for name in oracles:
            kinds.setdefault(name, "oracle")
        return kinds, oracles


def _subset_scores(value: Any, metric: str) -> dict[str, float]:
    """{subset: score} from {subset: score} or {subset: {metric: score}} (NaN when missing)."""
    out = {}
    for subset, entry in (value or {}).items():
        if isinstance(entry, Mapping):
            entry = entry.get(metric)
        try:
            out[subset] = float(entry) if entry is not None else math.nan
        except (TypeError, ValueError):
            out[subset] = math.nan
    return out


def _json_number(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def _strict_json(obj: Any) -> Any:
    """``obj`` with non-finite floats as ``None`` (strict JSON for our own files)."""
    if isinstance(obj, float):
        return _json_number(obj)
    if isinstance(obj, Mapping):
        return {key: _strict_json(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict_json(value) for value in obj]
    return obj


def robustness_summary(
    results_by_task: Mapping[str, Mapping[str, Any]],
    metric: str = "ndcg_at_10",
    config: RobustnessConfig | None = None,
) -> dict[str, Any]:
    """Compute every measure that the available tasks allow.

    Args:
        results_by_task: ``{task: {subset: score}}`` (or ``{task: {subset: {metric: score}}}``)
            for one model.
        metric: the metric the scores are (or which to pick from per-subset dicts).
        config: measures and task roles (default: all measures, roles from the task cards).

    Returns:
        ``{"metric", "task_scores", "measures", "values", "per_subset"}``:

        - ``measures``: one entry per computed value: ``name`` (``DomainShiftDrop(relative)``),
          ``key``, ``task`` (the task the value is about), ``value``, ``inputs``, ``description``;
        - ``values``: flat ``{"<key>/<task>": value}`` for tables;
        - ``per_subset``: ``{task: {subset: {"robustness_<key>": value}}}``, what
          :func:`write_robustness` adds to the MTEB result files (per subset where a measure
          has a per-subset form, e.g. the drop of each language of a domain-shift task).
    """
    config = config or RobustnessConfig()
    measures = config.resolved_measures()
    kinds, oracles = config.roles()
    per_task = {task: _subset_scores(value, metric) for task, value in results_by_task.items()}
    per_task = {task: scores for task, scores in per_task.items() if scores}
    task_scores = {task: _finite_mean(scores.values()) for task, scores in per_task.items()}
    entries: list[dict[str, Any]] = []
    per_subset: dict[str, dict[str, dict[str, float]]] = {}

    def add(measure: RobustnessMeasure, task: str, value: float, inputs: dict[str, Any]) -> None:
        entries.append({"name": str(measure), "key": measure.key, "task": task, "value": _json_number(value),
                        "higher_is_better": measure.HIGHER_IS_BETTER, "inputs": inputs, "description": measure.description})

    def put(task: str, subset: str, key: str, value: float) -> None:
        if value is not None and math.isfinite(value):
            per_subset.setdefault(task, {}).setdefault(subset, {})[MTEB_KEY_PREFIX + key] = round(float(value), 6)

    in_domain = sorted(t for t in per_task if kinds.get(t) == "in-domain")
    shifted = sorted(t for t in per_task if kinds.get(t) == "domain-shift")
    for measure in (m for m in measures if isinstance(m, DomainShiftDrop)):
        if not in_domain:
            break
        s_in = _finite_mean(task_scores[t] for t in in_domain)
        for task in shifted:
            value = compute_measure(measure, in_domain=s_in, domain_shift=task_scores[task])
            add(measure, task, value, {"in_domain": {t: task_scores[t] for t in in_domain}, "domain_shift": {task: task_scores[task]}})
            for subset, score in per_task[task].items():
                put(task, subset, measure.key, compute_measure(measure, in_domain=s_in, domain_shift=score))
            suffix = "" if len(shifted) == 1 else f"_{task}"
            for t in in_domain:
                for subset in per_task[t]:
                    put(t, subset, measure.key + suffix, value)

    for oracle_task, xl_task in sorted(oracles.items()):
        if oracle_task not in per_task or xl_task not in per_task:
            continue
        s_oracle, s_xl = task_scores[oracle_task], task_scores[xl_task]
        for measure in (m for m in measures if isinstance(m, (OracleGap, TransferRatio))):
            value = compute_measure(measure, oracle=s_oracle, cross_lingual=s_xl)
            add(measure, xl_task, value, {"oracle": {oracle_task: s_oracle}, "cross_lingual": {xl_task: s_xl}})
            for subset, score in per_task[xl_task].items():
                put(xl_task, subset, measure.key, compute_measure(measure, oracle=s_oracle, cross_lingual=score))

    for task, scores in sorted(per_task.items()):
        if kinds.get(task) == "oracle" or len(scores) < config.min_languages:
            continue
        for measure in (m for m in measures if isinstance(m, (WorstLanguage, LanguageSpread))):
            value = compute_measure(measure, scores=scores)
            inputs: dict[str, Any] = {"scores": {k: _json_number(v) for k, v in scores.items()}}
            if isinstance(measure, WorstLanguage):
                inputs["subset"] = worst_language(scores)[0]
            add(measure, task, value, inputs)
            for subset in scores:
                put(task, subset, measure.key, value)

    values = {f"{entry['key']}/{entry['task']}": entry["value"] for entry in entries}
    return {
        "metric": metric,
        "task_scores": {task: _json_number(score) for task, score in task_scores.items()},
        "task_kinds": {task: kinds.get(task) for task in per_task},
        "measures": entries,
        "values": values,
        "per_subset": per_subset,
    }


# =========================================================================== reading results folders


def _read_json(path: Path) -> Any:
    """JSON that may hold bare ``NaN``/``Infinity`` (as mteb writes them)."""
    return json.loads(path.read_text(encoding="utf-8"))


def is_task_result(data: Any) -> bool:
    return isinstance(data, dict) and "task_name" in data and isinstance(data.get("scores"), dict)


def pick_split(splits: Iterable[str], preferred: Sequence[str] = ("test",)) -> str | None:
    """The split to report: the first of ``preferred`` present, else the first in sorted order."""
    splits = list(splits)
    for name in preferred:
        if name in splits:
            return name
    return sorted(splits)[0] if splits else None


@dataclass
class RunResults:
    """The results of one model revision, read from ``<org>__<model>/<revision>/``."""

    model: str
    revision: str
    path: Path
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> TaskResult JSON
    task_files: dict[str, Path] = field(default_factory=dict)
    predictions: dict[str, Path] = field(default_factory=dict)  # task -> <Task>_predictions.json
    meta: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] | None = None

    @property
    def short_name(self) -> str:
        return self.model.split("/", 1)[-1]

    def split(self, task: str, preferred: Sequence[str] = ("test",)) -> str | None:
        return pick_split(self.tasks.get(task, {}).get("scores", {}), preferred)

    def subset_entries(self, task: str, split: str | None = None) -> dict[str, dict[str, Any]]:
        """{subset: score dict} of ``task`` in ``split`` (default: :func:`pick_split`)."""
        data = self.tasks.get(task)
        if not data:
            return {}
        split = split or self.split(task)
        entries = data["scores"].get(split) or []
        return {str(entry.get("hf_subset", "default")): entry for entry in entries if isinstance(entry, dict)}

    def scores(self, task: str, metric: str = "main_score", split: str | None = None) -> dict[str, float]:
        """{subset: metric} (NaN where a value is missing or not a number)."""
        return _subset_scores(self.subset_entries(task, split), metric)

    def score(self, task: str, metric: str = "main_score", split: str | None = None) -> float:
        """Mean of ``metric`` over the subsets (mteb's ``get_score`` convention)."""
        scores = self.scores(task, metric, split)
        return _finite_mean(scores.values()) if scores else math.nan

    def results_by_task(self, metric: str = "main_score") -> dict[str, dict[str, float]]:
        return {task: self.scores(task, metric) for task in self.tasks}

    def main_metric(self, task: str) -> str | None:
        """The metric behind ``main_score``: the card's, else the key with the same value."""
        card_metric = _card_main_scores().get(task)
        if card_metric:
            return card_metric
        for entry in self.subset_entries(task).values():
            main = entry.get("main_score")
            for key in ("ndcg_at_10", "ndcg_at_20", "mrr_at_10", "recall_at_1", "map_at_10", "recall_at_100"):
                if isinstance(main, (int, float)) and isinstance(entry.get(key), (int, float)) and abs(entry[key] - main) < 1e-9:
                    return key
            break
        return None


@functools.lru_cache(maxsize=1)
def _card_main_scores() -> dict[str, str]:
    try:
        from optical_bench.tasks import load_cards

        return {name: card.main_score for name, card in load_cards().items()}
    except Exception:  # no cards: fall back to matching values
        return {}


def _revision_folders(root: Path, max_depth: int = 4) -> list[Path]:
    """Folders under ``root`` (itself included) that hold MTEB task result files."""
    found = []

    def visit(folder: Path, depth: int) -> None:
        try:
            children = sorted(folder.iterdir())
        except OSError:
            return
        if any(p.is_file() and p.suffix == ".json" and p.name != "model_meta.json" for p in children) and (
            (folder / "model_meta.json").exists() or any(_looks_like_task_file(p) for p in children if p.suffix == ".json")
        ):
            found.append(folder)
            return
        if depth >= max_depth:
            return
        for child in children:
            if child.is_dir() and not child.name.startswith(".") and child.name != "experiments":
                visit(child, depth + 1)

    visit(root, 0)
    return found


def _looks_like_task_file(path: Path) -> bool:
    if not path.is_file() or path.name in ("model_meta.json", ROBUSTNESS_FILE) or path.name.endswith("_predictions.json"):
        return False
    try:
        return is_task_result(_read_json(path))
    except (OSError, ValueError):
        return False


def _predictions_folder(revision_folder: Path) -> list[Path]:
    model_folder = revision_folder.parent
    candidates = [
        model_folder.parent / ".predictions" / model_folder.name / revision_folder.name,
        model_folder.parent.parent / ".predictions" / model_folder.name / revision_folder.name,
        revision_folder / ".predictions",
        revision_folder,
    ]
    return [c for c in candidates if c.is_dir()]


def read_run(revision_folder: Path | str) -> RunResults | None:
    """Read one revision folder; files that are not task results are skipped (with a note)."""
    folder = Path(revision_folder)
    meta: dict[str, Any] = {}
    if (folder / "model_meta.json").exists():
        try:
            meta = _read_json(folder / "model_meta.json")
        except (OSError, ValueError) as error:
            logger.warning("%s: unreadable model_meta.json (%s); using the folder names.", folder, error)
    model = meta.get("name") or folder.parent.name.replace("__", "/")
    revision = meta.get("revision") or folder.name
    run = RunResults(model=str(model), revision=str(revision), path=folder, meta=meta)
    for path in sorted(folder.glob("*.json")):
        if path.name in ("model_meta.json", ROBUSTNESS_FILE, PROVENANCE_FILE) or path.name.endswith("_predictions.json"):
            continue
        try:
            data = _read_json(path)
        except (OSError, ValueError) as error:
            logger.warning("%s: not readable JSON (%s); skipped.", path, error)
            continue
        if not is_task_result(data):
            continue
        run.tasks[str(data["task_name"])] = data
        run.task_files[str(data["task_name"])] = path
    for predictions in _predictions_folder(folder):
        for path in predictions.glob("*_predictions.json"):
            task = path.name[: -len("_predictions.json")]
            if task in run.tasks:
                run.predictions.setdefault(task, path)
    if (folder / PROVENANCE_FILE).exists():
        try:
            run.provenance = _read_json(folder / PROVENANCE_FILE)
        except (OSError, ValueError):
            run.provenance = None
    return run if run.tasks else None


def load_runs(paths: Path | str | Iterable[Path | str]) -> list[RunResults]:
    """Every model revision under the given folders.

    Accepts a results root (``<root>/<org>__<model>/<revision>/``), an mteb cache or a clone
    of the public results repository (``<root>/results/...``), a model folder or a revision
    folder. Task files of tasks optical-bench does not know are read too; bare ``NaN`` is
    fine; files that are not task results (``robustness.json``, summaries) are skipped.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    runs: list[RunResults] = []
    seen: set[Path] = set()
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"{root}: no such results folder. Fix: pass the --out folder of `optical-bench evaluate` (MTEB layout).")
        for folder in _revision_folders(root):
            if folder.resolve() in seen:
                continue
            seen.add(folder.resolve())
            run = read_run(folder)
            if run is not None:
                runs.append(run)
    return runs


# =========================================================================== learning curves


def _as_runs(runs: Iterable[RunResults] | Path | str | Iterable[Path | str]) -> list[RunResults]:
    """Runs as given, or read from results folders."""
    items = [runs] if isinstance(runs, (str, Path)) else list(runs)
    resolved: list[RunResults] = []
    for item in items:
        resolved.extend([item] if isinstance(item, RunResults) else load_runs(item))
    return resolved


def _curve_group(provenance: Mapping[str, Any], group_by: Sequence[str]) -> str:
    parts = []
    for key in group_by:
        value = provenance.get(key)
        if isinstance(value, Mapping):
            value = value.get("kind", json.dumps(value, sort_keys=True))
        if value not in (None, "", "none"):
            parts.append(str(Path(str(value)).name) if key in ("teacher", "student_init") else str(value))
    return " + ".join(parts) or "default"


def learning_curve_points(
    runs: Iterable[RunResults] | Path | str | Iterable[Path | str],
    task: str,
    metric: str = "main_score",
    *,
    provenance: Mapping[str, Mapping[str, Any]] | None = None,
    group_by: Sequence[str] = ("method", "augmentation"),
) -> dict[str, list[tuple[int, float]]]:
    """(bitext size, score) points per configuration, for :class:`LearningCurveArea` and plots.

    The bitext size and the configuration come from each run's provenance: an
    ``optical_bench_provenance.json`` in the revision folder, or ``provenance`` given as
    ``{model name, short name or revision: provenance dict}``. Runs of different seeds
    at one size give several points at that size. Runs without provenance are skipped.
    """
    resolved = _as_runs(runs)
    curves: dict[str, list[tuple[int, float]]] = {}
    for run in resolved:
        prov = run.provenance
        if prov is None and provenance:
            prov = provenance.get(run.model) or provenance.get(run.short_name) or provenance.get(run.revision)
        if not prov or task not in run.tasks or prov.get("bitext_pairs_used") is None:
            continue
        curves.setdefault(_curve_group(prov, group_by), []).append((int(prov["bitext_pairs_used"]), run.score(task, metric)))
    return {label: sorted(points) for label, points in sorted(curves.items())}


# =========================================================================== writing


def _inject(data: dict[str, Any], split: str, per_subset: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """A copy of a TaskResult JSON with stale ``robustness_*`` keys removed and new ones added."""
    data = json.loads(json.dumps(data))
    for entries in data["scores"].values():
        for entry in entries:
            for key in [k for k in entry if k.startswith(MTEB_KEY_PREFIX)]:
                del entry[key]
    for entry in data["scores"].get(split, []):
        entry.update(per_subset.get(str(entry.get("hf_subset", "default")), {}))
    return data


def _write_task_result(path: Path, data: dict[str, Any]) -> None:
    """Write a TaskResult JSON atomically after checking that mteb loads it."""
    from mteb.results import TaskResult

    text = json.dumps(data, indent=2) + "\n"
    try:
        TaskResult.model_validate_json(text)
    except Exception as error:  # never leave a file mteb cannot read
        raise ValueError(f"{path}: adding robustness measures would make the file unreadable for mteb ({error}); left unchanged.") from error
    atomic_write_text(path, text)


def write_robustness(
    results_folder: Path | str,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    mteb_metric: str = "main_score",
    config: RobustnessConfig | None = None,
    inject: bool = True,
    provenance: Mapping[str, Mapping[str, Any]] | None = None,
    filename: str = ROBUSTNESS_FILE,
) -> dict[Path, dict[str, Any]]:
    """Write ``robustness.json`` per model revision and add the measures to the MTEB files.

    For every ``<org>__<model>/<revision>`` folder under ``results_folder``:

    1. ``robustness.json`` (atomic) with one :func:`robustness_summary` per metric of
       ``metrics`` and of ``mteb_metric``, plus the learning-curve areas of the run's
       configuration when several bitext sizes of it are present (see
       :func:`learning_curve_points`; those also go to ``learning_curves.json`` at the top
       of ``results_folder``);
    2. with ``inject``: ``robustness_<key>`` entries, computed on ``mteb_metric`` (default:
       each task's ``main_score``), in the per-subset score dicts of the task files of the
       split reported (``test`` if present). Each file is checked with mteb's
       ``TaskResult`` before it replaces the old one; rerunning replaces old entries.

    Note: mteb's ``ResultCache.load_results`` reads *every* ``*.json`` of a revision folder
    as a task result, so it cannot read a folder holding ``robustness.json`` (nor
    ``optical_bench_summary.json``); :func:`optical_bench.submit.build_submission` copies
    only the files mteb reads. ``filename`` names the file differently (e.g.
    ``robustness.optical.txt``) where a folder must stay readable by ``ResultCache``.

    Returns:
        ``{revision folder: robustness.json content}``.
    """
    config = config or RobustnessConfig()
    root = Path(results_folder)
    runs = load_runs(root)
    written: dict[Path, dict[str, Any]] = {}
    all_metrics = list(dict.fromkeys([mteb_metric, *metrics]))
    curves: dict[str, dict[str, dict[str, Any]]] = {}
    for task in sorted({task for run in runs for task in run.tasks}):
        for label, points in learning_curve_points(runs, task, mteb_metric, provenance=provenance).items():
            if len({size for size, _ in points if size > 0}) >= 2:
                curves.setdefault(task, {})[label] = {"points": points, LearningCurveArea.KEY: _json_number(learning_curve_area(points))}
    for run in runs:
        content: dict[str, Any] = {"model": run.model, "revision": run.revision, "metrics": {}}
        for metric in all_metrics:
            summary = robustness_summary(run.results_by_task(metric), metric=metric, config=config)
            content["metrics"][metric] = {k: v for k, v in summary.items() if k != "per_subset"}
        prov = run.provenance or (provenance or {}).get(run.model) or (provenance or {}).get(run.short_name)
        if prov:
            label = _curve_group(prov, ("method", "augmentation"))
            areas = {task: groups[label][LearningCurveArea.KEY] for task, groups in curves.items() if label in groups}
            if areas:
                content["learning_curve"] = {"group": label, "metric": mteb_metric, "area": areas}
        atomic_write_json(run.path / filename, _strict_json(content))
        written[run.path] = content
        if inject:
            summary = robustness_summary(run.results_by_task(mteb_metric), metric=mteb_metric, config=config)
            for task, data in run.tasks.items():
                split = run.split(task)
                new = _inject(data, split, summary["per_subset"].get(task, {}))
                if json.dumps(new, sort_keys=True) != json.dumps(data, sort_keys=True):
                    _write_task_result(run.task_files[task], new)
                    run.tasks[task] = new
    if curves:
        atomic_write_json(root / LEARNING_CURVES_FILE, _strict_json({"metric": mteb_metric, "curves": curves}))
    return written
