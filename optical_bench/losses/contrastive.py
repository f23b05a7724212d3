"""Contrastive-only distillation: :class:`InBatchContrastiveLoss` (in-batch InfoNCE against the teacher)."""

from __future__ import annotations

from sentence_transformers.sentence_transformer.model import SentenceTransformer

from optical_bench.losses.distillation import DistillationLoss, InfoNCE

__all__ = ["InBatchContrastiveLoss"]


class InBatchContrastiveLoss(DistillationLoss):
    def __init__(
        self, model: SentenceTransformer, temperature: float = 0.05, student_route: str = "query", teacher_route: str = "document"
    ) -> None:
        r"""
        Contrastive-only distillation: in-batch InfoNCE between the student's embedding of the
        low-resource sentence and the frozen teacher's embeddings of the batch's English
        sentences (its own translation is the positive, the others are negatives).

        .. math::
            \mathcal{L} = \frac1B\sum_k -\log\frac{\exp(\cos(s_k,t_k)/\tau)}{\sum_j \exp(\cos(s_k,t_j)/\tau)}

        It is :class:`~optical_bench.losses.distillation.DistillationLoss` with the
        :class:`~optical_bench.losses.distillation.InfoNCE` term alone; see there for the model
        layout and the training arguments.

        Args:
            model: A SentenceTransformer whose Router holds the student and the frozen teacher.
            temperature: :math:`\tau`. Defaults to 0.05.
            student_route: Route name of the student. Defaults to ``"query"``.
            teacher_route: Route name of the teacher. Defaults to ``"document"``.

        References:
            - van den Oord, Li & Vinyals. Representation Learning with Contrastive Predictive
              Coding. 2018. https://arxiv.org/abs/1807.03748

        Requirements:
            1. A Router model with a student route and a frozen teacher route of equal width.
            2. Bitext pairs mapped with ``router_mapping={"lr": "query", "en": "document"}``.

        Inputs:
            +------------------------------------------------------+--------+
            | Texts                                                | Labels |
            +======================================================+========+
            | (low-resource sentence, English translation) pairs   | none   |
            +------------------------------------------------------+--------+

        Relations:
            - :class:`~sentence_transformers.sentence_transformer.losses.MultipleNegativesRankingLoss`
              computes the same objective with ``scale = 1 / temperature`` when both sides are
              trained; here the teacher side is frozen.

        Example:
            ::

                loss = InBatchContrastiveLoss(model, temperature=0.05)
        """
        super().__init__(model, {"contrastive": (1.0, InfoNCE(temperature))}, student_route=student_route, teacher_route=teacher_route)
