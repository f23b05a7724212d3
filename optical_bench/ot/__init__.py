r"""Batched, masked entropic optimal transport between token sets, in torch.

This package holds the numerical core of OPTICAL (Huang, Yu & Allan, WSDM 2023):
the cost between the student's and the teacher's token embeddings, the token
marginals (uniform or IDF-weighted, with padding and optionally special tokens
carrying no mass), and a log-domain Sinkhorn solver that runs a whole batch of
problems of different sizes as one padded tensor program.

Conventions used throughout:

- ``B`` problems in a batch; problem ``k`` transports a source of ``m`` tokens
  (the student's, padded) onto a target of ``n`` tokens (the teacher's, padded).
- Padding is expressed through the marginals: a position with zero mass takes
  no part in the problem. The solver never reads the cost at such positions
  (they may hold anything finite or not) and the plan is exactly 0 there.
- All solver arithmetic is done in float32 at least (float64 stays float64),
  whatever the dtype of the cost: half precision is too coarse for
  :math:`C / \varepsilon` with small :math:`\varepsilon`.

The package is split by concern: :mod:`optical_bench.ot.costs` (ground cost, marginals,
IDF) and :mod:`optical_bench.ot.sinkhorn` (the solver and the token alignment).
"""

from optical_bench.ot.costs import CostKind as CostKind  # type alias, importable from here as before
from optical_bench.ot.costs import compute_idf, idf_weights, pairwise_cost, token_marginals
from optical_bench.ot.sinkhorn import GradMode as GradMode  # type alias, importable from here as before
from optical_bench.ot.sinkhorn import OTAlignment, TokenSequences, ot_alignment, sinkhorn_log

__all__ = [
    "OTAlignment",
    "TokenSequences",
    "compute_idf",
    "idf_weights",
    "ot_alignment",
    "pairwise_cost",
    "sinkhorn_log",
    "token_marginals",
]
