r"""Robustness measures as small named values, and how each is computed.

A measure is a small declarative value (like ``ir_measures``): a frozen dataclass with a
``NAME``, a docstring that states its formula, and parameters with defaults. It knows
nothing about how it is computed; the computation lives in :func:`compute_measure` (one
function per measure class), and :func:`optical_bench.robustness.robustness_summary`
decides which measures the available tasks allow, using the task cards' ``kind`` and
``oracle_of``:

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
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import singledispatch
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "DomainShiftDrop",
    "LanguageSpread",
    "LearningCurveArea",
    "MEASURES",
    "OracleGap",
    "RobustnessMeasure",
    "TransferRatio",
    "WorstLanguage",
    "compute_measure",
    "default_measures",
    "learning_curve_area",
    "parse_measure",
    "worst_language",
]

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
    """Every measure :func:`~optical_bench.robustness.robustness_summary` computes by default
    (the learning curve is computed across models, by
    :func:`~optical_bench.robustness.learning_curve_points` and
    :func:`~optical_bench.robustness.write_robustness`)."""
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
