"""OPTICAL's distillation loss in the shape of a sentence-transformers loss: :class:`OptimalTransportLoss`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import torch
import torch.nn.functional as F
from sentence_transformers.sentence_transformer.losses import MSELoss
from sentence_transformers.sentence_transformer.model import SentenceTransformer
from torch import Tensor, nn

from optical_bench.losses.routing import feature_batch_size, find_router, route_tokenizer, same_tokenizer
from optical_bench.ot import idf_weights, ot_alignment

logger = logging.getLogger(__name__)


OPTICAL_CITATION = """
@inproceedings{huang2023optical,
    title = {Improving Cross-lingual Information Retrieval on Low-Resource Languages via Optimal Transport Distillation},
    author = {Huang, Zhiqi and Yu, Puxuan and Allan, James},
    booktitle = {Proceedings of the Sixteenth ACM International Conference on Web Search and Data Mining (WSDM '23)},
    year = {2023},
    publisher = {Association for Computing Machinery},
    doi = {10.1145/3539597.3570468},
    eprint = {2301.12566},
    archivePrefix = {arXiv},
    primaryClass = {cs.IR},
    url = {https://arxiv.org/abs/2301.12566},
}
"""


class OptimalTransportLoss(nn.Module):
    def __init__(
        self,
        model: SentenceTransformer,
        ot_weight: float = 1.0,
        mse_weight: float = 0.0,
        contrastive_weight: float = 0.0,
        anchor_weight: float = 0.0,
        cost: Literal["cosine", "sqeuclidean"] = "cosine",
        normalize_tokens: bool = True,
        epsilon: float = 0.05,
        n_iters: int = 50,
        tol: float | None = None,
        grad: Literal["envelope", "autodiff"] = "envelope",
        drop_special_tokens: bool = False,
        student_idf: Tensor | None = None,
        teacher_idf: Tensor | None = None,
        temperature: float = 0.05,
        student_route: str = "query",
        teacher_route: str = "document",
        return_components: bool = False,
        map_tokens: bool = False,
    ) -> None:
        r"""
        Distils a frozen teacher into a student by optimal transport between their token
        embeddings (OPTICAL, Huang, Yu & Allan, WSDM 2023), with optional sentence-level terms.
        Trained on bitext: the student reads the low-resource sentence :math:`x`, the
        teacher reads its English translation :math:`y`.

        Both encoders live in one :class:`~sentence_transformers.SentenceTransformer` whose
        single module is a :class:`~sentence_transformers.base.modules.Router`: the student
        route (default ``"query"``) and the teacher route (default ``"document"``), each a
        ``[Transformer, Pooling, Normalize]`` list, the teacher's parameters frozen. The
        student is then an ordinary dense bi-encoder at test time.

        For a batch of :math:`B` pairs, with student token embeddings
        :math:`S_k \in \mathbb{R}^{m_k\times d}` of :math:`x_k`, teacher token embeddings
        :math:`T_k \in \mathbb{R}^{n_k\times d}` of :math:`y_k`, and pooled sentence embeddings
        :math:`s_k` (student on :math:`x_k`), :math:`t_k` (teacher on :math:`y_k`),
        :math:`\tilde s_k` (student on :math:`y_k`):

        .. math::
            \mathcal{L} = \lambda_{\mathrm{OT}}\,\frac1B\sum_k \langle \mathbf{P}^\star_k, \mathbf{C}_k\rangle_F
              + \lambda_{\mathrm{MSE}}\,\frac{1}{Bd}\sum_k \|s_k - t_k\|_2^2
              + \lambda_{\mathrm{NCE}}\,\frac1B\sum_k -\log\frac{\exp(\cos(s_k,t_k)/\tau)}{\sum_j \exp(\cos(s_k,t_j)/\tau)}
              + \lambda_{\mathrm{anc}}\,\frac{1}{Bd}\sum_k \|\tilde s_k - t_k\|_2^2

        where :math:`(\mathbf{C}_k)_{ij} = 1 - \cos(S_{k,i}, T_{k,j})` (or the squared L2
        distance) and :math:`\mathbf{P}^\star_k` solves the entropic OT problem
        :math:`\min_{\mathbf{P}\mathbf{1}=a_k,\ \mathbf{P}^\top\mathbf{1}=b_k} \langle\mathbf{P},\mathbf{C}_k\rangle - \varepsilon H(\mathbf{P})`
        (:func:`optical_bench.ot.sinkhorn_log`), with :math:`a_k, b_k` uniform over real tokens
        (optionally IDF-weighted, optionally without special tokens). The teacher runs in eval
        mode under :func:`torch.no_grad`; gradients reach the student only.

        Args:
            model: A SentenceTransformer whose (single) Router holds the student and the
                teacher routes. The teacher's parameters should be frozen
                (``requires_grad_(False)``); they never receive a gradient from this loss.
            ot_weight: :math:`\lambda_{\mathrm{OT}}`. 0 skips the token-level term entirely
                (no cost matrix, no Sinkhorn). Defaults to 1.0.
            mse_weight: :math:`\lambda_{\mathrm{MSE}}`, computed by sentence-transformers' own
                :class:`~sentence_transformers.sentence_transformer.losses.MSELoss`. Defaults to 0.0.
            contrastive_weight: :math:`\lambda_{\mathrm{NCE}}`, in-batch InfoNCE against the
                batch's teacher embeddings. Defaults to 0.0.
            anchor_weight: :math:`\lambda_{\mathrm{anc}}`: the student also encodes the English
                side and is pulled to the teacher by MSE (Reimers & Gurevych 2020). Only
                possible when both routes share one tokenizer, checked here. Defaults to 0.0.
            cost: Token ground cost, ``"cosine"`` (default) or ``"sqeuclidean"``.
            normalize_tokens: For ``cost="sqeuclidean"``: L2-normalise token embeddings first.
                Defaults to True.
            epsilon: Entropic regularisation :math:`\varepsilon`, in cost units. Defaults to 0.05.
            n_iters: Sinkhorn iterations (maximum when ``tol`` is set). Defaults to 50.
            tol: Stop Sinkhorn when the marginal L1 error is below ``tol``. Defaults to None
                (always ``n_iters``).
            grad: ``"envelope"`` (default: plan detached, gradient :math:`\mathbf{P}^\star` on
                the cost) or ``"autodiff"`` (through the iterations); see
                :func:`optical_bench.ot.sinkhorn_log`.
            drop_special_tokens: Give [CLS], [SEP], ... zero mass (ids from each route's
                tokenizer, or a ``special_tokens_mask`` feature when the tokenizer returns one).
                Defaults to False.
            student_idf: Optional ``(student_vocab,)`` IDF table
                (:func:`optical_bench.ot.compute_idf`) for IDF-weighted student marginals.
            teacher_idf: Optional ``(teacher_vocab,)`` IDF table for the teacher marginals.
            temperature: :math:`\tau` of the contrastive term. Defaults to 0.05
                (MultipleNegativesRankingLoss's ``scale=20``).
            student_route: Route name of the student in the Router. Defaults to ``"query"``.
            teacher_route: Route name of the teacher in the Router. Defaults to ``"document"``.
                Swap both when the low-resource side is the documents (e.g. CIRAL).
            return_components: Return a dict of the weighted terms instead of their sum; the
                SentenceTransformerTrainer then sums them and logs each one. Defaults to False.
            map_tokens: Pass the student's token embeddings through the student route's
                sentence-level modules after pooling (``Dense`` layers such as a linear warm-start
                map :math:`t \mapsto tW + b` or a centring, and ``Normalize``), token by token,
                before the cost, so that the OT term compares tokens in the space the student's
                sentence embedding lives in. Mean pooling is linear, so the mapped tokens pool to
                the mapped sentence (up to the normalisations). Defaults to False.

        The last value of every active term (unweighted) and of the total is kept in
        :attr:`last_terms`, a dict of floats, for logging.

        References:
            - Huang, Yu & Allan. Improving Cross-lingual Information Retrieval on Low-Resource
              Languages via Optimal Transport Distillation. WSDM 2023. https://arxiv.org/abs/2301.12566
            - Cuturi. Sinkhorn Distances: Lightspeed Computation of Optimal Transport. NeurIPS 2013.
            - Reimers & Gurevych. Making Monolingual Sentence Embeddings Multilingual using
              Knowledge Distillation. EMNLP 2020. https://arxiv.org/abs/2004.09813

        Requirements:
            1. A Router model with a student route and a frozen teacher route whose token
               embeddings have the same width (for the OT and sentence terms).
            2. Bitext pairs: a low-resource column routed to the student and an English column
               routed to the teacher, via ``SentenceTransformerTrainingArguments(router_mapping=
               {"lr": "query", "en": "document"})``. No labels.
            3. ``anchor_weight > 0``: the two routes share a tokenizer.

        Inputs:
            +------------------------------------------------------+--------+
            | Texts                                                | Labels |
            +======================================================+========+
            | (low-resource sentence, English translation) pairs   | none   |
            +------------------------------------------------------+--------+

        Relations:
            - :class:`~sentence_transformers.sentence_transformer.losses.MSELoss` is the
              sentence-level baseline: ``OptimalTransportLoss(model, ot_weight=0, mse_weight=1)``
              computes the same loss with teacher embeddings made on the fly instead of
              pre-computed labels.
            - :class:`~sentence_transformers.sentence_transformer.losses.MultipleNegativesRankingLoss`
              with (low-resource, English) pairs and ``scale = 1 / temperature`` is the
              contrastive term, except that here the positives and negatives come from the
              frozen teacher. :class:`InBatchContrastiveLoss` is that term alone.
            - :func:`optical_bench.ot.ot_alignment` computes the OT term's plan for one batch,
              for heatmaps.

        Example:
            ::

                import copy
                from datasets import Dataset
                from sentence_transformers import (
                    SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments,
                )
                from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Router, Transformer
                from optical_bench.losses import OptimalTransportLoss

                teacher = Transformer("sentence-transformers/all-MiniLM-L6-v2")
                student = copy.deepcopy(teacher)
                teacher.requires_grad_(False)
                dim = teacher.get_embedding_dimension()
                router = Router.for_query_document(
                    query_modules=[student, Pooling(dim), Normalize()],
                    document_modules=[teacher, Pooling(dim), Normalize()],
                )
                model = SentenceTransformer(modules=[router])

                train_dataset = Dataset.from_dict({
                    "lr": ["Moni, muli bwanji?", "Zikomo kwambiri."],
                    "en": ["Hello, how are you?", "Thank you very much."],
                })
                loss = OptimalTransportLoss(model, ot_weight=1.0, mse_weight=0.1)
                args = SentenceTransformerTrainingArguments(
                    output_dir="runs/optical", router_mapping={"lr": "query", "en": "document"},
                )
                trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train_dataset, loss=loss)
                trainer.train()
                print(loss.last_terms)  # {'ot': ..., 'mse': ..., 'total': ...}
        """
        super().__init__()
        weights = {"ot": ot_weight, "mse": mse_weight, "contrastive": contrastive_weight, "anchor": anchor_weight}
        self._check_arguments(weights, cost, grad, epsilon, temperature)

        self.model = model
        self.ot_weight = float(ot_weight)
        self.mse_weight = float(mse_weight)
        self.contrastive_weight = float(contrastive_weight)
        self.anchor_weight = float(anchor_weight)
        self.cost = cost
        self.normalize_tokens = normalize_tokens
        self.epsilon = float(epsilon)
        self.n_iters = int(n_iters)
        self.tol = tol
        self.grad = grad
        self.drop_special_tokens = drop_special_tokens
        self.temperature = float(temperature)
        self.student_route = student_route
        self.teacher_route = teacher_route
        self.return_components = return_components
        self.map_tokens = map_tokens

        self.router = find_router(model)
        self._check_routes()
        student_tokenizer, teacher_tokenizer = self._route_tokenizers()
        self._register_special_ids(student_tokenizer, teacher_tokenizer)
        self._register_idf(student_idf, teacher_idf, student_tokenizer, teacher_tokenizer)

        # sentence-transformers' own MSE, reused for the MSE and anchor terms.
        self._mse = MSELoss(model) if (self.mse_weight > 0 or self.anchor_weight > 0) else None
        self._last_terms: dict[str, Tensor] = {}

    # ------------------------------------------------------------------
    # construction helpers
    # ------------------------------------------------------------------

    @staticmethod
    def _check_arguments(weights: dict[str, float], cost: str, grad: str, epsilon: float, temperature: float) -> None:
        """Refuses negative weights, all-zero weights, unknown options and non-positive scales."""
        for name, value in weights.items():
            if value < 0:
                raise ValueError(f"OptimalTransportLoss: {name}_weight must be >= 0, got {value}.")
        if not any(value > 0 for value in weights.values()):
            raise ValueError(
                "OptimalTransportLoss: every term has weight 0; set at least one of ot_weight, mse_weight, "
                "contrastive_weight, anchor_weight > 0."
            )
        if cost not in ("cosine", "sqeuclidean"):
            raise ValueError(f"OptimalTransportLoss: cost must be 'cosine' or 'sqeuclidean', got {cost!r}.")
        if grad not in ("envelope", "autodiff"):
            raise ValueError(f"OptimalTransportLoss: grad must be 'envelope' or 'autodiff', got {grad!r}.")
        if not epsilon > 0:
            raise ValueError(f"OptimalTransportLoss: epsilon must be > 0, got {epsilon}.")
        if not temperature > 0:
            raise ValueError(f"OptimalTransportLoss: temperature must be > 0, got {temperature}.")

    def _check_routes(self) -> None:
        """Both routes are routes of the Router, and differ; warns when the teacher is trainable."""
        student_route, teacher_route = self.student_route, self.teacher_route
        for role, route in (("student", student_route), ("teacher", teacher_route)):
            if route not in self.router.sub_modules:
                raise ValueError(
                    f"OptimalTransportLoss: {role}_route={route!r} is not a route of the model's Router "
                    f"(routes: {list(self.router.sub_modules.keys())}). Pass {role}_route=<one of them>."
                )
        if student_route == teacher_route:
            raise ValueError("OptimalTransportLoss: student_route and teacher_route must differ.")
        if any(p.requires_grad for p in self.router.sub_modules[teacher_route].parameters()):
            logger.warning(
                "OptimalTransportLoss: the teacher route %r has trainable parameters. The teacher runs under "
                "torch.no_grad so it gets no gradient, but freeze it explicitly "
                "(model[0].sub_modules[%r].requires_grad_(False)) so that optimisers and learning-rate "
                "schedules skip it.",
                teacher_route,
                teacher_route,
            )

    def _route_tokenizers(self) -> tuple[Any, Any]:
        """The student's and the teacher's tokenizers; one shared tokenizer when ``anchor_weight > 0``."""
        teacher_route = self.teacher_route
        student_tokenizer = route_tokenizer(self.router, self.student_route)
        teacher_tokenizer = route_tokenizer(self.router, teacher_route)
        if self.anchor_weight > 0 and not same_tokenizer(student_tokenizer, teacher_tokenizer):
            raise ValueError(
                "OptimalTransportLoss: anchor_weight > 0 makes the student encode the English column, which was "
                f"tokenized for the teacher route {teacher_route!r}; this needs both routes to share one tokenizer, "
                "but they differ. Set anchor_weight=0, or give the student the teacher's tokenizer."
            )
        return student_tokenizer, teacher_tokenizer

    def _register_special_ids(self, student_tokenizer: Any, teacher_tokenizer: Any) -> None:
        """Registers each route's special-token ids, used when drop_special_tokens and no special_tokens_mask feature."""
        for role, tokenizer in (("student", student_tokenizer), ("teacher", teacher_tokenizer)):
            ids = sorted(set(getattr(tokenizer, "all_special_ids", []) or [])) if tokenizer is not None else []
            if self.drop_special_tokens and self.ot_weight > 0 and not ids:
                raise ValueError(
                    f"OptimalTransportLoss: drop_special_tokens=True but the {role} route has no tokenizer with "
                    "special token ids. Set drop_special_tokens=False."
                )
            self.register_buffer(f"_{role}_special_ids", torch.tensor(ids, dtype=torch.long), persistent=False)

    def _register_idf(self, student_idf: Tensor | None, teacher_idf: Tensor | None, student_tokenizer: Any, teacher_tokenizer: Any) -> None:
        """Registers the IDF tables (checked against the tokenizers) as ``student_idf``, ``teacher_idf``."""
        for role, table, tokenizer in (("student", student_idf, student_tokenizer), ("teacher", teacher_idf, teacher_tokenizer)):
            if table is not None:
                table = torch.as_tensor(table, dtype=torch.float32)
                if table.dim() != 1:
                    raise ValueError(f"OptimalTransportLoss: {role}_idf must be 1-D, got shape {tuple(table.shape)}.")
                if tokenizer is not None and table.numel() < len(tokenizer):
                    raise ValueError(
                        f"OptimalTransportLoss: {role}_idf has {table.numel()} entries but the {role} tokenizer has "
                        f"{len(tokenizer)} tokens; build it with compute_idf(..., vocab_size=len(tokenizer))."
                    )
            self.register_buffer(f"{role}_idf", table, persistent=False)

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor | dict[str, Tensor]:
        student_features, teacher_features = self._split_features(list(sentence_features))

        student_out = self.model(dict(student_features))
        with torch.no_grad(), self._teacher_in_eval_mode():
            teacher_out = self.model(dict(teacher_features))

        terms: dict[str, Tensor] = {}
        if self.ot_weight > 0:
            terms["ot"] = self._ot_term(student_out, teacher_out, student_features, teacher_features)
        student_emb = student_out["sentence_embedding"]
        teacher_emb = teacher_out["sentence_embedding"].detach()
        if self.mse_weight > 0:
            terms["mse"] = self._mse.compute_loss_from_embeddings([student_emb], [teacher_emb])
        if self.contrastive_weight > 0:
            terms["contrastive"] = _info_nce(student_emb, teacher_emb, self.temperature)
        if self.anchor_weight > 0:
            english_for_student = {**teacher_features, "task": student_features.get("task")}
            anchor_emb = self.model(english_for_student)["sentence_embedding"]
            terms["anchor"] = self._mse.compute_loss_from_embeddings([anchor_emb], [teacher_emb])

        weighted = {name: getattr(self, f"{name}_weight") * value for name, value in terms.items()}
        total = torch.stack(list(weighted.values())).sum()
        self._last_terms = {name: value.detach() for name, value in terms.items()}
        self._last_terms["total"] = total.detach()
        if self.return_components:
            return weighted
        return total

    @property
    def last_terms(self) -> dict[str, float]:
        """The unweighted value of each active term and the weighted ``total`` from the last call."""
        return {name: float(value) for name, value in self._last_terms.items()}

    def _ot_term(
        self, student_out: dict[str, Any], teacher_out: dict[str, Any], student_features: dict[str, Any], teacher_features: dict[str, Any]
    ) -> Tensor:
        sides = {}
        for role, out, features in (("student", student_out, student_features), ("teacher", teacher_out, teacher_features)):
            if "token_embeddings" not in out or "attention_mask" not in out:
                raise ValueError(
                    f"OptimalTransportLoss: the {role} route produced no 'token_embeddings'/'attention_mask'; the "
                    "OT term needs a Transformer module first in each route (set ot_weight=0 otherwise)."
                )
            special = None
            if self.drop_special_tokens:
                special = features.get("special_tokens_mask")
                if special is None:
                    ids = out["input_ids"]
                    special = torch.isin(ids, getattr(self, f"_{role}_special_ids").to(ids.device))
            weights = None
            table = getattr(self, f"{role}_idf")
            if table is not None:
                weights = idf_weights(out["input_ids"], table)
            sides[role] = (out["token_embeddings"], out["attention_mask"], special, weights)

        s_tokens, s_mask, s_special, s_weights = sides["student"]
        t_tokens, t_mask, t_special, t_weights = sides["teacher"]
        if self.map_tokens:
            s_tokens = map_student_tokens(self.router.sub_modules[self.student_route], s_tokens)
        alignment = ot_alignment(
            s_tokens,
            t_tokens.detach(),
            s_mask,
            t_mask,
            cost=self.cost,
            normalize=self.normalize_tokens,
            epsilon=self.epsilon,
            n_iters=self.n_iters,
            tol=self.tol,
            grad=self.grad,
            student_special_tokens_mask=s_special,
            teacher_special_tokens_mask=t_special,
            student_weights=s_weights,
            teacher_weights=t_weights,
        )
        return alignment.cost.mean()

    # ------------------------------------------------------------------
    # routing helpers
    # ------------------------------------------------------------------

    def _split_features(self, features_list: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
        if len(features_list) != 2:
            raise ValueError(
                f"{type(self).__name__} expects exactly 2 text columns (low-resource, English), got "
                f"{len(features_list)}. Keep only those two, e.g. dataset.select_columns(['lr', 'en'])."
            )
        if any(features.get("task") is None for features in features_list):
            raise ValueError(
                f"{type(self).__name__}: the batch carries no route ('task' feature). Map the columns to the "
                "Router's routes in the training arguments, e.g. SentenceTransformerTrainingArguments("
                f"router_mapping={{'lr': {self.student_route!r}, 'en': {self.teacher_route!r}}})."
            )
        routes = [self.router._resolve_route(task=features.get("task"), modality=features.get("modality")) for features in features_list]
        if sorted(routes) != sorted([self.student_route, self.teacher_route]):
            raise ValueError(
                f"{type(self).__name__}: the two columns go to routes {routes}, but one must go to the student "
                f"route {self.student_route!r} and the other to the teacher route {self.teacher_route!r}. "
                f"Fix router_mapping, e.g. {{'lr': {self.student_route!r}, 'en': {self.teacher_route!r}}}."
            )
        student, teacher = features_list if routes[0] == self.student_route else features_list[::-1]
        if feature_batch_size(student) != feature_batch_size(teacher):
            raise ValueError(
                f"{type(self).__name__}: {feature_batch_size(student)} student rows but {feature_batch_size(teacher)} teacher rows."
            )
        return student, teacher

    @contextlib.contextmanager
    def _teacher_in_eval_mode(self) -> Iterator[None]:
        teacher = self.router.sub_modules[self.teacher_route]
        modes = [(module, module.training) for module in teacher.modules()]
        teacher.eval()
        try:
            yield
        finally:
            for module, mode in modes:
                module.training = mode

    # ------------------------------------------------------------------
    # sentence-transformers plumbing
    # ------------------------------------------------------------------

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "ot_weight": self.ot_weight,
            "mse_weight": self.mse_weight,
            "contrastive_weight": self.contrastive_weight,
            "anchor_weight": self.anchor_weight,
            "cost": self.cost,
            "normalize_tokens": self.normalize_tokens,
            "epsilon": self.epsilon,
            "n_iters": self.n_iters,
            "tol": self.tol,
            "grad": self.grad,
            "drop_special_tokens": self.drop_special_tokens,
            "idf_marginals": {"student": self.student_idf is not None, "teacher": self.teacher_idf is not None},
            "temperature": self.temperature,
            "student_route": self.student_route,
            "teacher_route": self.teacher_route,
            "map_tokens": self.map_tokens,
        }

    @property
    def citation(self) -> str:
        return OPTICAL_CITATION


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


def _info_nce(student_emb: Tensor, teacher_emb: Tensor, temperature: float) -> Tensor:
    logits = F.normalize(student_emb, dim=-1) @ F.normalize(teacher_emb, dim=-1).T / temperature
    targets = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, targets)
