r"""Distillation from a frozen teacher to a student, composed of small terms, as a sentence-transformers loss.

Both encoders live in one :class:`~sentence_transformers.SentenceTransformer` whose single
module is a :class:`~sentence_transformers.base.modules.Router`: the student route (default
``"query"``) reads the low-resource sentence :math:`x_k`, the frozen teacher route (default
``"document"``) its English translation :math:`y_k`. :class:`DistillationLoss` runs both once
per batch and returns a weighted sum of terms,

.. math::
    \mathcal{L} = \sum_j \lambda_j\, \ell_j(\text{batch}),

each term an :class:`nn.Module` of its own that reads the batch's outputs
(:class:`DistillationBatch`):

- :class:`~optical_bench.losses.optimal_transport.TokenOT`: OPTICAL's token-level optimal transport;
- :class:`SentenceMSE`: :math:`\frac{1}{Bd}\sum_k \|s_k - t_k\|^2`, sentence-transformers' own
  :class:`~sentence_transformers.sentence_transformer.losses.MSELoss` on teacher embeddings made on the fly;
- :class:`InfoNCE`: :math:`\frac1B\sum_k -\log\frac{\exp(\cos(s_k,t_k)/\tau)}{\sum_j \exp(\cos(s_k,t_j)/\tau)}`,
  the batch's teacher embeddings as positives and negatives;
- :class:`EnglishAnchor`: the student also encodes :math:`y_k` and is pulled to :math:`t_k` by MSE
  (Reimers & Gurevych 2020).

:class:`~optical_bench.losses.optimal_transport.OptimalTransportLoss` (the OT term alone) and
:class:`~optical_bench.losses.contrastive.InBatchContrastiveLoss` (InfoNCE alone) are two such
compositions; :func:`distillation_loss` builds the combination a training method names.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from sentence_transformers.sentence_transformer.losses import MSELoss
from sentence_transformers.sentence_transformer.model import SentenceTransformer
from torch import Tensor, nn

from optical_bench.losses.routing import feature_batch_size, find_router, route_tokenizer, same_tokenizer

logger = logging.getLogger(__name__)

__all__ = ["DistillationBatch", "DistillationLoss", "EnglishAnchor", "InfoNCE", "SentenceMSE"]


@dataclass
class DistillationBatch:
    """One batch as the terms see it: the student's and the teacher's outputs and input features."""

    student_out: dict[str, Any]
    teacher_out: dict[str, Any]
    student_features: dict[str, Any]
    teacher_features: dict[str, Any]

    @property
    def student_embedding(self) -> Tensor:
        return self.student_out["sentence_embedding"]

    @property
    def teacher_embedding(self) -> Tensor:
        return self.teacher_out["sentence_embedding"].detach()


class DistillationTerm(nn.Module):
    """A term of :class:`DistillationLoss`: ``bind`` sees the loss once (routes, tokenizers);
    ``forward(batch, loss)`` returns the term's unweighted value."""

    citation: str | None = None

    def bind(self, loss: DistillationLoss) -> None:
        return None

    def config(self) -> dict[str, Any]:
        return {}


class SentenceMSE(DistillationTerm):
    r""":math:`\frac{1}{Bd}\sum_k \|s_k - t_k\|_2^2` by sentence-transformers' :class:`MSELoss`."""

    def bind(self, loss: DistillationLoss) -> None:
        self._mse = MSELoss(loss.model)

    def forward(self, batch: DistillationBatch, loss: DistillationLoss) -> Tensor:
        return self._mse.compute_loss_from_embeddings([batch.student_embedding], [batch.teacher_embedding])


class InfoNCE(DistillationTerm):
    r"""In-batch InfoNCE against the teacher: :math:`-\log\frac{\exp(\cos(s_k,t_k)/\tau)}{\sum_j \exp(\cos(s_k,t_j)/\tau)}`,
    averaged over the batch; ``temperature`` :math:`\tau` (0.05: MultipleNegativesRankingLoss's ``scale=20``)."""

    citation = """
@article{oord2018cpc,
    title = {Representation Learning with Contrastive Predictive Coding},
    author = {van den Oord, Aaron and Li, Yazhe and Vinyals, Oriol},
    year = {2018},
    eprint = {1807.03748},
    archivePrefix = {arXiv},
}
"""

    def __init__(self, temperature: float = 0.05) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"InfoNCE: temperature must be > 0, got {temperature}.")
        self.temperature = float(temperature)

    def forward(self, batch: DistillationBatch, loss: DistillationLoss) -> Tensor:
        student, teacher = batch.student_embedding, batch.teacher_embedding
        logits = F.normalize(student, dim=-1) @ F.normalize(teacher, dim=-1).T / self.temperature
        targets = torch.arange(logits.shape[0], device=logits.device)
        return F.cross_entropy(logits, targets)

    def config(self) -> dict[str, Any]:
        return {"temperature": self.temperature}


class EnglishAnchor(DistillationTerm):
    """The student encodes the English column too and is pulled to the teacher by MSE; needs both
    routes to share one tokenizer (the English column was tokenized for the teacher route)."""

    def bind(self, loss: DistillationLoss) -> None:
        student = route_tokenizer(loss.router, loss.student_route)
        teacher = route_tokenizer(loss.router, loss.teacher_route)
        if not same_tokenizer(student, teacher):
            raise ValueError(
                "EnglishAnchor: the anchor term makes the student encode the English column, which was tokenized for the "
                f"teacher route {loss.teacher_route!r}; this needs both routes to share one tokenizer, but they differ. "
                "Leave the anchor out, or give the student the teacher's tokenizer."
            )
        self._mse = MSELoss(loss.model)

    def forward(self, batch: DistillationBatch, loss: DistillationLoss) -> Tensor:
        english_for_student = {**batch.teacher_features, "task": batch.student_features.get("task")}
        anchor = loss.model(english_for_student)["sentence_embedding"]
        return self._mse.compute_loss_from_embeddings([anchor], [batch.teacher_embedding])


class DistillationLoss(nn.Module):
    def __init__(
        self,
        model: SentenceTransformer,
        terms: Mapping[str, tuple[float, DistillationTerm]],
        *,
        student_route: str = "query",
        teacher_route: str = "document",
        return_components: bool = False,
    ) -> None:
        """The weighted sum of ``terms`` (``{name: (weight, term)}``; a weight-0 term is left out).

        Args:
            model: a SentenceTransformer whose (single) Router holds the student and the teacher
                routes; the teacher's parameters should be frozen (they never get a gradient here:
                the teacher runs in eval mode under :func:`torch.no_grad`).
            terms: the terms and their weights, summed in this order.
            student_route, teacher_route: the routes' names (swap them when the low-resource side
                is the documents, e.g. CIRAL).
            return_components: return ``{name: weighted value}`` instead of the sum; the
                SentenceTransformerTrainer sums them and logs each one.

        Inputs: (low-resource sentence, English translation) pairs, mapped to the routes with
        ``SentenceTransformerTrainingArguments(router_mapping={"lr": "query", "en": "document"})``;
        no labels. The last unweighted value of every term and the weighted total are kept in
        :attr:`last_terms`.
        """
        super().__init__()
        for name, (weight, _term) in terms.items():
            if weight < 0:
                raise ValueError(f"{type(self).__name__}: the {name} weight must be >= 0, got {weight}.")
        active = {name: (float(weight), term) for name, (weight, term) in terms.items() if weight > 0}
        if not active:
            raise ValueError(f"{type(self).__name__}: every term has weight 0; give at least one term a weight > 0.")
        self.model = model
        self.student_route = student_route
        self.teacher_route = teacher_route
        self.return_components = return_components
        self.router = find_router(model)
        self._check_routes()
        self.weights = {name: weight for name, (weight, _term) in active.items()}
        self.terms = nn.ModuleDict({name: term for name, (_weight, term) in active.items()})
        for term in self.terms.values():
            term.bind(self)
        self._last_terms: dict[str, Tensor] = {}

    def _check_routes(self) -> None:
        """Both routes are routes of the Router, and differ; warns when the teacher is trainable."""
        student_route, teacher_route = self.student_route, self.teacher_route
        for role, route in (("student", student_route), ("teacher", teacher_route)):
            if route not in self.router.sub_modules:
                raise ValueError(
                    f"{type(self).__name__}: {role}_route={route!r} is not a route of the model's Router "
                    f"(routes: {list(self.router.sub_modules.keys())}). Pass {role}_route=<one of them>."
                )
        if student_route == teacher_route:
            raise ValueError(f"{type(self).__name__}: student_route and teacher_route must differ.")
        if any(p.requires_grad for p in self.router.sub_modules[teacher_route].parameters()):
            logger.warning(
                "%s: the teacher route %r has trainable parameters. The teacher runs under torch.no_grad so it gets "
                "no gradient, but freeze it explicitly (model[0].sub_modules[%r].requires_grad_(False)) so that "
                "optimisers and learning-rate schedules skip it.",
                type(self).__name__,
                teacher_route,
                teacher_route,
            )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor | dict[str, Tensor]:
        student_features, teacher_features = self._split_features(list(sentence_features))
        student_out = self.model(dict(student_features))
        with torch.no_grad(), self._teacher_in_eval_mode():
            teacher_out = self.model(dict(teacher_features))
        batch = DistillationBatch(student_out, teacher_out, student_features, teacher_features)
        values = {name: term(batch, self) for name, term in self.terms.items()}
        weighted = {name: self.weights[name] * value for name, value in values.items()}
        total = torch.stack(list(weighted.values())).sum()
        self._last_terms = {name: value.detach() for name, value in values.items()}
        self._last_terms["total"] = total.detach()
        return weighted if self.return_components else total

    @property
    def last_terms(self) -> dict[str, float]:
        """The unweighted value of each active term and the weighted ``total`` from the last call."""
        return {name: float(value) for name, value in self._last_terms.items()}

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

    def get_config_dict(self) -> dict[str, Any]:
        """What sentence-transformers writes into the model card: each term's weight and settings."""
        config: dict[str, Any] = {"weights": dict(self.weights)}
        for name, term in self.terms.items():
            if term.config():
                config[name] = term.config()
        config.update(student_route=self.student_route, teacher_route=self.teacher_route)
        return config

    @property
    def citation(self) -> str | None:
        cited = [term.citation.strip() for term in self.terms.values() if term.citation]
        return "\n\n".join(dict.fromkeys(cited)) or None
