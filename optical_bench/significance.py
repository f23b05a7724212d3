r"""Per-query scores and paired significance tests between retrieval runs.

Per-query scores come from ``pytrec_eval`` (the same library mteb uses), never from a
re-implementation, on mteb's rankings (``<Task>_predictions.json``) and the task's qrels:

==================  ====================================  ===========================
mteb metric         pytrec_eval measure                   run given to pytrec_eval
==================  ====================================  ===========================
``ndcg_at_k``       ``ndcg_cut.k``                        the full ranking
``mrr_at_k``        ``recip_rank``                        truncated to the top k
``recall_at_k``     ``recall.k``                          the full ranking
``hit_rate_at_k``   ``success.k``                         the full ranking
``success_at_k``    ``success.k``                         the full ranking
``map_at_k``        ``map_cut.k``                         the full ranking
``precision_at_k``  ``P.k``                               the full ranking
==================  ====================================  ===========================

Truncation breaks ties as trec_eval and mteb do: by score, then document id, both
descending. With one relevant document per query (known-item retrieval) ``recall.1``
equals ``success.1``. A query of the qrels that the run does not rank scores 0
(``trec_eval -c``); mteb's mean over the ranked queries equals the mean here whenever
every query is ranked, as in mteb's own evaluations.

Tests on paired per-query scores :math:`a_i, b_i` (:math:`i = 1..n`, the same queries),
differences :math:`d_i = a_i - b_i`:

- :func:`paired_randomization_test`: approximate permutation (sign-flip) test;
- :func:`paired_t_test`: Student's paired t-test (``scipy.stats.ttest_rel``);
- :func:`holm`: Holm's step-down correction across a family of comparisons;
- :func:`bootstrap_ci`, :func:`bootstrap_difference_ci`, :func:`bootstrap_macro_ci`:
  percentile bootstrap over queries (the last one stratified by subset);
- :func:`bootstrap_seeds_queries`: two-level bootstrap over training seeds and queries.

All randomness is seeded (``numpy.random.default_rng(seed)``): the same call gives the
same p-value and interval.

References:
    Smucker, Allan & Carterette. A comparison of statistical significance tests for
    information retrieval evaluation. CIKM 2007.
    Holm. A simple sequentially rejective multiple test procedure. Scand. J. Stat. 1979.
    Efron & Tibshirani. An Introduction to the Bootstrap. 1993.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ConfidenceInterval",
    "align",
    "bootstrap_ci",
    "bootstrap_difference_ci",
    "bootstrap_macro_ci",
    "bootstrap_drop",
    "bootstrap_seeds_queries",
    "holm",
    "load_predictions",
    "paired_randomization_test",
    "paired_t_test",
    "per_query_from_predictions",
    "per_query_scores",
]

DEFAULT_SAMPLES = 10_000
_CELLS_PER_CHUNK = 2_000_000  # resampling matrices of at most ~16 MB


def _chunk(n: int) -> int:
    """Samples per vectorised block, so that a block holds at most ``_CELLS_PER_CHUNK`` cells."""
    return max(1, min(1_000, _CELLS_PER_CHUNK // max(1, n)))


_METRIC = re.compile(r"^(ndcg|mrr|recall|hit_rate|success|map|precision)_at_(\d+)$")
_PYTREC = {"ndcg": "ndcg_cut", "recall": "recall", "hit_rate": "success", "success": "success", "map": "map_cut", "precision": "P"}


# =========================================================================== per-query scores


def pytrec_measure(metric: str) -> tuple[str, str, int | None]:
    """``(measure for RelevanceEvaluator, key in its output, truncation depth)`` of an mteb metric.

    >>> pytrec_measure("ndcg_at_10")
    ('ndcg_cut.10', 'ndcg_cut_10', None)
    >>> pytrec_measure("mrr_at_10")
    ('recip_rank', 'recip_rank', 10)
    """
    match = _METRIC.match(metric)
    if not match:
        raise ValueError(
            f"No per-query form for the metric {metric!r}. Fix: use one of ndcg_at_k, mrr_at_k, recall_at_k, "
            "hit_rate_at_k (success_at_k), map_at_k, precision_at_k."
        )
    family, k = match.group(1), int(match.group(2))
    if family == "mrr":
        return "recip_rank", "recip_rank", k
    name = _PYTREC[family]
    return f"{name}.{k}", f"{name}_{k}", None


def truncate_run(run: Mapping[str, Mapping[str, float]], k: int) -> dict[str, dict[str, float]]:
    """The top ``k`` documents of each query, ties broken by document id descending (trec_eval)."""
    out = {}
    for qid, docs in run.items():
        ranked = sorted(docs.items(), key=lambda item: (float(item[1]), item[0]), reverse=True)[:k]
        out[qid] = {did: float(score) for did, score in ranked}
    return out


def per_query_scores(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metric: str = "ndcg_at_10",
    *,
    missing: float | None = 0.0,
) -> dict[str, float]:
    """Score of every query of ``qrels`` under ``metric``, computed by ``pytrec_eval``.

    Args:
        qrels: ``{qid: {docid: relevance}}``.
        run: ``{qid: {docid: score}}`` (mteb's predictions of one subset and split).
        metric: an mteb metric name (``ndcg_at_10``, ``mrr_at_10``, ``recall_at_1``, ...).
        missing: score of a qrels query absent from the run (``None``: leave it out).
    """
    import pytrec_eval

    measure, key, depth = pytrec_measure(metric)
    qrels = {str(q): {str(d): int(r) for d, r in docs.items()} for q, docs in qrels.items()}
    run = {str(q): {str(d): float(s) for d, s in docs.items()} for q, docs in run.items() if str(q) in qrels}
    if depth is not None:
        run = truncate_run(run, depth)
    evaluated = pytrec_eval.RelevanceEvaluator(qrels, {measure}).evaluate(run) if run else {}
    scores = {qid: float(values[key]) for qid, values in evaluated.items()}
    if missing is not None:
        for qid in qrels:
            scores.setdefault(qid, float(missing))
    return dict(sorted(scores.items()))


def load_predictions(path: Path | str) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """mteb's ``<Task>_predictions.json``: ``{subset: {split: {qid: {docid: score}}}}``
    (the ``mteb_model_meta`` entry left out)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {subset: splits for subset, splits in data.items() if subset != "mteb_model_meta" and isinstance(splits, dict)}


def per_query_from_predictions(
    predictions: Path | str | Mapping[str, Any],
    qrels_by_subset: Mapping[str, Mapping[str, Mapping[str, int]]],
    metric: str = "ndcg_at_10",
    split: str = "test",
    subsets: Iterable[str] | None = None,
) -> dict[str, float]:
    """Per-query scores of a task (all its subsets) from mteb's predictions.

    Query ids are ``"<subset>/<qid>"`` so that subsets never collide; a test over them
    pools the queries of every subset.

    Args:
        predictions: the predictions file (or its loaded content).
        qrels_by_subset: ``{subset: qrels}`` or ``{subset: {split: qrels}}``.
        metric: mteb metric name.
        split: the split to score.
        subsets: restrict to these subsets (default: every subset with qrels and rankings).
    """
    if not isinstance(predictions, Mapping):
        predictions = load_predictions(predictions)
    wanted = set(subsets) if subsets is not None else None
    scores: dict[str, float] = {}
    for subset, qrels in qrels_by_subset.items():
        if wanted is not None and subset not in wanted:
            continue
        if split in qrels and isinstance(next(iter(qrels[split].values()), None), Mapping):
            qrels = qrels[split]  # {split: {qid: {docid: rel}}}
        run = (predictions.get(subset) or {}).get(split)
        if run is None:
            continue
        for qid, value in per_query_scores(qrels, run, metric).items():
            scores[f"{subset}/{qid}"] = value
    return scores


def align(a: Mapping[str, float], b: Mapping[str, float], strict: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Paired arrays over the queries both runs scored (sorted ids).

    With ``strict`` the two runs must cover the same queries.
    """
    common = sorted(set(a) & set(b))
    if strict and (len(common) != len(a) or len(common) != len(b)):
        raise ValueError(
            f"The runs cover different queries ({len(a)} and {len(b)}, {len(common)} shared); a paired test needs the same ones."
        )
    return np.asarray([a[q] for q in common], dtype=float), np.asarray([b[q] for q in common], dtype=float), common


# =========================================================================== tests


def _paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"Paired scores must be two 1-d arrays of the same length, got shapes {a.shape} and {b.shape}.")
    if a.size == 0:
        raise ValueError("No queries to compare.")
    return a - b


def paired_randomization_test(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    n_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    alternative: str = "two-sided",
) -> float:
    r"""Paired approximate randomization (sign-flip permutation) test of :math:`E[a - b] = 0`.

    Under the null the labels of each pair are exchangeable, so each difference keeps or
    flips its sign with probability 1/2. With :math:`T = |\bar d|` observed and
    :math:`T^{(j)} = |\frac1n \sum_i \sigma^{(j)}_i d_i|`, :math:`\sigma^{(j)}_i \in \{-1, 1\}`
    uniform, for :math:`j = 1..N`:

    .. math:: p = \frac{1 + \#\{j : T^{(j)} \ge T\}}{1 + N}

    (the observed labelling counts as one of the permutations, so :math:`p > 0`).
    ``alternative="greater"`` tests :math:`E[a-b] > 0` with :math:`T = \bar d` (no absolute
    value), ``"less"`` the reverse. Identical runs give :math:`p = 1`.

    Args:
        a, b: per-query scores of the two runs, paired by position.
        n_samples: :math:`N`, the number of random sign vectors.
        seed: seed of the random generator.
        alternative: ``"two-sided"``, ``"greater"`` or ``"less"``.
    """
    d = _paired(a, b)
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative={alternative!r}: use two-sided, greater or less.")
    sign = -1.0 if alternative == "less" else 1.0
    observed = d.mean() * sign
    if alternative == "two-sided":
        observed = abs(observed)
    tolerance = 1e-12 * max(1.0, float(np.abs(d).max()))
    rng = np.random.default_rng(seed)
    hits = 0
    done = 0
    while done < n_samples:
        size = min(_chunk(d.size), n_samples - done)
        signs = rng.integers(0, 2, size=(size, d.size), dtype=np.int8).astype(float) * 2.0 - 1.0
        stats = (signs @ d) / d.size * sign
        if alternative == "two-sided":
            stats = np.abs(stats)
        hits += int(np.count_nonzero(stats >= observed - tolerance))
        done += size
    return (1 + hits) / (1 + n_samples)


def paired_t_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, alternative: str = "two-sided") -> float:
    r"""Paired Student's t-test of :math:`E[a - b] = 0` (``scipy.stats.ttest_rel``).

    .. math:: t = \frac{\bar d}{s_d / \sqrt{n}}, \qquad \text{df} = n - 1

    When every difference is 0 the statistic is undefined; the p-value is then 1
    (no evidence of a difference).
    """
    from scipy import stats

    d = _paired(a, b)
    if np.allclose(d, 0.0):
        return 1.0
    result = stats.ttest_rel(np.asarray(a, dtype=float), np.asarray(b, dtype=float), alternative=alternative)
    p = float(result.pvalue)
    return 1.0 if math.isnan(p) else p


def minimal_detectable_effect(differences: Sequence[float] | np.ndarray, alpha: float = 0.05, power: float = 0.8) -> float:
    r"""The smallest true mean difference a two-sided paired test at level ``alpha`` detects
    with probability ``power``, given per-query differences ``d_1..d_n`` of two systems:

    .. math:: \mathrm{MDE} = (z_{1-\alpha/2} + z_{\mathrm{power}})\,\frac{s_d}{\sqrt{n}},

    with :math:`s_d` the sample standard deviation of the differences (the normal
    approximation of the paired t-test; 2.80 standard errors at 5% and 80%). A difference
    smaller than this can be real and still come out "not significant" most of the time.
    NaN for fewer than two queries."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return math.nan
    return float(_power_multiplier(alpha, power) * d.std(ddof=1) / math.sqrt(d.size))


def _power_multiplier(alpha: float, power: float) -> float:
    r""":math:`z_{1-\alpha/2} + z_{\mathrm{power}}`: standard errors in a minimal detectable effect (2.80 at 5%, 80%)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)


def holm(pvalues: Sequence[float] | Mapping[Any, float]) -> list[float] | dict[Any, float]:
    r"""Holm's step-down adjusted p-values (family-wise error rate control).

    With the :math:`m` p-values sorted ascending, :math:`p_{(1)} \le \dots \le p_{(m)}`:

    .. math:: \tilde p_{(i)} = \min\Bigl(1, \max_{j \le i} (m - j + 1)\, p_{(j)}\Bigr)

    Rejecting :math:`\tilde p < \alpha` controls the probability of any false rejection
    at :math:`\alpha`. The adjusted values are returned in the input order (a dict gives a
    dict with the same keys); NaN p-values are left out of the family and stay NaN.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    if isinstance(pvalues, Mapping):
        keys = list(pvalues)
        adjusted = holm([pvalues[k] for k in keys])
        return dict(zip(keys, adjusted))
    values = [float(p) for p in pvalues]
    valid = [i for i, p in enumerate(values) if not math.isnan(p)]
    order = sorted(valid, key=lambda i: values[i])
    m = len(order)
    out = [math.nan] * len(values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        out[index] = round(running, 15)
    return out


# =========================================================================== bootstrap


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with a percentile-bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float = 0.95
    standard_error: float = math.nan  # standard deviation of the bootstrap samples

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def detectable_effect(self, alpha: float = 0.05, power: float = 0.8) -> float:
        r"""The smallest true difference a two-sided test at level ``alpha`` detects with
        probability ``power`` when the estimate has this interval's standard error
        :math:`\widehat{\mathrm{se}}` (normal approximation, as
        :func:`minimal_detectable_effect`):

        .. math:: \mathrm{MDE} = (z_{1-\alpha/2} + z_{\mathrm{power}})\,\widehat{\mathrm{se}}
        """
        return float(_power_multiplier(alpha, power) * self.standard_error)

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _bootstrap_means(x: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_samples`` resamples (with replacement) of the rows' last axis, via counts."""
    n = x.shape[-1]
    out = np.empty(n_samples)
    done = 0
    while done < n_samples:
        size = min(_chunk(n), n_samples - done)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=size)
        out[done : done + size] = counts @ x / n
        done += size
    return out


def _percentile(estimate: float, samples: np.ndarray, confidence: float) -> ConfidenceInterval:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}: use a value in (0, 1), e.g. 0.95.")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    se = float(np.std(samples, ddof=1)) if len(samples) > 1 else math.nan
    return ConfidenceInterval(float(estimate), float(low), float(high), confidence, se)


def bootstrap_ci(
    x: Sequence[float] | np.ndarray, n_samples: int = DEFAULT_SAMPLES, confidence: float = 0.95, seed: int = 0
) -> ConfidenceInterval:
    r"""Percentile bootstrap interval of the mean of ``x`` (queries resampled with replacement).

    .. math::
        \bar x^{*(j)} = \frac1n \sum_i c^{(j)}_i x_i, \quad c^{(j)} \sim \text{Multinomial}(n, \tfrac1n),
        \qquad CI = [q_{\alpha/2}, q_{1-\alpha/2}] \text{ of } \{\bar x^{*(j)}\}

    with :math:`\alpha = 1 - \text{confidence}`.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("bootstrap_ci needs a non-empty 1-d array of per-query scores.")
    samples = _bootstrap_means(x, n_samples, np.random.default_rng(seed))
    return _percentile(float(x.mean()), samples, confidence)


def bootstrap_macro_ci(
    groups: Sequence[Sequence[float] | np.ndarray], n_samples: int = DEFAULT_SAMPLES, confidence: float = 0.95, seed: int = 0
) -> ConfidenceInterval:
    r"""Percentile bootstrap interval of the mean of group means (queries resampled within groups).

    For a task with several subsets mteb reports :math:`\frac1G \sum_g \bar x_g`, the
    mean of the subsets' means; each subset's queries are resampled on their own
    (a stratified bootstrap), so the interval is about the number mteb reports.
    """
    arrays = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if not arrays:
        raise ValueError("bootstrap_macro_ci needs at least one non-empty group.")
    rng = np.random.default_rng(seed)
    samples = np.mean([_bootstrap_means(g, n_samples, rng) for g in arrays], axis=0)
    return _percentile(float(np.mean([g.mean() for g in arrays])), samples, confidence)


def bootstrap_difference_ci(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    n_samples: int = DEFAULT_SAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval:
    r"""Paired percentile bootstrap interval of :math:`\bar a - \bar b` (queries resampled jointly).

    An interval that excludes 0 agrees with a significant paired test at level
    :math:`1 - \text{confidence}` in most cases.
    """
    return bootstrap_ci(_paired(a, b), n_samples=n_samples, confidence=confidence, seed=seed)


def bootstrap_seeds_queries(
    scores: Sequence[Sequence[float]] | np.ndarray,
    other: Sequence[Sequence[float]] | np.ndarray | None = None,
    n_samples: int = DEFAULT_SAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval:
    r"""Two-level bootstrap over training seeds and queries (variance of training and of the test set).

    ``scores`` is an :math:`R \times n` matrix: runs of one configuration trained with
    :math:`R` seeds (rows), scored on the same :math:`n` queries (columns). Each bootstrap
    sample draws seeds with replacement, then queries with replacement (the queries are
    shared by every seed, a crossed design), and takes the mean of the selected cells:

    .. math::
        \theta^{*} = \frac{1}{R n} \sum_{r, i} u_r\, v_i\, X_{r i}, \quad
        u \sim \text{Mult}(R, \tfrac1R),\ v \sim \text{Mult}(n, \tfrac1n)

    With ``other`` (an :math:`R' \times n` matrix of another configuration on the same
    queries) the statistic is the difference of the two means, seeds drawn independently
    per configuration and queries drawn jointly. The interval is the percentile interval
    of :math:`\theta^*`; the estimate is the plain mean (difference).
    """
    x = np.atleast_2d(np.asarray(scores, dtype=float))
    y = None if other is None else np.atleast_2d(np.asarray(other, dtype=float))
    if y is not None and y.shape[1] != x.shape[1]:
        raise ValueError(f"Both configurations must be scored on the same queries ({x.shape[1]} vs {y.shape[1]} columns).")
    rng = np.random.default_rng(seed)
    n = x.shape[1]
    samples = np.empty(n_samples)
    done = 0
    while done < n_samples:
        size = min(_chunk(n), n_samples - done)
        v = rng.multinomial(n, np.full(n, 1.0 / n), size=size)  # size x n
        u = rng.multinomial(x.shape[0], np.full(x.shape[0], 1.0 / x.shape[0]), size=size)  # size x R
        stat = ((u @ x) * v).sum(axis=1) / (x.shape[0] * n)
        if y is not None:
            w = rng.multinomial(y.shape[0], np.full(y.shape[0], 1.0 / y.shape[0]), size=size)
            stat = stat - ((w @ y) * v).sum(axis=1) / (y.shape[0] * n)
        samples[done : done + size] = stat
        done += size
    estimate = float(x.mean() - (y.mean() if y is not None else 0.0))
    return _percentile(estimate, samples, confidence)


def bootstrap_drop(
    in_domain: np.ndarray,
    shifted: np.ndarray,
    other: tuple[np.ndarray, np.ndarray] | None = None,
    n_samples: int = DEFAULT_SAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval:
    r"""Two-level bootstrap of a configuration's domain-shift drop (and of its difference to another's).

    ``in_domain`` (:math:`R \times n`) and ``shifted`` (:math:`R \times m`) hold the per-query
    scores of the same :math:`R` seeds (rows in the same order) on the in-domain and the shifted
    task. A seed is one trained model scored on both tasks, so each bootstrap sample draws seeds
    once for both, and each task's queries apart:

    .. math::
        \theta^{*} = \frac{1}{R n} \sum_{r, i} u_r\, v_i\, X_{r i} - \frac{1}{R m} \sum_{r, j} u_r\, w_j\, Y_{r j}

    With ``other`` (another configuration's two matrices, on the same queries) the statistic is
    the difference of the two drops, seeds drawn per configuration and each task's queries drawn
    jointly for both configurations, as :func:`bootstrap_seeds_queries` does for one task.
    """
    x, y = np.atleast_2d(np.asarray(in_domain, dtype=float)), np.atleast_2d(np.asarray(shifted, dtype=float))
    pairs = [(x, y)] + ([tuple(np.atleast_2d(np.asarray(a, dtype=float)) for a in other)] if other is not None else [])
    for a, b in pairs:
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"The in-domain and shifted scores must come from the same seeds ({a.shape[0]} vs {b.shape[0]} rows).")
        if a.shape[1] != x.shape[1] or b.shape[1] != y.shape[1]:
            raise ValueError("Both configurations must be scored on the same queries of each task.")
    rng = np.random.default_rng(seed)
    n, m = x.shape[1], y.shape[1]
    samples = np.empty(n_samples)
    done = 0
    while done < n_samples:
        size = min(_chunk(n + m), n_samples - done)
        v = rng.multinomial(n, np.full(n, 1.0 / n), size=size)
        w = rng.multinomial(m, np.full(m, 1.0 / m), size=size)
        stat = np.zeros(size)
        for sign, (a, b) in zip((1.0, -1.0), pairs, strict=False):
            r = a.shape[0]
            u = rng.multinomial(r, np.full(r, 1.0 / r), size=size)
            stat += sign * (((u @ a) * v).sum(axis=1) / (r * n) - ((u @ b) * w).sum(axis=1) / (r * m))
        samples[done : done + size] = stat
        done += size
    estimate = float(sum(sign * (a.mean() - b.mean()) for sign, (a, b) in zip((1.0, -1.0), pairs, strict=False)))
    return _percentile(estimate, samples, confidence)
