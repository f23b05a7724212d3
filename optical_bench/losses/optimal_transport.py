"""OPTICAL's token-level optimal-transport distillation: the :class:`TokenOT` term, and
:class:`OptimalTransportLoss`, that term alone in the shape of a sentence-transformers loss."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from sentence_transformers.sentence_transformer.model import SentenceTransformer
from torch import Tensor, nn

from optical_bench.citation import OPTICAL_CITATION
from optical_bench.config import OTOptions
from optical_bench.losses.distillation import DistillationBatch, DistillationLoss, DistillationTerm
from optical_bench.losses.routing import route_tokenizer
from optical_bench.ot import TokenSequences, idf_weights, ot_alignment

logger = logging.getLogger(__name__)


class TokenOT(DistillationTerm):
    citation = OPTICAL_CITATION

    def __init__(self, ot: OTOptions | None = None, student_idf: Tensor | None = None, teacher_idf: Tensor | None = None) -> None:
        r"""The OT term of OPTICAL (Huang, Yu & Allan, WSDM 2023): for pair :math:`k`, student token
        embeddings :math:`S_k \in \mathbb{R}^{m_k\times d}` of :math:`x_k` and teacher token embeddings
        :math:`T_k \in \mathbb{R}^{n_k\times d}` of :math:`y_k`,

        .. math::
            \ell_{\mathrm{OT}} = \frac1B\sum_k \langle \mathbf{P}^\star_k, \mathbf{C}_k\rangle_F,
            \qquad \mathbf{P}^\star_k = \arg\min_{\mathbf{P}\mathbf{1}=a_k,\ \mathbf{P}^\top\mathbf{1}=b_k}
            \langle\mathbf{P},\mathbf{C}_k\rangle - \varepsilon H(\mathbf{P}),

        with :math:`(\mathbf{C}_k)_{ij} = 1 - \cos(S_{k,i}, T_{k,j})` (or the squared L2 distance of
        L2-normalised tokens) and :math:`a_k, b_k` uniform over real tokens (IDF-weighted with
        ``student_idf``/``teacher_idf``, tables from :func:`optical_bench.ot.compute_idf`; without
        special tokens with ``ot.drop_special_tokens``), solved by batched log-domain Sinkhorn
        (:func:`optical_bench.ot.sinkhorn_log`; ``ot.iters`` iterations, ``ot.tol``, ``ot.grad``:
        ``"envelope"``, the plan held fixed, or ``"autodiff"``). With ``ot.map_tokens`` the student's
        tokens first pass through its route's sentence-level modules after pooling (a linear
        warm-start map, a centring, ``Normalize``), so the cost compares tokens in the space the
        student's sentence embedding lives in.

        Args:
            ot: the run's :class:`~optical_bench.config.OTOptions` (default: its defaults).
            student_idf, teacher_idf: optional ``(vocab,)`` IDF tables of the two routes' tokenizers.
        """
        super().__init__()
        self.ot = ot or OTOptions()
        if self.ot.cost not in ("cosine", "sqeuclidean"):
            raise ValueError(f"TokenOT: cost must be 'cosine' or 'sqeuclidean', got {self.ot.cost!r}.")
        if self.ot.grad not in ("envelope", "autodiff"):
            raise ValueError(f"TokenOT: grad must be 'envelope' or 'autodiff', got {self.ot.grad!r}.")
        if not self.ot.epsilon > 0:
            raise ValueError(f"TokenOT: epsilon must be > 0, got {self.ot.epsilon}.")
        self._idf = {"student": student_idf, "teacher": teacher_idf}

    def bind(self, loss: DistillationLoss) -> None:
        """Each route's special-token ids and IDF table, checked against its tokenizer."""
        for role, route in (("student", loss.student_route), ("teacher", loss.teacher_route)):
            tokenizer = route_tokenizer(loss.router, route)
            ids = sorted(set(getattr(tokenizer, "all_special_ids", []) or [])) if tokenizer is not None else []
            if self.ot.drop_special_tokens and not ids:
                raise ValueError(
                    f"TokenOT: drop_special_tokens is on but the {role} route has no tokenizer with special token ids. "
                    "Turn it off (--no-ot-drop-special-tokens)."
                )
            self.register_buffer(f"_{role}_special_ids", torch.tensor(ids, dtype=torch.long), persistent=False)
            table = self._idf[role]
            if table is not None:
                table = torch.as_tensor(table, dtype=torch.float32)
                if table.dim() != 1:
                    raise ValueError(f"TokenOT: the {role} IDF table must be 1-D, got shape {tuple(table.shape)}.")
                if tokenizer is not None and table.numel() < len(tokenizer):
                    raise ValueError(
                        f"TokenOT: the {role} IDF table has {table.numel()} entries but the {role} tokenizer has "
                        f"{len(tokenizer)} tokens; build it with compute_idf(..., vocab_size=len(tokenizer))."
                    )
            self.register_buffer(f"{role}_idf", table, persistent=False)

    def forward(self, batch: DistillationBatch, loss: DistillationLoss) -> Tensor:
        sides = {}
        for role, out, features in (
            ("student", batch.student_out, batch.student_features),
            ("teacher", batch.teacher_out, batch.teacher_features),
        ):
            if "token_embeddings" not in out or "attention_mask" not in out:
                raise ValueError(
                    f"TokenOT: the {role} route produced no 'token_embeddings'/'attention_mask'; the OT term needs a "
                    "Transformer module first in each route."
                )
            special = None
            if self.ot.drop_special_tokens:
                special = features.get("special_tokens_mask")
                if special is None:
                    ids = out["input_ids"]
                    special = torch.isin(ids, getattr(self, f"_{role}_special_ids").to(ids.device))
            table = getattr(self, f"{role}_idf")
            weights = idf_weights(out["input_ids"], table) if table is not None else None
            sides[role] = (out["token_embeddings"], out["attention_mask"], special, weights)
        s_tokens, s_mask, s_special, s_weights = sides["student"]
        t_tokens, t_mask, t_special, t_weights = sides["teacher"]
        if self.ot.map_tokens:
            s_tokens = map_student_tokens(loss.router.sub_modules[loss.student_route], s_tokens)
        alignment = ot_alignment(
            TokenSequences(s_tokens, s_mask, s_special, s_weights),
            TokenSequences(t_tokens.detach(), t_mask, t_special, t_weights),
            cost=self.ot.cost,
            normalize=True,
            epsilon=self.ot.epsilon,
            n_iters=self.ot.iters,
            tol=self.ot.tol,
            grad=self.ot.grad,
        )
        return alignment.cost.mean()

    def config(self) -> dict[str, Any]:
        ot = self.ot
        return {
            "cost": ot.cost,
            "epsilon": ot.epsilon,
            "iters": ot.iters,
            "tol": ot.tol,
            "grad": ot.grad,
            "drop_special_tokens": ot.drop_special_tokens,
            "idf": {"student": self._idf["student"] is not None, "teacher": self._idf["teacher"] is not None},
            "map_tokens": ot.map_tokens,
        }


class OptimalTransportLoss(DistillationLoss):
    def __init__(
        self,
        model: SentenceTransformer,
        ot: OTOptions | None = None,
        *,
        student_idf: Tensor | None = None,
        teacher_idf: Tensor | None = None,
        student_route: str = "query",
        teacher_route: str = "document",
    ) -> None:
        """OPTICAL's distillation loss alone (:class:`TokenOT`): the student's token embeddings of the
        low-resource sentence transported onto the frozen teacher's of its English translation.

        Add sentence-level terms with :class:`~optical_bench.losses.distillation.DistillationLoss`
        (``{"ot": (1.0, TokenOT(ot)), "contrastive": (1.0, InfoNCE())}``, the default recipe).

        Args:
            model: a SentenceTransformer whose Router holds the student and the frozen teacher routes.
            ot: :class:`~optical_bench.config.OTOptions` (cost, epsilon, iters, tol, grad,
                drop_special_tokens, map_tokens).
            student_idf, teacher_idf: optional IDF tables for IDF-weighted marginals.
            student_route, teacher_route: the routes (swap them when the documents are low-resource).

        Inputs: (low-resource sentence, English translation) pairs mapped with
        ``router_mapping={"lr": "query", "en": "document"}``; no labels.

        Example:
            ::

                from optical_bench.losses import OptimalTransportLoss
                loss = OptimalTransportLoss(model)  # model: SentenceTransformer(modules=[Router.for_query_document(...)])
                args = SentenceTransformerTrainingArguments(output_dir="runs/ot", router_mapping={"lr": "query", "en": "document"})
                SentenceTransformerTrainer(model=model, args=args, train_dataset=pairs, loss=loss).train()
        """
        term = TokenOT(ot, student_idf=student_idf, teacher_idf=teacher_idf)
        super().__init__(model, {"ot": (1.0, term)}, student_route=student_route, teacher_route=teacher_route)


# ----------------------------------------------------------------------
# module-level helpers
# ----------------------------------------------------------------------


def map_student_tokens(route: Iterable[nn.Module], tokens: Tensor) -> Tensor:
    """Token embeddings ``[B, m, d]`` through the route's modules after its pooling: each ``Dense``
    applies its linear layer and activation to every token, each ``Normalize`` L2-normalises
    every token; ``Transformer`` and ``Pooling`` (which made the tokens and the sentence) are skipped."""
    pooled = False
    for module in route:
        name = type(module).__name__
        if name == "Pooling":
            pooled = True
        elif not pooled:
            continue
        elif name == "Dense":
            tokens = module.activation_function(module.linear(tokens))
        elif name == "Normalize":
            tokens = F.normalize(tokens, p=2, dim=-1)
        else:
            raise ValueError(f"map_tokens: cannot apply the student route's {name} module to token embeddings; set map_tokens=False.")
    return tokens
