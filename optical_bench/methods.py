"""The methods a run can train or build, and the objective of each trained one: one table.

A trained method is a row of :data:`TRAINED`: its name, the default weight of each loss term and
how its loss is built. Two kinds of loss exist:

- ``distillation``: :class:`~optical_bench.losses.DistillationLoss`, the weighted sum of the
  terms of :data:`TERMS` (a weight of 0 leaves a term out), on pairs ``(x_lr, x_en)``::

      L = w_ot * OT(S(x_lr), T(x_en)) + w_mse * ||s(x_lr) - t(x_en)||^2
          + w_contrastive * InfoNCE(s(x_lr), t(x_en)) + w_anchor * ||s(x_en) - t(x_en)||^2

  with ``S``/``T`` the token embeddings and ``s``/``t`` the sentence embeddings of student and
  teacher. Every weight may be given (``--ot-weight``, ``--mse-weight``, ``--contrastive-weight``,
  ``--anchor-weight``); a weight not given is the row's.
- ``labelled-mse``: sentence-transformers' ``MSELoss`` on rows ``(x_lr, t(x_en))``, the teacher's
  embeddings precomputed as labels (Reimers & Gurevych 2020, make_multilingual). It has the one
  term ``mse`` at weight 1: a run that gives another weight is refused with the method to use.

The loss is built from the row in :mod:`optical_bench.training.objective`; the record
(``loss_weights``), the model card and :meth:`~optical_bench.config.TrainConfig.validate` read
the same row. This module imports nothing of the package, so that any module may read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

__all__ = [
    "DISTILLATION",
    "FREE_METHODS",
    "LABELLED_MSE",
    "METHODS",
    "TERMS",
    "TRAINED",
    "TRAINED_METHODS",
    "LossWeights",
    "TrainedMethod",
    "loss_weights",
]

TERMS = ("ot", "mse", "contrastive", "anchor")  # the distillation terms, summed in this order
DISTILLATION = "distillation"
LABELLED_MSE = "labelled-mse"


@dataclass(frozen=True)
class LossWeights:
    """The weight of each loss term (flags ``--<term>-weight``); 0 leaves the term out."""

    ot: float = 0.0
    mse: float = 0.0
    contrastive: float = 0.0
    anchor: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """``{term: weight}`` in the order of :data:`TERMS` (the record's ``loss_weights``)."""
        return asdict(self)


@dataclass(frozen=True)
class TrainedMethod:
    """A row of the method table: the default weights of its terms and the kind of its loss."""

    name: str
    weights: LossWeights
    loss: str  # DISTILLATION or LABELLED_MSE

    def resolve(self, given: Mapping[str, float | None]) -> LossWeights:
        """The weights a run of this method uses: ``given`` (``{term: weight or None}``) over
        the row's. ``labelled-mse`` has no other term and its one term has weight 1: any other
        weight is refused, naming the flag and the method that has the term."""
        chosen = {term: value for term, value in given.items() if value is not None}
        if self.loss == LABELLED_MSE:
            for term, value in chosen.items():
                if value != getattr(self.weights, term):
                    raise ValueError(_refusal(self.name, term))
        return LossWeights(**{**self.weights.as_dict(), **chosen})


def _refusal(method: str, term: str) -> str:
    if term == "mse":
        return (
            f"--mse-weight: --method {method} trains sentence-transformers' MSELoss alone, at weight 1. "
            "Fix: drop --mse-weight, or use --method optical+mse --ot-weight 0 --mse-weight W."
        )
    return (
        f"--{term}-weight needs a distillation method: --method {method} trains sentence-transformers' MSELoss on the "
        f"teacher's embeddings alone. Fix: use --method optical+mse (or drop --{term}-weight)."
    )


TRAINED = {  # the order of --method's choices
    row.name: row
    for row in (
        TrainedMethod("optical", LossWeights(ot=1.0), DISTILLATION),  # OT distillation of token embeddings (OPTICAL)
        TrainedMethod("optical+mse", LossWeights(ot=1.0, mse=1.0), DISTILLATION),  # OT + sentence-level MSE
        TrainedMethod("optical+contrastive", LossWeights(ot=1.0, contrastive=1.0), DISTILLATION),  # OT + in-batch InfoNCE
        TrainedMethod("mse", LossWeights(mse=1.0), LABELLED_MSE),  # make_multilingual's MSELoss on the teacher's embeddings
        TrainedMethod("contrastive", LossWeights(contrastive=1.0), DISTILLATION),  # in-batch InfoNCE alone
    )
}
TRAINED_METHODS = tuple(TRAINED)
FREE_METHODS = ("zero-shot", "centering", "translate-test")  # nothing trained: training/baselines.py
METHODS = TRAINED_METHODS + FREE_METHODS


def loss_weights(method: str, given: Mapping[str, float | None]) -> LossWeights:
    """The loss weights of a run of ``method``: ``given`` (``{term: weight}``, ``None``: the method's)
    over its row's. A method that trains nothing has no row: its weights are the given ones, else 0
    (recorded as such)."""
    row = TRAINED.get(method)
    if row is None:
        return LossWeights(**{term: 0.0 if value is None else value for term, value in given.items()})
    return row.resolve(given)
