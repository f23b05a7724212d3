r"""What a minimal detectable effect may claim: a power statement that the data can support.

:func:`optical_bench.significance.minimal_detectable_effect` (and a bootstrap interval's
:meth:`~optical_bench.significance.ConfidenceInterval.detectable_effect`) is
:math:`2.80\,\widehat{\mathrm{se}}`, the normal approximation of a paired test at 80% power. Two
things make that number meaningless, and :func:`detectable_effect` says so instead of printing it:

- **too few queries differ**: with :math:`m \le 5` queries whose scores differ, a paired
  randomization test cannot reach :math:`p < 0.05` at all (its smallest two-sided p-value is
  :math:`2/2^m \ge 0.0625`), and the observed variance of the differences is near zero, so the
  formula gives a "detectable" effect near 0 that no test could see: *not estimable*;
- **below the metric's resolution**: a mean over :math:`n` queries moves in steps of the smallest
  per-query change over :math:`n` (R@1 on known-item tasks: :math:`1/n`, 0.017 on 60 queries); an
  effect below one step is floored to it, and the text says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["MIN_DIFFERING_QUERIES", "DetectableEffect", "detectable_effect"]

MIN_DIFFERING_QUERIES = 6  # fewer: a paired randomization test cannot reach p < 0.05 (2 / 2**5 = 0.0625)
_ZERO = 1e-12


@dataclass(frozen=True)
class DetectableEffect:
    """A minimal detectable effect with what the data allow: ``value`` (NaN when not estimable),
    the metric's resolution on these queries (``floor``), how many of ``n`` queries differ."""

    raw: float
    floor: float
    differing: int
    n: int

    @property
    def estimable(self) -> bool:
        return self.differing >= MIN_DIFFERING_QUERIES and math.isfinite(self.raw)

    @property
    def floored(self) -> bool:
        return self.estimable and self.raw < self.floor

    @property
    def value(self) -> float:
        """The effect to report: NaN when not estimable, at least one step of the metric."""
        return max(self.raw, self.floor) if self.estimable else math.nan

    def __str__(self) -> str:
        if not self.estimable:
            return f"not estimable ({self.differing} of {self.n} queries differ)"
        if self.floored:
            return f"{self.floor:.3f} (floored to the metric's step on {self.n} queries)"
        return f"{self.raw:.3f}"


def detectable_effect(raw: float, differences: Sequence[float] | np.ndarray) -> DetectableEffect:
    """``raw`` (a minimal detectable effect computed from ``differences``, the per-query differences
    of two systems, or of their means over seeds) as a :class:`DetectableEffect`."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    nonzero = np.abs(d[np.abs(d) > _ZERO])
    floor = float(nonzero.min() / d.size) if nonzero.size else math.nan
    return DetectableEffect(raw=float(raw), floor=floor, differing=int(nonzero.size), n=int(d.size))
